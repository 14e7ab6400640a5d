"""``tl.rethreshold``: a component-consensus survey again at another density threshold, without refitting."""

from __future__ import annotations

import numbers

import anndata as ad
import numpy as np

from ..core.component_survey import ComponentSummary
from ..core.rethreshold import rethreshold as rethreshold_rank
from ..core.solvers import SolverOptions, prepare_matrix
from ._components import store_components
from ._nmf import fit_matrix
from ._signatures import survey_entry

#: the field of a component survey record holding every rank's run spectra
SPECTRA_FIELD = "spectra"
#: run figures of the metrics table that a new threshold leaves as they were
_RUN_COLUMNS = ("objective", "objective_mean", "n_iter", "n_runs")


def rethreshold(
    adata: ad.AnnData,
    *,
    density_threshold: float,
    key: str = "nmf",
    use_genes: str | np.ndarray | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Redo a component-consensus survey's consensus at another ``density_threshold``, without refitting.

    cNMF users read the histogram of the spectra's local density (``uns[key]['spectra_density']``)
    and then choose the threshold below which spectra count (Kotliar et al. 2019). Only the
    consensus depends on it: from the run spectra the survey kept, every rank's programs, usages,
    clusters and figures are computed again, the rank chosen again by the survey's
    ``rank_rule``, and everything :func:`bionmf.tl.nmf` writes is rewritten, exactly as the
    survey with this threshold would have written it.

    What must be kept: the run spectra of every rank, ``uns[key]['spectra']`` (str(rank) ->
    runs x k x fitted genes, float32; ``bionmf.tl.nmf(..., consensus='components',
    keep_spectra=True)``), and the data the survey fitted, unchanged (same matrix, same genes).
    In the workflow the spectra are in ``rank_<k>/runs.npz`` (:func:`bionmf.core.rethreshold.rethreshold`).

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran with the component consensus, keeping spectra.
    density_threshold
        The new threshold (positive; unit spectra are at most sqrt(2) apart, so 2 keeps all).
    key
        ``key_added`` of the survey.
    use_genes
        The genes the survey fitted, when it was given a boolean mask (which it does not record).
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the new AnnData when ``copy=True``. Rewrites what :func:`bionmf.tl.nmf` wrote
    under ``key`` (``obsm['X_<key>']``, ``varm[key]``, ``obs['<key>_cluster']``, ``uns[key]``),
    with ``uns[key]['params']['density_threshold']`` the new threshold and the metrics
    ``error``, ``evar``, ``n_spectra_kept`` recomputed (``stability``, read before the filter,
    and the runs' ``objective``, ``objective_mean``, ``n_iter``, ``n_runs`` do not change). Other
    fields of ``uns[key]`` (the spectra among them) are kept.
    """
    survey = survey_entry(adata, key)
    params = dict(survey.get("params", {}))
    if params.get("consensus") != "components":
        raise ValueError(f"uns[{key!r}] is a {params.get('consensus', 'sample')!r} consensus survey; the density "
                         "threshold belongs to consensus='components'")
    if isinstance(density_threshold, bool) or not isinstance(density_threshold, numbers.Real) \
            or not density_threshold > 0:
        raise ValueError(f"density_threshold must be a positive number, got {density_threshold!r}")
    spectra = survey.get(SPECTRA_FIELD)
    ranks = sorted(int(k) for k in survey["clusters"])
    if spectra is None or any(str(k) not in spectra for k in ranks):
        raise ValueError(f"uns[{key!r}] keeps no run spectra for every rank; run bionmf.tl.nmf(..., "
                         "consensus='components', keep_spectra=True) to re-threshold without refitting")
    layer = None if params.get("layer", "X") == "X" else params["layer"]
    if use_genes is None:
        if params.get("use_genes") == "mask":
            raise ValueError(f"uns[{key!r}] was fitted on a gene mask it does not record; pass it as use_genes=")
        use_genes = None if params.get("use_genes", "all") == "all" else params["use_genes"]
        if use_genes is None:
            use_genes = np.ones(adata.n_vars, dtype=bool)
    X, genes, _ = fit_matrix(adata, layer=layer, use_genes=use_genes)
    for k in ranks:
        if np.shape(spectra[str(k)])[2] != genes.sum():
            raise ValueError(f"the rank-{k} spectra cover {np.shape(spectra[str(k)])[2]} genes but {int(genes.sum())} "
                             f"are selected; adata changed since the survey, or pass use_genes=")
    X = prepare_matrix(X, SolverOptions(dtype=params.get("dtype", "float32")).np_dtype)

    table = survey["metrics"]
    summaries = {}
    for k in ranks:
        found = rethreshold_rank(X, np.asarray(spectra[str(k)]), density_threshold=float(density_threshold),
                                 random_state=int(params.get("random_state", 0)))
        metrics = {**found.metrics, **{c: table.loc[k, c] for c in _RUN_COLUMNS}}
        metrics["n_runs"] = int(metrics["n_runs"])
        summaries[k] = ComponentSummary(rank=k, programs=found.programs, usages=found.usages, clusters=found.clusters,
                                        spectra_labels=found.spectra_labels, density=found.density, metrics=metrics)

    adata = adata.copy() if copy else adata
    kept = {name: value for name, value in adata.uns[key].items()}
    params["density_threshold"] = float(density_threshold)
    store_components(adata, summaries, genes=genes, params=params, key_added=key, layer=layer)
    for name, value in kept.items():
        adata.uns[key].setdefault(name, value)  # the spectra and anything else the survey stored
    return adata if copy else None
