"""Writing a finished survey into AnnData: the chosen rank's factors and clusters, and ``uns[key]``."""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._matrix import get_matrix
from ..core import METRIC_COLUMNS, ConsensusKind, RankRuns, RankSummary
from ..core.linalg import refit_loadings
from ._confidence import consensus_silhouettes


def check_key_added(key_added) -> None:
    """Refuse a ``key_added`` that could not be written to (and read back from) an h5ad file: the
    key names groups in it (``uns[key]``, ``varm[key]``, ``obsm['X_' + key]``), and HDF5 takes
    neither an empty name nor a '/' inside one."""
    if not isinstance(key_added, str):
        raise TypeError(f"key_added must be a str, got {key_added!r} ({type(key_added).__name__})")
    if key_added.strip() == "" or "/" in key_added or "\x00" in key_added:
        raise ValueError(f"key_added={key_added!r} cannot be written to an h5ad file (it names groups there, and "
                         "HDF5 takes no empty name, '/' or NUL byte in one); use letters, digits and '_', e.g. "
                         f"{(''.join(c if c.isalnum() else '_' for c in key_added).strip('_') or 'nmf')!r}")


def write_survey(
    adata: ad.AnnData,
    kind: ConsensusKind,
    runs: Mapping[int, RankRuns],
    summaries: Mapping[int, RankSummary],
    *,
    genes: np.ndarray,
    params: Mapping,
    choice: Mapping,
    key_added: str = "nmf",
    layer: str | None = None,
    null_tables: Mapping[str, pd.DataFrame] | None = None,
    extra_metrics: pd.DataFrame | None = None,
    crossval_runs: pd.DataFrame | None = None,
) -> None:
    """Write the rank of ``choice`` (:meth:`bionmf.tl.Survey.choose`) and every rank's results.

    What :func:`bionmf.tl.nmf` writes (see its Returns); ``null_tables`` from :func:`null_tables`;
    ``extra_metrics`` (indexed by rank) joins the metrics table; ``crossval_runs`` (the long table
    of the cross-validation runs) goes to ``uns[key]['crossval']``.
    Everything is computed before anything is written, so that an error leaves ``adata`` as it was.
    """
    extra = dict(null_tables or {})
    basis, coefficients = {}, {}
    for k, summary in summaries.items():
        W_fit, H = _factors(kind, runs.get(k), summary)
        W = np.zeros((adata.n_vars, k), dtype=np.float64)
        W[genes] = W_fit
        if kind.refits_other_genes and not genes.all():
            W[~genes] = _refit_other_genes(adata, genes, H, layer=layer)
        basis[str(k)] = W
        coefficients[str(k)] = H
    if kind.has_consensus_matrix:
        extra["consensus"] = {str(k): s.consensus for k, s in summaries.items()}
        subsamples = [s.subsample for s in summaries.values() if s.subsample is not None]
        if subsamples:
            extra["consensus_subsample"] = np.asarray(subsamples[0], dtype=np.int64)
    if kind.keeps_spectra:
        extra["spectra_density"] = {str(k): np.asarray(s.density) for k, s in summaries.items()}
        extra["spectra_labels"] = {str(k): np.asarray(s.spectra_labels, dtype=np.int64) for k, s in summaries.items()}
    metrics = kind.metrics_table(summaries)
    if extra_metrics is not None:
        metrics = metrics.join(extra_metrics)
    if crossval_runs is not None:
        extra["crossval"] = crossval_runs
    if kind.writes_best_run:  # the runs of every rank are here (the workflow merges them for this kind only)
        extra["best_run"] = {str(k): int(runs[k].best_run) for k in summaries}
    chosen = int(choice["rank"])
    chosen_summary = summaries[chosen]
    silhouette = None
    if kind.has_consensus_matrix:
        silhouette = consensus_silhouettes(chosen_summary.consensus, chosen_summary.clusters,
                                           chosen_summary.subsample)

    # obs columns of the chosen rank: usages for sc.pl.umap(color=...), the consensus silhouette;
    # a previous survey's under this key go first, so a smaller rank leaves no stale columns
    stale = [c for c in adata.obs.columns if c.startswith(f"{key_added}_usage_") or c == f"{key_added}_silhouette"]
    adata.obs.drop(columns=stale, inplace=True)
    for a in range(chosen):
        adata.obs[f"{key_added}_usage_{a}"] = coefficients[str(chosen)][:, a]
    if silhouette is not None:
        adata.obs[f"{key_added}_silhouette"] = silhouette
    adata.obsm[f"X_{key_added}"] = coefficients[str(chosen)]
    adata.varm[key_added] = basis[str(chosen)]
    adata.obs[f"{key_added}_cluster"] = pd.Categorical(
        [str(c) for c in summaries[chosen].clusters], categories=[str(c) for c in range(chosen)]
    )
    uns = {
        "params": dict(params),
        "rank": chosen,
        "rank_rules": {name: int(k) for name, k in choice["rank_rules"].items()},
        "metrics": metrics,
        "clusters": {str(k): np.asarray(s.clusters, dtype=np.int64) for k, s in summaries.items()},
        "basis": basis,
        "coefficients": coefficients,
    }
    adata.uns[key_added] = {**uns, **extra}


def _factors(kind: ConsensusKind, runs: RankRuns | None, summary: RankSummary) -> tuple[np.ndarray, np.ndarray]:
    """Genes-in-the-fit x k loadings and samples x k coefficients of one rank."""
    if kind.writes_best_run:
        return runs.best_W, np.asarray(runs.best_H.T, dtype=np.float64)
    return summary.programs.T, np.asarray(summary.usages, dtype=np.float64)


def _refit_other_genes(adata: ad.AnnData, genes: np.ndarray, usages: np.ndarray, *, layer: str | None) -> np.ndarray:
    """Loadings of the genes outside the fit: their non-negative least-squares fit on the samples'
    usages (usages fixed), from the same matrix (``layer``), so every gene is on the scale of the
    fitted ones."""
    rest = ~genes
    X = get_matrix(adata, layer)[:, rest]
    X = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
    values = X.data if sp.issparse(X) else X
    if not np.isfinite(values).all():
        bad = adata.var_names[rest]
        raise ValueError(f"non-finite values in genes outside the fit (e.g. {list(bad[:3])}); cannot refit their loadings")
    return refit_loadings(X, usages).T


def null_tables(null_metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``null_metrics`` (mean per rank) and ``null_metrics_permutations`` (long) from the long table."""
    needed = ["permutation", "rank", *METRIC_COLUMNS]
    missing = [c for c in needed if c not in null_metrics.columns]
    if missing:
        raise ValueError(f"null_metrics lacks the columns {missing}")
    long = null_metrics[needed].sort_values(["permutation", "rank"]).reset_index(drop=True)
    long = long.astype({"permutation": int, "rank": int, "n_runs": int})
    mean = long.drop(columns="permutation").groupby("rank").mean()
    return {"null_metrics": mean.astype({"n_runs": int}), "null_metrics_permutations": long}
