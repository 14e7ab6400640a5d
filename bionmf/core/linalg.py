"""Linear algebra of fixed factors: non-negative least squares on a fixed basis, the refits of the
component consensus (usages from programs, loadings from usages) and the residuals they leave.

Used by the component consensus and by anything that scores data on known programs (projection).
X may be dense or CSR throughout.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import scipy.sparse as sp

# squared_norm is the solvers' (their objective needs it); one definition, public here
from .solvers._products import squared_norm, use_threads

__all__ = ["REFIT_BLOCK", "nnls_fixed", "nnls_gram", "reconstruction_error", "refit_loadings",
           "refit_usages", "row_blocks", "squared_norm"]


@nb.njit(parallel=True, cache=True)
def _nnls_threads(G, B, out, max_iter, tol):
    for j in nb.prange(B.shape[0]):
        _nnls_row(G, B, out, max_iter, tol, j)


@nb.njit(cache=True)
def _nnls_serial(G, B, out, max_iter, tol):
    for j in range(B.shape[0]):
        _nnls_row(G, B, out, max_iter, tol, j)


@nb.njit(inline="always")
def _nnls_row(G, B, out, max_iter, tol, j):
    """Coordinate descent for min_h 1/2 h^T G h - b^T h, h >= 0, for row j of B, in place."""
    k = B.shape[1]
    h = out[j]
    for _ in range(max_iter):
        biggest = 0.0
        moved = 0.0
        for a in range(k):
            g = B[j, a]
            for c in range(k):
                g -= G[a, c] * h[c]
            new = h[a] + g / G[a, a]
            if new < 0.0:
                new = 0.0
            step = abs(new - h[a])
            if step > moved:
                moved = step
            h[a] = new
            if new > biggest:
                biggest = new
        if moved <= tol * biggest:
            break


def nnls_fixed(X, basis: np.ndarray, *, max_iter: int = 1000, tol: float = 1e-8) -> np.ndarray:
    """Non-negative least squares of every row of X on the rows of ``basis``.

    Solves, for each row x of X (n x d), min ||x - h basis||_2 over h >= 0 (k coefficients);
    ``basis`` is k x d. Only X @ basis^T (one pass over X, sparse or dense) and the k x k Gram
    matrix are needed, after which every row is an independent k-variable problem solved by
    coordinate descent to ``tol`` (relative change of its coefficients). Returns n x k float64.
    """
    basis = np.asarray(basis, dtype=np.float64)
    return nnls_gram(basis @ basis.T, X @ basis.T, max_iter=max_iter, tol=tol)


def nnls_gram(G: np.ndarray, B, *, max_iter: int = 1000, tol: float = 1e-8) -> np.ndarray:
    """:func:`nnls_fixed` from its products: G = basis basis^T (k x k), B = X basis^T (n x k).

    For callers that accumulate B over chunks of X themselves. Returns n x k float64.
    """
    G = np.ascontiguousarray(G, dtype=np.float64)
    B = np.ascontiguousarray(np.asarray(B, dtype=np.float64))
    k = G.shape[0]
    dead = np.diag(G) <= 0
    if dead.any():
        raise ValueError(f"basis rows {np.flatnonzero(dead).tolist()} are zero; cannot fit on them")
    out = np.zeros((B.shape[0], k), dtype=np.float64)
    kernel = _nnls_threads if use_threads(50 * B.shape[0] * k * k) else _nnls_serial
    kernel(G, B, out, int(max_iter), float(tol))
    return out


#: cells (rows of X) per block in the refits and residuals below: each block of X is multiplied
#: (and, when X is float32, converted to float64) on its own, so the extra memory is one block,
#: never a copy of all of X; 50,000 cells of 2000 genes at 10 % stored is 80 MB of float64 values
REFIT_BLOCK = 50_000


def row_blocks(n: int, block: int = REFIT_BLOCK) -> list[slice]:
    """Consecutive row ranges of at most ``block`` rows covering ``n`` rows."""
    if block < 1:
        raise ValueError(f"block must be a positive number of rows, got {block!r}")
    return [slice(start, min(start + block, n)) for start in range(0, n, block)]


def _times(X, rows: slice, right: np.ndarray) -> np.ndarray:
    """X[rows] @ right in float64 (right: d x k float64), X dense or CSR."""
    part = X[rows]
    if sp.issparse(part):
        return np.asarray(part @ right, dtype=np.float64)
    return np.asarray(part, dtype=np.float64) @ right


def refit_usages(X, programs: np.ndarray, *, block: int = REFIT_BLOCK, **kwargs) -> np.ndarray:
    """Usage of every program by every cell (n x k), programs (k x genes) fixed; X is n x genes.

    Computed ``block`` cells at a time (each row is its own problem, so the result does not
    depend on ``block``); ``kwargs`` go to :func:`nnls_gram`.
    """
    P = np.asarray(programs, dtype=np.float64)
    G, Pt = P @ P.T, np.ascontiguousarray(P.T)
    out = np.empty((X.shape[0], P.shape[0]), dtype=np.float64)
    for rows in row_blocks(X.shape[0], block):
        out[rows] = nnls_gram(G, _times(X, rows, Pt), **kwargs)
    return out


def refit_loadings(X, usages: np.ndarray, *, block: int = REFIT_BLOCK, **kwargs) -> np.ndarray:
    """Loading of every gene on every program (k x genes), usages (n x k) fixed; X is n x genes.

    Extends programs fitted on a subset of genes to all genes of X. X^T U is summed over blocks
    of ``block`` cells, so neither X^T nor a float64 copy of X is ever made.
    """
    U = np.asarray(usages, dtype=np.float64)
    B = np.zeros((X.shape[1], U.shape[1]), dtype=np.float64)
    for rows in row_blocks(X.shape[0], block):
        part = X[rows]
        # X_b^T U_b: the transpose of a CSR block is a CSC view, read as it is stored
        part = part.T if sp.issparse(part) else np.asarray(part, dtype=np.float64).T
        B += np.asarray(part @ U[rows], dtype=np.float64)
    return nnls_gram(U.T @ U, B, **kwargs).T


def reconstruction_error(X, usages: np.ndarray, programs: np.ndarray, *, block: int = REFIT_BLOCK) -> float:
    """||X - U P||_F^2 (U: n x k usages, P: k x genes) without forming U P (X read ``block`` cells
    at a time)."""
    U = np.asarray(usages, dtype=np.float64)
    P = np.asarray(programs, dtype=np.float64)
    x2 = squared_norm(X)
    Pt = np.ascontiguousarray(P.T)
    cross = sum(float(np.einsum("nk,nk->", _times(X, rows, Pt), U[rows])) for rows in row_blocks(X.shape[0], block))
    quad = float(np.einsum("kl,kl->", U.T @ U, P @ P.T))
    return max(x2 - 2.0 * cross + quad, 0.0)
