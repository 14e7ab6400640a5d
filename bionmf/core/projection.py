"""Usages of fixed loadings in new observations: the array side of :func:`bionmf.tl.project`.

Least squares (the objective of ``lee`` and ``hals`` surveys) is the batched NNLS of
:func:`bionmf.core.linalg.nnls_fixed`; Kullback-Leibler (the objective of ``brunet``
surveys) is :func:`kl_usages`. Both take one chunk of observations at a time, dense or CSR.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp

from .linalg import nnls_fixed
from .solvers._products import use_threads

LOSSES = ("frobenius", "kl")


def kl_usages(X, basis: np.ndarray, *, max_iter: int = 5000, tol: float = 1e-7) -> np.ndarray:
    """Usages H (n x k) minimizing the KL divergence D(X^T || W H^T) with W = ``basis`` fixed.

    Lee & Seung's multiplicative update of H alone, h <- h * (W^T (x / (W h))) / colsum(W), the
    coefficient half of Brunet's algorithm, from a uniform start carrying the row's total. Each
    row is an independent k-variable problem, iterated until its largest change is at most
    ``tol`` times its largest usage (or ``max_iter``). Only the stored values of a row enter
    the update (a zero adds nothing to x / (W h)), so dense and sparse rows are one CSR kernel.
    ``X`` is n x genes, non-negative; ``basis`` genes x k with no all-zero column. Returns n x k
    float64.
    """
    W = np.ascontiguousarray(basis, dtype=np.float64)
    colsum = W.sum(axis=0)
    if (colsum <= 0).any():
        raise ValueError(f"basis columns {np.flatnonzero(colsum <= 0).tolist()} are zero; cannot fit on them")
    X = sp.csr_matrix(X, dtype=np.float64)
    H = np.zeros((X.shape[0], W.shape[1]), dtype=np.float64)
    kernel = _kl_threads if use_threads(4.0 * X.nnz * W.shape[1] * 100) else _kl_serial
    kernel(X.indptr, X.indices, X.data, W, colsum, H, int(max_iter), float(tol))
    return H


@nb.njit(parallel=True, cache=True)
def _kl_threads(indptr, indices, data, W, colsum, H, max_iter, tol):
    for i in nb.prange(H.shape[0]):
        _kl_row(indptr, indices, data, W, colsum, H, max_iter, tol, i)


@nb.njit(cache=True)
def _kl_serial(indptr, indices, data, W, colsum, H, max_iter, tol):
    for i in range(H.shape[0]):
        _kl_row(indptr, indices, data, W, colsum, H, max_iter, tol, i)


@nb.njit(inline="always")
def _kl_row(indptr, indices, data, W, colsum, H, max_iter, tol, i):
    k = W.shape[1]
    h = H[i]
    total = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        total += data[p]
    if total <= 0.0:
        return  # no signal: usage 0
    start = total / colsum.sum()
    for a in range(k):
        h[a] = start
    acc = np.empty(k)
    for _ in range(max_iter):
        acc[:] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            g = indices[p]
            model = 0.0
            for a in range(k):
                model += W[g, a] * h[a]
            if model > 0.0:
                ratio = data[p] / model
                for a in range(k):
                    acc[a] += ratio * W[g, a]
        moved = 0.0
        biggest = 0.0
        for a in range(k):
            new = h[a] * acc[a] / colsum[a]
            step = abs(new - h[a])
            if step > moved:
                moved = step
            if new > biggest:
                biggest = new
            h[a] = new
        if moved <= tol * biggest:
            break


def fit_usages(X, basis: np.ndarray, *, loss: str, max_iter: int | None = None, tol: float | None = None) -> np.ndarray:
    """Usages (n x k) of the fixed ``basis`` (genes x k) in the rows of ``X`` under ``loss``."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    options = {k: v for k, v in (("max_iter", max_iter), ("tol", tol)) if v is not None}
    if loss == "kl":
        return kl_usages(X, basis, **options)
    return nnls_fixed(X, np.asarray(basis, dtype=np.float64).T, **options)
