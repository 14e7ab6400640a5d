"""Writing a survey and its chosen rank into AnnData, shared by sample and component consensus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd

from ..core.rank_selection import apply_all, choose_rank


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


def write_survey(
    adata: ad.AnnData,
    key_added: str,
    *,
    params: Mapping,
    table: pd.DataFrame,
    summaries: Mapping,
    basis: Mapping[str, np.ndarray],
    coefficients: Mapping[str, np.ndarray],
    **fields,
) -> int:
    """Choose the rank by ``params["rank_rule"]``, write it (:func:`write_chosen_rank`) and the
    survey record ``uns[key_added]``: params, rank, rank_rules, metrics (``table``), clusters (of
    each rank's summary), basis and coefficients (str(rank) -> array), and ``fields``. Returns the
    chosen rank."""
    chosen = choose_rank(table, params["rank_rule"])
    write_chosen_rank(adata, key_added, basis=basis[str(chosen)], coefficients=coefficients[str(chosen)],
                      clusters=summaries[chosen].clusters)
    adata.uns[key_added] = {
        "params": dict(params),
        "rank": int(chosen),
        "rank_rules": {name: int(k) for name, k in apply_all(table).items()},
        "metrics": table,
        "clusters": {str(k): np.asarray(s.clusters, dtype=np.int64) for k, s in summaries.items()},
        "basis": dict(basis),
        "coefficients": dict(coefficients),
        **fields,
    }
    return chosen
