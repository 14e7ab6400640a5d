"""Writing a component-consensus survey into AnnData (the ``consensus="components"`` of ``tl.nmf``)."""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..core.component_survey import COMPONENT_METRIC_COLUMNS, ComponentSummary
from ..core.components import refit_loadings
from ._store import rank_table, write_survey

#: ``consensus="auto"`` uses the sample consensus up to this many samples (bulk studies, small
#: single-cell sets) and the component consensus above it, where an n x n consensus matrix stops
#: being affordable and cell-level clusters are better read from program usage.
AUTO_COMPONENTS_ABOVE = 2000
CONSENSUS_MODES = ("auto", "samples", "components")


def resolve_consensus(consensus: str, n_samples: int) -> str:
    """``"samples"`` or ``"components"``: the kind of consensus to compute for ``n_samples``."""
    if consensus not in CONSENSUS_MODES:
        raise ValueError(f"consensus must be one of {CONSENSUS_MODES}, got {consensus!r}")
    if consensus == "auto":
        return "components" if n_samples > AUTO_COMPONENTS_ABOVE else "samples"
    return consensus


def component_metrics_table(summaries: Mapping[int, ComponentSummary]) -> pd.DataFrame:
    """One row per rank (ascending), the columns of ``COMPONENT_METRIC_COLUMNS``."""
    return rank_table(summaries, COMPONENT_METRIC_COLUMNS, int_columns=("n_runs", "n_spectra_kept"))


def all_gene_loadings(adata: ad.AnnData, summary: ComponentSummary, genes: np.ndarray, *, layer: str | None) -> np.ndarray:
    """Genes x k loadings: the consensus programs on the fitted genes, refit on all others.

    Loadings of the genes left out of the fit are their non-negative least-squares fit on the
    cells' usages (usages fixed), from the same matrix (``layer``), so every gene is on the scale
    of the fitted ones.
    """
    k = summary.rank
    W = np.zeros((adata.n_vars, k), dtype=np.float64)
    W[genes] = summary.programs.T
    rest = ~genes
    if rest.any():
        X = adata.X if layer is None else adata.layers[layer]
        X = X[:, rest]
        X = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
        values = X.data if sp.issparse(X) else X
        if not np.isfinite(values).all():
            bad = adata.var_names[rest]
            raise ValueError(f"non-finite values in genes outside the fit (e.g. {list(bad[:3])}); cannot refit their loadings")
        W[rest] = refit_loadings(X, summary.usages).T
    return W


def store_components(
    adata: ad.AnnData,
    summaries: Mapping[int, ComponentSummary],
    *,
    genes: np.ndarray,
    params: dict,
    key_added: str = "nmf",
    layer: str | None = None,
) -> int:
    """Write a finished component-consensus survey into ``adata``; return the chosen rank.

    What :func:`bionmf.tl.nmf` writes with ``consensus="components"`` (see its Returns); used by
    it and by the workflow. ``params`` must hold at least ``rank_rule``; ``layer`` is the matrix
    the survey was fitted on, from which the loadings of genes outside the fit are refit.
    """
    table = component_metrics_table(summaries)
    return write_survey(
        adata, key_added, params=params, table=table, summaries=summaries,
        basis={str(k): all_gene_loadings(adata, s, genes, layer=layer) for k, s in summaries.items()},
        coefficients={str(k): np.asarray(s.usages, dtype=np.float64) for k, s in summaries.items()},
        spectra_density={str(k): np.asarray(s.density) for k, s in summaries.items()},
        spectra_labels={str(k): np.asarray(s.spectra_labels, dtype=np.int64) for k, s in summaries.items()},
    )
