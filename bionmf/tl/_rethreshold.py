"""``tl.rethreshold``: a component-consensus survey again at another density threshold, without refitting."""

from __future__ import annotations

import numbers

import anndata as ad
import numpy as np

from .._survey_record import survey_record
from ..core import RankSummary
from ..core.rethreshold import rethreshold_spectra as rethreshold_rank
from ..core.summary import RUN_METRIC_COLUMNS
from ._survey import Survey

#: the field of a component survey record holding every rank's run spectra
SPECTRA_FIELD = "spectra"


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
    In the workflow the spectra are in the runs files of each rank
    (:func:`bionmf.core.rethreshold.rethreshold_spectra`).

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
    under ``key`` (``obsm['X_<key>']``, ``varm[key]``, the ``obs`` columns, ``uns[key]``), with
    ``uns[key]['params']['density_threshold']`` the new threshold and the metrics ``error``,
    ``evar``, ``n_spectra_kept`` recomputed (``stability``, read before the filter, and the runs'
    ``objective``, ``objective_mean``, ``n_iter``, ``n_runs`` do not change). Other fields of
    ``uns[key]`` (the spectra among them) are kept.
    """
    record = survey_record(adata, key)
    params = record.get("params", {})
    if params.get("consensus") != "components":
        raise ValueError(f"uns[{key!r}] is a {params.get('consensus', 'samples')!r} consensus survey; the density "
                         "threshold belongs to consensus='components'")
    if isinstance(density_threshold, bool) or not isinstance(density_threshold, numbers.Real) \
            or not density_threshold > 0:
        raise ValueError(f"density_threshold must be a positive number, got {density_threshold!r}")
    spectra = record.get(SPECTRA_FIELD)
    ranks = sorted(int(k) for k in record["clusters"])
    if spectra is None or any(str(k) not in spectra for k in ranks):
        raise ValueError(f"uns[{key!r}] keeps no run spectra for every rank; run bionmf.tl.nmf(..., "
                         "consensus='components', keep_spectra=True) to re-threshold without refitting")
    survey = Survey.from_record(adata, key, use_genes=use_genes, density_threshold=float(density_threshold))
    X = survey.matrix()
    for k in ranks:
        if np.shape(spectra[str(k)])[2] != X.shape[1]:
            raise ValueError(f"the rank-{k} spectra cover {np.shape(spectra[str(k)])[2]} genes but the survey "
                             f"fits {X.shape[1]}; adata changed since the survey, or pass use_genes=")

    table = record["metrics"]
    summaries = []
    for k in ranks:
        found = rethreshold_rank(X, np.asarray(spectra[str(k)]), density_threshold=float(density_threshold),
                                 random_state=survey.options.random_state)
        metrics = {**found.metrics, **{c: table.loc[k, c] for c in RUN_METRIC_COLUMNS}}
        metrics["n_runs"] = int(metrics["n_runs"])
        summaries.append(RankSummary(rank=k, clusters=found.clusters, metrics=metrics, programs=found.programs,
                                     usages=found.usages, spectra_labels=found.spectra_labels,
                                     density=found.density))
    _, choice = survey.choose(summaries)
    adata = adata.copy() if copy else adata
    kept = dict(adata.uns[key])
    survey.write(adata, [], summaries, choice=choice, key_added=key)
    for name, value in kept.items():
        adata.uns[key].setdefault(name, value)  # the spectra and anything else the survey stored
    return adata if copy else None
