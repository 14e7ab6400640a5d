"""``tl.signatures``: the genes that define each metagene of a consensus NMF survey."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .._logging import logger
from .._survey_record import survey_basis
from ..core import features as F

METHODS = ("kim", "loading", "contribution")
TABLE_COLUMNS = ("metagene", "gene", "order", "score", "loading", "share", "kim_score")


def signatures(
    adata: ad.AnnData,
    *,
    rank: int | None = None,
    method: str = "kim",
    n_top: int | None = None,
    min_share: float = 0.8,
    scale: bool = True,
    key: str = "nmf",
    key_added: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Per metagene, the genes that define it.

    Reads the basis W (genes x k) of rank ``rank`` from the survey stored by
    :func:`bionmf.tl.nmf` under ``key`` and selects signature genes with one of three methods
    (see :mod:`bionmf.core.features`):

    ``"kim"``
        Kim & Park (2007) feature score, 1 - normalized entropy of the gene's loadings across
        metagenes; genes scoring at least median + 3 MAD whose largest loading is at least the
        median loading, each assigned to the metagene of its largest loading (the rule of the R
        package NMF's ``extractFeatures``). Ordered by score.
    ``"loading"``
        The ``n_top`` (default 50) genes with the largest loading in each metagene (a gene may be
        in several). Ordered by loading.
    ``"contribution"``
        Genes holding at least ``min_share`` of their total loading in one metagene. Ordered by
        that share, ties by loading.

    Metagene a is the one whose samples form consensus cluster a (``obs['nmf_cluster']``).

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran.
    rank
        A surveyed rank; default the chosen one, ``uns[key]['rank']``.
    method
        ``"kim"``, ``"loading"`` or ``"contribution"``.
    n_top
        Keep at most this many genes per metagene (default: all selected for ``"kim"`` and
        ``"contribution"``, 50 for ``"loading"``).
    min_share
        Share threshold of ``"contribution"``, in (0.5, 1].
    scale
        Scale each metagene's loadings to sum 1 before scoring (default). A metagene's scale is
        arbitrary in NMF, and the Kim score and shares compare loadings across metagenes;
        ``scale=False`` scores the raw basis as the R package NMF does.
    key
        ``key_added`` of the survey.
    key_added
        Where to write; default ``f"{key}_signatures"``.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the new AnnData when ``copy=True``. Written (default ``key_added``
    ``nmf_signatures``):

    ``uns['nmf_signatures']['table']``
        tidy DataFrame, one row per (metagene, gene): ``metagene`` (``'0'`` to ``'k-1'``),
        ``gene`` (var name), ``order`` (1 = strongest), ``score`` (what the method ranks by:
        Kim score, loading or share), ``loading`` (of this metagene, scaled as used),
        ``share`` (of the gene's total loading), ``kim_score``.
    ``uns['nmf_signatures']['gene_sets']``
        set name (``f"{key}_k{rank}_metagene{a}"``) -> array of genes, in order; metagenes
        without any selected gene are left out (GMT cannot hold empty sets). Pass it to
        :func:`bionmf.io.write_gmt`.
    ``uns['nmf_signatures']['descriptions']``
        set name -> one-line description (method, metagene, rank), the GMT description field.
    ``uns['nmf_signatures']['params']``
        ``key``, ``rank``, ``method``, ``n_top``, ``min_share``, ``scale`` and, for ``"kim"``,
        the score ``threshold``.
    ``var['nmf_signatures_kim_score']``
        Kim score of every gene (NaN for genes not fitted).
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"adata must be an AnnData object, got {type(adata).__name__}")
    key_added = f"{key}_signatures" if key_added is None else key_added
    result = compute_signatures(adata, rank=rank, method=method, n_top=n_top, min_share=min_share,
                                scale=scale, key=key)
    table = result["table"]
    rank = result["params"]["rank"]

    adata = adata.copy() if copy else adata
    adata.var[f"{key_added}_kim_score"] = result.pop("kim_score")
    adata.uns[key_added] = result
    logger.info(
        "signatures (%s, rank %d): %s genes per metagene",
        method, rank, ", ".join(str(int((table["metagene"] == str(a)).sum())) for a in range(rank)),
    )
    return adata if copy else None


def compute_signatures(
    adata: ad.AnnData,
    *,
    rank: int | None = None,
    method: str = "kim",
    n_top: int | None = None,
    min_share: float = 0.8,
    scale: bool = True,
    key: str = "nmf",
) -> dict:
    """What :func:`signatures` writes, computed without touching ``adata``.

    Returns a dict with ``params``, ``table``, ``gene_sets``, ``descriptions`` and ``kim_score``
    (one per var).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if n_top is not None:
        n_top = F._check_n_top(n_top)
    if method == "contribution" and not 0.5 < float(min_share) <= 1.0:
        raise ValueError(f"min_share must be in (0.5, 1], got {min_share!r}")
    rank, W_full = survey_basis(adata, key=key, rank=rank)

    fitted = W_full.sum(axis=1) > 0
    genes = adata.var_names[fitted]
    W = F.scale_basis(W_full[fitted]) if scale else W_full[fitted]
    p = F.shares(W)
    kim = F.kim_score(W)

    params: dict = {"key": key, "rank": int(rank), "method": method, "min_share": float(min_share),
                    "scale": bool(scale), "n_top": -1 if n_top is None else int(n_top)}
    members: list[tuple[int, np.ndarray, np.ndarray]] = []  # (metagene, gene indices, scores)
    if method == "kim":
        metagene, _, threshold = F.kim_select(W)
        params["threshold"] = threshold
        if threshold > 1.0:
            # scores lie in [0, 1]: with a wide score distribution (many genes specific to one
            # metagene, as with sparse HALS bases) median + 3 MAD exceeds 1 and nothing can pass
            logger.warning(
                "signatures (kim, rank %d): threshold median + 3 MAD = %.3f exceeds the largest possible "
                "score 1, so no gene is selected; use method='contribution' or 'loading'", rank, threshold,
            )
        for a in range(rank):
            idx = np.flatnonzero(metagene == a)
            members.append((a, idx, kim[idx]))
    elif method == "loading":
        n = 50 if n_top is None else n_top
        params["n_top"] = n
        for a, idx in enumerate(F.top_loading(W, n)):
            members.append((a, idx, W[idx, a]))
    else:
        metagene = F.contribution_select(W, min_share)
        for a in range(rank):
            idx = np.flatnonzero(metagene == a)
            members.append((a, idx, p[idx, a]))

    frames = []
    for a, idx, score in members:
        # strongest first; ties by loading, then gene order (stable)
        order = np.lexsort((-W[idx, a], -score)) if idx.size else idx
        idx, score = idx[order], score[order]
        if n_top is not None:
            idx, score = idx[:n_top], score[:n_top]
        frames.append(pd.DataFrame({
            "metagene": str(a),
            "gene": genes[idx].astype(str),
            "order": np.arange(1, idx.size + 1, dtype=np.int64),
            "score": score.astype(np.float64),
            "loading": W[idx, a],
            "share": p[idx, a],
            "kim_score": kim[idx],
        }))
    table = pd.concat(frames, ignore_index=True)[list(TABLE_COLUMNS)]
    table["metagene"] = pd.Categorical(table["metagene"], categories=[str(a) for a in range(rank)])

    gene_sets, descriptions = {}, {}
    for a in range(rank):
        names = table.loc[table["metagene"] == str(a), "gene"].to_numpy(dtype=str)
        if names.size:
            gene_sets[set_name(key, rank, a)] = names
            descriptions[set_name(key, rank, a)] = (
                f"bionmf {method} signature of metagene {a} at rank {rank} (consensus cluster {a})"
            )
        else:
            logger.warning("signatures (%s, rank %d): metagene %d has no selected gene", method, rank, a)
    score_all = np.full(adata.n_vars, np.nan)
    score_all[fitted] = kim
    return {"params": params, "table": table, "gene_sets": gene_sets, "descriptions": descriptions,
            "kim_score": score_all}


def set_name(key: str, rank: int, metagene: int) -> str:
    """Name of the gene set of ``metagene`` at ``rank``, e.g. ``nmf_k2_metagene0``."""
    return f"{key}_k{int(rank)}_metagene{int(metagene)}"
