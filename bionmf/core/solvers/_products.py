"""Products of the data matrix with a batch of factors, for dense or sparse X.

X is samples x genes (AnnData orientation); a batch holds ``Wt`` (b, k, genes) and ``H``
(b, k, samples). On sparse X the factors of the whole batch are stacked into one dense matrix so
that X is streamed once per product for all runs. The sparse kernels (numba) visit the stored
entries of each row in order and update every column of the stacked factors with the same plain
multiply-add (no fast-math reassociation or fused multiply-add), so each output column is computed
exactly as it would be alone: a run's numbers do not depend on the other runs in the batch, nor on
the number of threads. The product with X^T reads a transposed copy of X (CSR of X^T, made once
per matrix and kept with it), so both products run row-parallel without write conflicts.
On dense X each run is one BLAS product of its own, on one BLAS thread (see
:mod:`bionmf._threads`); the runs of a batch are spread over ``numba.get_num_threads()`` threads,
so each product, and each run's numbers, are the same whatever the number of threads.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np
import scipy.sparse as sp

_TRANSPOSE_ATTR = "_bionmf_transpose"

#: multiply-adds below which a kernel runs on one thread: on a busy machine a parallel region
#: waits for its slowest thread, which for small products costs far more than it saves (measured
#: 4x slower on 2 loaded cores); results are the same either way
PARALLEL_MIN_WORK = 20_000_000


def use_threads(work: float) -> bool:
    """Whether a kernel of ``work`` multiply-adds should run on numba's threads."""
    return work >= PARALLEL_MIN_WORK and nb.get_num_threads() > 1


@nb.njit(inline="always")
def _csr_dense_row(data, indices, indptr, B, out, j):
    row = out[j]
    c = B.shape[1]
    for q in range(c):
        row[q] = 0.0
    for t in range(indptr[j], indptr[j + 1]):
        v = data[t]
        b = B[indices[t]]
        for q in range(c):
            row[q] += v * b[q]


@nb.njit(parallel=True, cache=True)
def _csr_dense_threads(data, indices, indptr, B, out):
    for j in nb.prange(indptr.shape[0] - 1):
        _csr_dense_row(data, indices, indptr, B, out, j)


@nb.njit(cache=True)
def _csr_dense_serial(data, indices, indptr, B, out):
    for j in range(indptr.shape[0] - 1):
        _csr_dense_row(data, indices, indptr, B, out, j)


def csr_times_dense(A: sp.csr_matrix, B: np.ndarray) -> np.ndarray:
    """A @ B (CSR times C-ordered dense), in the dtype of B, each column computed on its own."""
    B = np.ascontiguousarray(B)
    data = A.data if A.data.dtype == B.dtype else A.data.astype(B.dtype)
    out = np.empty((A.shape[0], B.shape[1]), dtype=B.dtype)
    kernel = _csr_dense_threads if use_threads(A.nnz * B.shape[1]) else _csr_dense_serial
    kernel(data, A.indices, A.indptr, B, out)
    return out


def transposed(X: sp.csr_matrix) -> sp.csr_matrix:
    """X^T as CSR, computed once per matrix object and kept on it for the later products."""
    Xt = getattr(X, _TRANSPOSE_ATTR, None)
    if Xt is None or Xt.shape != X.shape[::-1]:
        Xt = X.T.tocsr()
        Xt.sort_indices()
        try:
            setattr(X, _TRANSPOSE_ATTR, Xt)
        except AttributeError:  # an object that takes no attributes: recompute next time
            pass
    return Xt


def _stacked(F: np.ndarray) -> np.ndarray:
    """(b, k, d) factors as one (d, b*k) C-ordered matrix."""
    b, k, d = F.shape
    return np.ascontiguousarray(F.reshape(b * k, d).T)


def _unstacked(P: np.ndarray, b: int, k: int) -> np.ndarray:
    """(d, b*k) product back to (b, k, d)."""
    return np.ascontiguousarray(P.T).reshape(b, k, P.shape[0])


@functools.lru_cache(maxsize=4)
def _pool(n_threads: int) -> ThreadPoolExecutor:
    """A pool of ``n_threads`` threads, kept for the later products (BLAS releases the GIL)."""
    return ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="bionmf-products")


def _each_run(A: np.ndarray, B: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[r] = A[r] @ B for every run r: one BLAS product per run, the runs over the threads."""
    b = A.shape[0]
    n_threads = min(nb.get_num_threads(), b)
    if n_threads > 1 and use_threads(A.size * B.shape[1]):
        chunks = np.array_split(np.arange(b), n_threads)

        def work(runs):
            for r in runs:
                np.matmul(A[r], B, out=out[r])

        for future in [_pool(n_threads).submit(work, runs) for runs in chunks]:
            future.result()
    else:
        for r in range(b):
            np.matmul(A[r], B, out=out[r])
    return out


def wt_xt(X, Wt: np.ndarray) -> np.ndarray:
    """W^T V for every run: (b, k, samples)."""
    b, k, m = Wt.shape
    if sp.issparse(X):
        return _unstacked(csr_times_dense(X, _stacked(Wt)), b, k)
    return _each_run(Wt, X.T, np.empty((b, k, X.shape[0]), dtype=np.result_type(X, Wt)))


def h_x(X, H: np.ndarray) -> np.ndarray:
    """(V H^T)^T = H X for every run: (b, k, genes)."""
    b, k, n = H.shape
    if sp.issparse(X):
        return _unstacked(csr_times_dense(transposed(X), _stacked(H)), b, k)
    return _each_run(H, X, np.empty((b, k, X.shape[1]), dtype=np.result_type(X, H)))


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
