"""Which genes define each metagene: feature scores and selection rules on a basis matrix W.

Every function takes W as genes x k (non-negative loadings, one column per metagene) and works on
plain numpy arrays. Rows that are entirely zero (genes left out of the fit) have no score and are
never selected.

Methods
-------
Kim & Park (2007, Bioinformatics 23:1495), as in the R package NMF's ``featureScore`` /
``extractFeatures``:
    score_i = 1 + (1 / log2 k) * sum_a p_ia log2 p_ia,  p_ia = w_ia / sum_b w_ib,
    1 when a gene loads on one metagene only, 0 when it loads on all equally. A gene is selected
    when its score is at least median + 3 MAD of all scores (MAD scaled by 1.4826, as R's ``mad``)
    and its largest loading is at least the median of all loadings; it goes to the metagene of
    that largest loading.
Loading: the ``n_top`` genes with the largest loading in each metagene.
Relative contribution: the share p_ia of gene i's total loading held by metagene a; a gene goes to
    metagene a when that share is at least ``min_share`` (R package NMF: ``extractFeatures`` with a
    numeric method below 1).
"""

from __future__ import annotations

import numpy as np

# R's mad() rescales the median absolute deviation by this constant to estimate a normal sigma
MAD_SCALE = 1.4826


def _check_basis(W) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"basis W must be a 2-D genes x k array, got shape {W.shape}")
    if W.shape[1] < 2:
        raise ValueError(f"basis W needs at least 2 metagenes (columns), got {W.shape[1]}")
    if not np.isfinite(W).all():
        raise ValueError("basis W holds NaN or infinite values")
    if (W < 0).any():
        raise ValueError("basis W holds negative loadings; NMF bases are non-negative")
    return W


def scale_basis(W) -> np.ndarray:
    """W with every column scaled to sum 1.

    The scale of a metagene is arbitrary (W D and D^-1 H give the same fit for any positive
    diagonal D), while the Kim score and the shares compare loadings across metagenes; scaling
    the columns first makes them independent of that arbitrary choice. Zero columns stay zero.
    """
    W = _check_basis(W)
    sums = W.sum(axis=0)
    return W / np.where(sums > 0, sums, 1.0)


def shares(W) -> np.ndarray:
    """Relative contribution p_ia = w_ia / sum_b w_ib (genes x k); NaN rows for all-zero genes."""
    W = _check_basis(W)
    total = W.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, W / total, np.nan)


def kim_score(W) -> np.ndarray:
    """Kim & Park (2007) feature score of every gene (1 - normalized entropy of its shares).

    Terms with p = 0 count as 0 (the limit of p log p); all-zero genes score NaN.
    """
    W = _check_basis(W)
    p = shares(W)
    with np.errstate(invalid="ignore", divide="ignore"):
        plogp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    score = 1.0 + plogp.sum(axis=1) / np.log2(W.shape[1])
    score[np.isnan(p).any(axis=1)] = np.nan
    return score


def mad(x) -> float:
    """Median absolute deviation, scaled by 1.4826 (a consistent estimate of a normal sigma)."""
    x = np.asarray(x, dtype=np.float64)
    return float(MAD_SCALE * np.median(np.abs(x - np.median(x))))


def kim_threshold(score) -> float:
    """Selection threshold median + 3 MAD of the finite scores."""
    s = np.asarray(score, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError("no gene has a finite feature score (every row of W is zero)")
    return float(np.median(s) + 3.0 * mad(s))


def kim_select(W) -> tuple[np.ndarray, np.ndarray, float]:
    """Kim & Park (2007) gene selection.

    Returns
    -------
    metagene : (genes,) int array, the metagene each selected gene defines, -1 for genes not
        selected.
    score : (genes,) Kim score.
    threshold : the score threshold (median + 3 MAD).
    """
    W = _check_basis(W)
    score = kim_score(W)
    threshold = kim_threshold(score)
    fitted = np.isfinite(score)
    top = W.max(axis=1)
    # median of all loadings of the fitted genes (rows of zeros are genes left out, not loadings)
    loading_floor = float(np.median(W[fitted]))
    selected = fitted & (np.where(fitted, score, -np.inf) >= threshold) & (top >= loading_floor)
    metagene = np.where(selected, W.argmax(axis=1), -1)
    return metagene, score, threshold


def top_loading(W, n_top: int) -> list[np.ndarray]:
    """Per metagene, the indices of the ``n_top`` genes with the largest loading (descending).

    A gene may appear in several metagenes. Ties keep the gene order.
    """
    W = _check_basis(W)
    n_top = _check_n_top(n_top)
    fitted = W.sum(axis=1) > 0
    out = []
    for a in range(W.shape[1]):
        col = np.where(fitted, W[:, a], -np.inf)
        order = np.argsort(-col, kind="stable")
        order = order[np.isfinite(col[order]) & (col[order] > 0)]
        out.append(order[:n_top])
    return out


def contribution_select(W, min_share: float) -> np.ndarray:
    """Metagene of each gene whose share of its total loading in that metagene is >= ``min_share``.

    ``min_share`` must lie in (0.5, 1] so that a gene goes to one metagene at most; -1 for the
    others.
    """
    if not 0.5 < float(min_share) <= 1.0:
        raise ValueError(f"min_share must be in (0.5, 1], got {min_share!r}")
    p = shares(W)
    best = np.nanmax(np.where(np.isnan(p), -1.0, p), axis=1)
    return np.where(best >= min_share, np.nan_to_num(p, nan=-1.0).argmax(axis=1), -1)


def _check_n_top(n_top) -> int:
    if isinstance(n_top, bool) or not isinstance(n_top, (int, np.integer)) or n_top < 1:
        raise ValueError(f"n_top must be a positive int, got {n_top!r}")
    return int(n_top)
