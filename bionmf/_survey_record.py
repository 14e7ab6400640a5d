"""Reading the survey record that :func:`bionmf.tl.nmf` writes to ``adata.uns[key]``.

The one accessor of tl (signatures, projection) and pl (every plot): which rank, which basis.
"""

from __future__ import annotations

import anndata as ad
import numpy as np

from ._matrix import check_anndata


def survey_record(adata: ad.AnnData, key: str = "nmf") -> dict:
    """``adata.uns[key]`` after checking that it holds a :func:`bionmf.tl.nmf` survey (or the
    projection record of :func:`bionmf.tl.project`, which the plots read the same way)."""
    check_anndata(adata)
    if key not in adata.uns:
        raise ValueError(f"adata.uns has no {key!r}; run bionmf.tl.nmf(adata, key_added={key!r}) first")
    survey = adata.uns[key]
    # the projection record of bionmf.tl.project holds one rank's basis, usages and clusters, no metrics
    needed = ("rank", "basis", "clusters") if survey.get("kind") == "projection" else ("rank", "metrics", "basis", "clusters")
    missing = [f for f in needed if f not in survey]
    if missing:
        raise ValueError(f"adata.uns[{key!r}] is not a bionmf.tl.nmf survey: it lacks {missing}")
    return survey


def survey_rank(adata: ad.AnnData, key: str = "nmf", rank: int | None = None) -> tuple[dict, int]:
    """``uns[key]`` and the rank asked for (default: the chosen one), checked to be surveyed."""
    survey = survey_record(adata, key)
    rank = int(survey["rank"]) if rank is None else rank
    # "clusters", not "consensus": a component-consensus survey has no consensus matrices
    if str(rank) not in survey["clusters"] or str(rank) not in survey["basis"]:
        surveyed = sorted(int(k) for k in survey["clusters"])
        raise ValueError(f"rank {rank!r} was not surveyed under uns[{key!r}]; surveyed ranks: {surveyed}")
    return survey, int(rank)


def survey_basis(adata: ad.AnnData, *, key: str = "nmf", rank: int | None = None) -> tuple[int, np.ndarray]:
    """The rank (default: the chosen one) and its genes x k basis from ``uns[key]``."""
    survey, rank = survey_rank(adata, key, rank)
    return rank, np.asarray(survey["basis"][str(rank)], dtype=np.float64)
