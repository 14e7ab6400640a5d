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

__all__ = ["nnls_fixed", "nnls_gram", "reconstruction_error", "refit_loadings", "refit_usages", "squared_norm"]


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


def refit_usages(X, programs: np.ndarray, **kwargs) -> np.ndarray:
    """Usage of every program by every cell (n x k), programs (k x genes) fixed; X is n x genes."""
    return nnls_fixed(X, programs, **kwargs)


def refit_loadings(X, usages: np.ndarray, **kwargs) -> np.ndarray:
    """Loading of every gene on every program (k x genes), usages (n x k) fixed; X is n x genes.

    Extends programs fitted on a subset of genes to all genes of X.
    """
    Xt = X.T.tocsr() if sp.issparse(X) else np.asarray(X).T
    return nnls_fixed(Xt, np.asarray(usages).T, **kwargs).T


def reconstruction_error(X, usages: np.ndarray, programs: np.ndarray) -> float:
    """||X - U P||_F^2 (U: n x k usages, P: k x genes) without forming U P."""
    U = np.asarray(usages, dtype=np.float64)
    P = np.asarray(programs, dtype=np.float64)
    x2 = squared_norm(X if sp.issparse(X) else np.asarray(X))
    cross = float(np.einsum("nk,nk->", np.asarray(X @ P.T, dtype=np.float64), U))
    quad = float(np.einsum("kl,kl->", U.T @ U, P @ P.T))
    return max(x2 - 2.0 * cross + quad, 0.0)
