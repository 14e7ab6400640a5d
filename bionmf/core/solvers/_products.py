"""Products of the data matrix with a batch of factors, for dense or sparse X.

X is samples x genes (AnnData orientation); a batch holds ``Wt`` (b, k, genes) and ``H``
(b, k, samples). On sparse X the factors of the whole batch are read as one (b k) x n matrix (its
rows are the columns of the product), so that X is streamed once per product for all runs. The sparse kernels (numba) visit the stored
entries of each row in order and update every column of the stacked factors with the same plain
multiply-add (no fast-math reassociation or fused multiply-add), so each output column is computed
exactly as it would be alone: a run's numbers do not depend on the other runs in the batch, nor on
the number of threads. The product with X^T reads a transposed copy of X (CSR of X^T, made once
per matrix and kept with it), so both products run row-parallel without write conflicts.

Three things make the sparse kernels fast without changing a bit of their results (see
:func:`csr_times_columns`): each pass over an output row adds the products of UNROLL stored values
in their order, so the row is loaded and stored once per UNROLL values rather than once per value;
when the factor is larger than a core's cache (the samples' factor H: 100,000 cells x 200 columns
is 80 MB) the product runs over blocks of its rows, each read from cache by every output row,
instead of fetching a random row of it from memory for every stored value; and the kernels
transpose the factors and write the products in the runs' (b, k, n) layout TILE rows at a time,
over the threads, instead of through numpy's whole-matrix transposes. Measured on one thread, 100,000 simulated
cells x 2000 genes, 16 % stored, 200 float32 columns (20 runs of k = 10): the product with X
0.83 s -> 0.37 s, with X^T 3.4 s -> 0.48 s (``benchmarks/SINGLECELL.md``).

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

from ._stack import STACK_COLUMNS, STACK_ROWS, stack_tile

_TRANSPOSE_ATTR = "_bionmf_transpose"

#: multiply-adds below which a kernel runs on one thread: on a busy machine a parallel region
#: waits for its slowest thread, which for tiny products costs far more than it saves (measured
#: 4x slower on 2 loaded cores); results are the same either way. From 2 million on, two threads
#: were 1.8x faster on the idle 2-core machine: the last runs of a batch (pbmc3k's 765,000 stored
#: values times 5-22 columns, 2-4 ms a product on one thread; the issue-12 survey 11-19 % less
#: wall time). 20 million before, which left those products on one thread.
PARALLEL_MIN_WORK = 2_000_000


def use_threads(work: float) -> bool:
    """Whether a kernel of ``work`` multiply-adds should run on numba's threads."""
    return work >= PARALLEL_MIN_WORK and nb.get_num_threads() > 1


#: stored values whose products are added to an output row in one pass over it; _accumulate is
#: written out for this many (v0 ... v7)
UNROLL = 8
#: bytes of B's rows that a blocked product keeps in cache while it streams A's stored values
#: against them: a core's L2 on the machine measured (2 MiB; 1 MiB was as fast for X^T, 5-10 % slower
#: for X, whose 2000 x 200 float32 factor then no longer fits in one block)
BLOCK_BYTES = 1 << 21
#: rows of the output, or of a block of the factor, moved between layouts at a time
TILE = STACK_ROWS
#: fewest rows of B in a block: below, the per-block overhead outweighs the cache gain
MIN_BLOCK_ROWS = 256
_LAYOUTS_ATTR = "_bionmf_product_layouts"


@nb.njit(inline="always")
def _accumulate(data, indices, lo, hi, B, row, offset):
    """row += data[t] * B[indices[t] - offset] for t = lo, ..., hi - 1, added in that order.

    UNROLL stored values are added per pass over the row, ((row + v0 b0) + v1 b1) + ..., the
    same operations in the same order as one pass per value, so the result is bitwise that of the
    plain loop; a pass loads and stores the row once instead of UNROLL times and gives the CPU
    UNROLL rows of B to fetch at once (1.5-1.9x on 200 columns, measured)."""
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
        b0 = B[indices[t] - offset]
        b1 = B[indices[t + 1] - offset]
        b2 = B[indices[t + 2] - offset]
        b3 = B[indices[t + 3] - offset]
        b4 = B[indices[t + 4] - offset]
        b5 = B[indices[t + 5] - offset]
        b6 = B[indices[t + 6] - offset]
        b7 = B[indices[t + 7] - offset]
        for q in range(c):
            row[q] = (((((((row[q] + v0 * b0[q]) + v1 * b1[q]) + v2 * b2[q]) + v3 * b3[q])
                        + v4 * b4[q]) + v5 * b5[q]) + v6 * b6[q]) + v7 * b7[q]
        t += UNROLL
    while t < hi:
        v = data[t]
        b = B[indices[t] - offset]
        for q in range(c):
            row[q] += v * b[q]
        t += 1


@nb.njit(inline="always")
def _rows_to_columns(data, indices, indptr, B, outT, j0, j1, buf):
    """outT[:, j] = row j of A @ B for j in [j0, j1): TILE rows at a time are computed
    in ``buf`` (at least TILE x B's columns), then written to the C-ordered (columns, rows) output
    one column at a time, which spares transposing the whole product afterwards."""
    c = B.shape[1]
    for t0 in range(j0, j1, TILE):
        t1 = min(j1, t0 + TILE)
        for j in range(t0, t1):
            row = buf[j - t0]
            for q in range(c):
                row[q] = 0.0
            _accumulate(data, indices, indptr[j], indptr[j + 1], B, row, 0)
        for q in range(c):
            for j in range(t0, t1):
                outT[q, j] = buf[j - t0, q]


@nb.njit(parallel=True, cache=True)
def _csr_dense_threads(data, indices, indptr, B, outT, bounds):
    for part in nb.prange(bounds.shape[0] - 1):
        buf = np.empty((TILE, B.shape[1]), dtype=B.dtype)
        _rows_to_columns(data, indices, indptr, B, outT, bounds[part], bounds[part + 1], buf)


@nb.njit(cache=True)
def _csr_dense_serial(data, indices, indptr, B, outT):
    buf = np.empty((TILE, B.shape[1]), dtype=B.dtype)
    _rows_to_columns(data, indices, indptr, B, outT, 0, indptr.shape[0] - 1, buf)


# the same with the rows computed in a buffer on the stack, for products with at most
# STACK_COLUMNS columns (see :mod:`._stack`: the compiler then drops its overlap checks)
@nb.njit(parallel=True, cache=True)
def _csr_narrow_threads(data, indices, indptr, B, outT, bounds):
    if B.shape[1] > STACK_COLUMNS:
        raise ValueError("more columns than the stack buffer holds")
    for part in nb.prange(bounds.shape[0] - 1):
        buf = nb.carray(stack_tile(B), (STACK_ROWS, STACK_COLUMNS))
        _rows_to_columns(data, indices, indptr, B, outT, bounds[part], bounds[part + 1], buf)


@nb.njit(cache=True)
def _csr_narrow_serial(data, indices, indptr, B, outT):
    if B.shape[1] > STACK_COLUMNS:
        raise ValueError("more columns than the stack buffer holds")
    buf = nb.carray(stack_tile(B), (STACK_ROWS, STACK_COLUMNS))
    _rows_to_columns(data, indices, indptr, B, outT, 0, indptr.shape[0] - 1, buf)


@nb.njit(inline="always")
def _pack(F, B, part, n_parts):
    """B[i, q] = F[q, i] for the i of ``part``, TILE at a time (F: c x d, B: d x c)."""
    d = F.shape[1]
    for s0 in range(part * d // n_parts, (part + 1) * d // n_parts, TILE):
        s1 = min((part + 1) * d // n_parts, s0 + TILE)
        for q in range(F.shape[0]):
            f = F[q]
            for i in range(s0, s1):
                B[i, q] = f[i]


@nb.njit(parallel=True, cache=True)
def _pack_threads(F, B, n_parts):
    for part in nb.prange(n_parts):
        _pack(F, B, part, n_parts)


@nb.njit(cache=True)
def _pack_serial(F, B):
    _pack(F, B, 0, 1)


@nb.njit(inline="always")
def _blocked_rows(data, indices, starts, F, block, buf, out, j0, j1):
    """Rows j0:j1 of the product, one block of F's columns at a time: the block is copied as rows
    into ``buf`` (in cache), where every row adds its stored values in the block."""
    c, d = F.shape
    for j in range(j0, j1):
        for q in range(c):
            out[j, q] = 0.0
    for blk in range(starts.shape[0] - 1):
        i0 = blk * block
        i1 = min(d, i0 + block)
        for s0 in range(i0, i1, TILE):
            s1 = min(i1, s0 + TILE)
            for q in range(c):
                f = F[q]
                for i in range(s0, s1):
                    buf[i - i0, q] = f[i]
        for j in range(j0, j1):
            _accumulate(data, indices, starts[blk, j], starts[blk + 1, j], buf, out[j], i0)


@nb.njit(parallel=True, cache=True)
def _csr_blocked_threads(data, indices, starts, F, block, bufs, out, bounds):
    # each thread copies every block into a buffer of its own: twice the copying on two threads
    # (a small part of the product), but one parallel region per product instead of two per block
    for part in nb.prange(bounds.shape[0] - 1):
        _blocked_rows(data, indices, starts, F, block, bufs[part], out, bounds[part], bounds[part + 1])


@nb.njit(cache=True)
def _csr_blocked_serial(data, indices, starts, F, block, buf, out):
    _blocked_rows(data, indices, starts, F, block, buf, out, 0, starts.shape[1])


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


def _kept(A: sp.csr_matrix, key: tuple, compute):
    """``compute()``, computed once per matrix and ``key`` and kept on A (its layouts for the
    products: a survey makes thousands of products with the same matrix)."""
    key = (*key, A.nnz, A.shape)
    cache = getattr(A, _LAYOUTS_ATTR, None)
    if cache is None:
        cache = {}
        try:
            setattr(A, _LAYOUTS_ATTR, cache)
        except AttributeError:  # an object that takes no attributes: recompute next time
            pass
    value = cache.get(key)
    if value is None:
        value = cache[key] = compute()
    return value


def _starts(A: sp.csr_matrix, block: int) -> np.ndarray:
    """_block_starts of A for ``block``, kept on A."""
    return _kept(A, ("starts", block), lambda: _block_starts(A.indices, A.indptr, block, -(-A.shape[1] // block)))


def _row_parts(A: sp.csr_matrix, n_parts: int) -> np.ndarray:
    """_balanced_rows of A for ``n_parts``, kept on A (computing them anew took 2 % of a
    pbmc3k survey)."""
    return _kept(A, ("parts", n_parts), lambda: _balanced_rows(A.indptr, n_parts))


def _balanced_rows(indptr: np.ndarray, n_parts: int) -> np.ndarray:
    """Row bounds of ``n_parts`` parts with about as many stored values each (a gene's stored
    values vary by orders of magnitude); which thread computes a row changes none of its numbers."""
    bounds = np.searchsorted(indptr, np.linspace(0, indptr[-1], n_parts + 1)).astype(np.int64)
    bounds[0], bounds[-1] = 0, indptr.shape[0] - 1
    return np.maximum.accumulate(np.minimum(bounds, indptr.shape[0] - 1))


def csr_times_columns(A: sp.csr_matrix, F: np.ndarray) -> np.ndarray:
    """(A @ F.T).T for a CSR A (rows x d) and F (c x d): (c x rows), in the dtype of F.

    Each output number adds A[j, t] * F[q, t] over the stored t of row j in increasing order
    (stored order when A's indices are unsorted), the same plain multiply-adds whatever the other
    columns, the number of threads or the blocking: each of F's rows (a run's factor row) gets
    the numbers it would get alone.

    When F is larger than BLOCK_BYTES and A's indices are sorted, the product runs over blocks of
    F's columns (A's columns) in order, each copied as rows into a buffer that stays in cache while
    every row of A adds its stored values in it; at 100,000 cells x 200 columns this made the
    product with X^T 7x faster (measured). Otherwise F is transposed (TILE rows at a time, over
    the threads) and each row of A is computed in one go and written straight into the (c x rows)
    output."""
    c, d = F.shape
    data = A.data if A.data.dtype == F.dtype else A.data.astype(F.dtype)
    n_parts = nb.get_num_threads() if use_threads(A.nnz * c) else 1
    block = block_rows(d, c, F.itemsize)
    if block >= d or not A.has_sorted_indices:
        outT = np.empty((c, A.shape[0]), dtype=F.dtype)
        B = np.empty((d, c), dtype=F.dtype)
        if n_parts > 1:
            _pack_threads(np.ascontiguousarray(F), B, n_parts)
        else:
            _pack_serial(np.ascontiguousarray(F), B)
        narrow = c <= STACK_COLUMNS
        if n_parts > 1:
            kernel = _csr_narrow_threads if narrow else _csr_dense_threads
            kernel(data, A.indices, A.indptr, B, outT, _row_parts(A, n_parts))
        else:
            kernel = _csr_narrow_serial if narrow else _csr_dense_serial
            kernel(data, A.indices, A.indptr, B, outT)
        return outT
    F = np.ascontiguousarray(F)
    out = np.empty((A.shape[0], c), dtype=F.dtype)
    starts = _starts(A, block)
    if n_parts > 1:
        bufs = np.empty((n_parts, block, c), dtype=F.dtype)
        _csr_blocked_threads(data, A.indices, starts, F, block, bufs, out, _row_parts(A, n_parts))
    else:
        _csr_blocked_serial(data, A.indices, starts, F, block, np.empty((block, c), dtype=F.dtype), out)
    return np.ascontiguousarray(out.T)


def csr_times_dense(A: sp.csr_matrix, B: np.ndarray) -> np.ndarray:
    """A @ B (CSR times dense), in the dtype of B, each column computed on its own (see
    :func:`csr_times_columns`)."""
    return np.ascontiguousarray(csr_times_columns(A, np.ascontiguousarray(B.T)).T)


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
        return csr_times_columns(X, Wt.reshape(b * k, m)).reshape(b, k, X.shape[0])
    return _each_run(Wt, X.T, np.empty((b, k, X.shape[0]), dtype=np.result_type(X, Wt)))


def h_x(X, H: np.ndarray) -> np.ndarray:
    """(V H^T)^T = H X for every run: (b, k, genes)."""
    b, k, n = H.shape
    if sp.issparse(X):
        return csr_times_columns(transposed(X), H.reshape(b * k, n)).reshape(b, k, X.shape[1])
    return _each_run(H, X, np.empty((b, k, X.shape[1]), dtype=np.result_type(X, H)))


def gram(A: np.ndarray) -> np.ndarray:
    """A A^T for every run: (b, k, k)."""
    return np.matmul(A, A.transpose(0, 2, 1))


#: stored values converted to float64 at a time by :func:`squared_norm` (32 MB), so the norm of a
#: large float32 matrix never makes a float64 copy of all of it
NORM_CHUNK = 1 << 22


def squared_norm(X, *, chunk: int = NORM_CHUNK) -> float:
    """||X||_F^2 in float64, ``chunk`` values at a time."""
    values = (X.data if sp.issparse(X) else np.asarray(X)).ravel()
    total = 0.0
    for start in range(0, values.size, chunk):
        part = values[start:start + chunk].astype(np.float64)
        total += float(np.dot(part, part))
    return total


def frobenius_residual(X, Wt: np.ndarray, H: np.ndarray, x_norm2: float) -> np.ndarray:
    """||V - W H||_F^2 of every run, without forming W H: |X|^2 - 2 <HX, Wt> + <WtWt^T, HH^T>."""
    cross = np.einsum("bkm,bkm->b", h_x(X, H).astype(np.float64), Wt.astype(np.float64))
    quad = np.einsum("bkl,bkl->b", gram(Wt).astype(np.float64), gram(H).astype(np.float64))
    return np.maximum(x_norm2 - 2.0 * cross + quad, 0.0)
