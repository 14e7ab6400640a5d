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


#: stored values whose products are added to an output row in one pass over it (see _accumulate)
UNROLL = 8
#: bytes of B's rows that a blocked product keeps in cache while it streams A's stored values
#: against them: about half of a core's L2 (2 MiB on the machine measured)
BLOCK_BYTES = 1 << 20
#: fewest rows of B in a block: below, the per-block overhead outweighs the cache gain
MIN_BLOCK_ROWS = 256
_BLOCKS_ATTR = "_bionmf_column_blocks"


@nb.njit(inline="always")
def _accumulate(data, indices, lo, hi, B, row):
    """row += data[t] * B[indices[t]] for t = lo, ..., hi - 1, added in that order.

    UNROLL stored values are added per pass over the row, ((row + v0 b0) + v1 b1) + ..., the
    same operations in the same order as one pass per value, so the result is bitwise that of the
    plain loop; a pass loads the row once instead of UNROLL times and gives the CPU UNROLL rows of
    B to fetch at once (1.5-1.9x on 200 columns, measured)."""
    c = B.shape[1]
    t = lo
    while t + UNROLL <= hi:
        v0 = data[t]
        v1 = data[t + 1]
        v2 = data[t + 2]
        v3 = data[t + 3]
        v4 = data[t + 4]
        v5 = data[t + 5]
        v6 = data[t + 6]
        v7 = data[t + 7]
        b0 = B[indices[t]]
        b1 = B[indices[t + 1]]
        b2 = B[indices[t + 2]]
        b3 = B[indices[t + 3]]
        b4 = B[indices[t + 4]]
        b5 = B[indices[t + 5]]
        b6 = B[indices[t + 6]]
        b7 = B[indices[t + 7]]
        for q in range(c):
            row[q] = (((((((row[q] + v0 * b0[q]) + v1 * b1[q]) + v2 * b2[q]) + v3 * b3[q])
                        + v4 * b4[q]) + v5 * b5[q]) + v6 * b6[q]) + v7 * b7[q]
        t += UNROLL
    while t < hi:
        v = data[t]
        b = B[indices[t]]
        for q in range(c):
            row[q] += v * b[q]
        t += 1


@nb.njit(inline="always")
def _csr_dense_row(data, indices, indptr, B, out, j):
    row = out[j]
    for q in range(B.shape[1]):
        row[q] = 0.0
    _accumulate(data, indices, indptr[j], indptr[j + 1], B, row)


@nb.njit(parallel=True, cache=True)
def _csr_dense_threads(data, indices, indptr, B, out):
    for j in nb.prange(indptr.shape[0] - 1):
        _csr_dense_row(data, indices, indptr, B, out, j)


@nb.njit(cache=True)
def _csr_dense_serial(data, indices, indptr, B, out):
    for j in range(indptr.shape[0] - 1):
        _csr_dense_row(data, indices, indptr, B, out, j)


@nb.njit(inline="always")
def _blocked_rows(data, indices, starts, B, out, j0, j1):
    """Rows j0:j1 of the product, one block of B's rows at a time (starts: _block_starts)."""
    for j in range(j0, j1):
        for q in range(B.shape[1]):
            out[j, q] = 0.0
    for blk in range(starts.shape[0] - 1):
        for j in range(j0, j1):
            _accumulate(data, indices, starts[blk, j], starts[blk + 1, j], B, out[j])


@nb.njit(parallel=True, cache=True)
def _csr_blocked_threads(data, indices, starts, B, out, n_parts):
    n = starts.shape[1]
    for part in nb.prange(n_parts):
        _blocked_rows(data, indices, starts, B, out, part * n // n_parts, (part + 1) * n // n_parts)


@nb.njit(cache=True)
def _csr_blocked_serial(data, indices, starts, B, out):
    _blocked_rows(data, indices, starts, B, out, 0, starts.shape[1])


@nb.njit(cache=True)
def _block_starts(indices, indptr, block, n_blocks):
    """starts[blk, j]: the first stored value of row j in a column >= blk * block (sorted indices)."""
    n = indptr.shape[0] - 1
    starts = np.empty((n_blocks + 1, n), dtype=np.int64)
    for j in range(n):
        t = indptr[j]
        for blk in range(n_blocks + 1):
            limit = blk * block
            while t < indptr[j + 1] and indices[t] < limit:
                t += 1
            starts[blk, j] = t
    return starts


def block_rows(n_rows: int, n_cols: int, itemsize: int) -> int:
    """Rows of B (n_rows x n_cols) per block of a blocked product; n_rows when B fits in cache.

    A power of two, so that products with a batch's changing number of columns share a few
    block layouts (each is computed once per matrix and kept)."""
    fit = BLOCK_BYTES // max(1, n_cols * itemsize)
    if fit >= n_rows:
        return n_rows
    return max(MIN_BLOCK_ROWS, 1 << (max(1, fit).bit_length() - 1))


def _starts(A: sp.csr_matrix, block: int) -> np.ndarray:
    """_block_starts of A for ``block``, computed once per matrix and block size and kept on A."""
    key = (block, A.nnz, A.shape)
    cache = getattr(A, _BLOCKS_ATTR, None)
    if cache is None:
        cache = {}
        try:
            setattr(A, _BLOCKS_ATTR, cache)
        except AttributeError:  # an object that takes no attributes: recompute next time
            pass
    starts = cache.get(key)
    if starts is None:
        n_blocks = -(-A.shape[1] // block)
        starts = cache[key] = _block_starts(A.indices, A.indptr, block, n_blocks)
    return starts


def csr_times_dense(A: sp.csr_matrix, B: np.ndarray) -> np.ndarray:
    """A @ B (CSR with sorted indices times C-ordered dense), in the dtype of B, each column
    computed on its own: out[j, q] adds A[j, t] * B[t, q] over the stored t in increasing order,
    so each column's numbers are those of a product with that column alone, with any number of
    threads and whether or not the product is blocked.

    When B is larger than BLOCK_BYTES, the product runs over blocks of B's rows (of A's columns)
    in order, each block kept in cache while every row of A adds its stored values in it; at
    100,000 cells x 200 columns this made the product with X^T 7x faster (measured)."""
    B = np.ascontiguousarray(B)
    data = A.data if A.data.dtype == B.dtype else A.data.astype(B.dtype)
    out = np.empty((A.shape[0], B.shape[1]), dtype=B.dtype)
    threaded = use_threads(A.nnz * B.shape[1])
    block = block_rows(B.shape[0], B.shape[1], B.itemsize)
    if block >= B.shape[0] or not A.has_sorted_indices:
        kernel = _csr_dense_threads if threaded else _csr_dense_serial
        kernel(data, A.indices, A.indptr, B, out)
    elif threaded:
        _csr_blocked_threads(data, A.indices, _starts(A, block), B, out, nb.get_num_threads())
    else:
        _csr_blocked_serial(data, A.indices, _starts(A, block), B, out)
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
