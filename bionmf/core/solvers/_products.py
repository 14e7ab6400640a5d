"""Products of the data matrix with a batch of factors, for dense or sparse X.

X is samples x genes (AnnData orientation); a batch holds ``Wt`` (b, k, genes) and ``H``
(b, k, samples). On sparse X the factors of the whole batch are stacked so that X is streamed once
per product for all runs; scipy's sparse-dense product computes each output column on its own, so
a run's numbers do not depend on the other runs in the batch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def wt_xt(X, Wt: np.ndarray) -> np.ndarray:
    """W^T V for every run: (b, k, samples)."""
    b, k, m = Wt.shape
    if sp.issparse(X):
        out = X @ Wt.reshape(b * k, m).T  # (n, b*k)
        return np.ascontiguousarray(out.T).reshape(b, k, X.shape[0])
    return np.matmul(Wt, X.T)


def h_x(X, H: np.ndarray) -> np.ndarray:
    """(V H^T)^T = H X for every run: (b, k, genes)."""
    b, k, n = H.shape
    if sp.issparse(X):
        out = X.T @ H.reshape(b * k, n).T  # (m, b*k)
        return np.ascontiguousarray(out.T).reshape(b, k, X.shape[1])
    return np.matmul(H, X)


def gram(A: np.ndarray) -> np.ndarray:
    """A A^T for every run: (b, k, k)."""
    return np.matmul(A, A.transpose(0, 2, 1))


def squared_norm(X) -> float:
    """||X||_F^2 in float64."""
    values = X.data if sp.issparse(X) else X
    return float(np.dot(values.ravel().astype(np.float64), values.ravel().astype(np.float64)))


def frobenius_residual(X, Wt: np.ndarray, H: np.ndarray, x_norm2: float) -> np.ndarray:
    """||V - W H||_F^2 of every run, without forming W H: |X|^2 - 2 <HX, Wt> + <WtWt^T, HH^T>."""
    cross = np.einsum("bkm,bkm->b", h_x(X, H).astype(np.float64), Wt.astype(np.float64))
    quad = np.einsum("bkl,bkl->b", gram(Wt).astype(np.float64), gram(H).astype(np.float64))
    return np.maximum(x_norm2 - 2.0 * cross + quad, 0.0)
