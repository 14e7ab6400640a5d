"""Writing the chosen rank of a survey into AnnData, shared by sample and component consensus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd


def rank_table(summaries: Mapping, columns: Sequence[str], *, int_columns: Sequence[str] = ()) -> pd.DataFrame:
    """The metrics of per-rank summaries as a table: one row per rank (ascending), ``columns``."""
    ranks = sorted(summaries)
    table = pd.DataFrame(
        [[summaries[k].metrics[c] for c in columns] for k in ranks],
        index=pd.Index(ranks, name="rank"),
        columns=list(columns),
    )
    return table.astype({c: int for c in int_columns})


def write_chosen_rank(
    adata: ad.AnnData, key_added: str, *, basis: np.ndarray, coefficients: np.ndarray, clusters: np.ndarray
) -> None:
    """Write the chosen rank's loadings (varm), coefficients (obsm) and clusters (obs)."""
    k = basis.shape[1]
    adata.obsm[f"X_{key_added}"] = coefficients
    adata.varm[key_added] = basis
    adata.obs[f"{key_added}_cluster"] = pd.Categorical(
        [str(c) for c in clusters], categories=[str(c) for c in range(k)]
    )
