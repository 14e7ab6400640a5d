"""The sparse product kernels: equal to scipy's product, and each column's numbers independent of
the other columns, of blocking and of the number of threads (bit for bit)."""

import numba as nb
import numpy as np
import pytest
import scipy.sparse as sp

from bionmf.core.solvers import _products
from bionmf.core.solvers._driver import factorize_batch, prepare_matrix
from bionmf.core.solvers._options import SolverOptions
from bionmf.core.seeding import run_seed
from bionmf.core.solvers._products import block_rows, csr_times_dense


def _matrix(n_rows, n_cols, density, seed, dtype=np.float32):
    A = sp.random(n_rows, n_cols, density=density, random_state=seed, format="csr", dtype=dtype)
    A.data += 0.5  # keep every stored value away from 0, so a dropped one shows
    return A


def _force_blocks(monkeypatch):
    """Blocks of 16 rows of B whatever its size, so that small products take the blocked path."""
    monkeypatch.setattr(_products, "BLOCK_BYTES", 1)
    monkeypatch.setattr(_products, "MIN_BLOCK_ROWS", 16)


@pytest.fixture
def forced_blocks(monkeypatch):
    _force_blocks(monkeypatch)


@pytest.mark.parametrize("n_cols", [1, 7, 33])
def test_blocked_and_plain_products_equal_scipy(monkeypatch, n_cols):
    rng = np.random.default_rng(0)
    # 130 columns of A: blocks of 16 leave a short last block; rows with 0..~40 stored values
    # exercise the passes of UNROLL values and the remainder
    A = _matrix(90, 130, 0.15, 1)
    B = rng.random((130, n_cols)).astype(np.float32)
    plain = csr_times_dense(A, B)
    np.testing.assert_allclose(plain, A.toarray().astype(np.float64) @ B, rtol=1e-5)
    _force_blocks(monkeypatch)
    assert block_rows(130, n_cols, 4) == 16
    np.testing.assert_array_equal(csr_times_dense(A, B), plain)


def test_empty_rows_and_columns(forced_blocks):
    A = _matrix(40, 70, 0.2, 2).tolil()
    A[3, :] = 0
    A[:, 20:40] = 0  # a whole block of B's rows that no stored value reads
    A = A.tocsr()
    A.eliminate_zeros()
    B = np.random.default_rng(1).random((70, 5)).astype(np.float32)
    out = csr_times_dense(A, B)
    np.testing.assert_allclose(out, A.toarray() @ B, rtol=1e-5)
    assert not out[3].any()


def test_each_column_as_alone(forced_blocks):
    """A batch's runs are columns of B: a column's numbers do not depend on its neighbours."""
    A = _matrix(60, 100, 0.2, 3)
    B = np.random.default_rng(2).random((100, 40)).astype(np.float32)
    wide = csr_times_dense(A, B)
    for cols in (slice(3, 4), slice(10, 20), slice(0, 37)):
        np.testing.assert_array_equal(csr_times_dense(A, np.ascontiguousarray(B[:, cols])), wide[:, cols])


@pytest.mark.parametrize("blocked", [False, True])
def test_threaded_kernels_equal_serial_for_any_thread_count(monkeypatch, blocked):
    if blocked:
        _force_blocks(monkeypatch)
    A = _matrix(75, 120, 0.2, 4, dtype=np.float64)
    B = np.random.default_rng(3).random((120, 9))
    monkeypatch.setattr(_products, "PARALLEL_MIN_WORK", 10**18)
    serial = csr_times_dense(A, B)
    monkeypatch.setattr(_products, "PARALLEL_MIN_WORK", 0)
    before = nb.get_num_threads()
    try:
        for n_threads in range(1, nb.config.NUMBA_NUM_THREADS + 1):
            nb.set_num_threads(n_threads)
            np.testing.assert_array_equal(csr_times_dense(A, B), serial)
    finally:
        nb.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [False, True])
def test_stack_buffer_products_equal_the_heap_ones_up_to_its_width(monkeypatch, dtype, threads):
    # products with at most STACK_COLUMNS columns are computed in a buffer on the stack
    monkeypatch.setattr(_products, "PARALLEL_MIN_WORK", 0 if threads else 10**18)
    A = _matrix(90, 150, 0.25, 9, dtype=dtype)
    rng = np.random.default_rng(4)
    limit = _products.STACK_COLUMNS
    for n_cols in (1, 17, limit):
        B = rng.random((150, n_cols)).astype(dtype)
        narrow = csr_times_dense(A, B)
        np.testing.assert_allclose(narrow, (A @ B), rtol=1e-5 if dtype == np.float32 else 1e-12)
        monkeypatch.setattr(_products, "STACK_COLUMNS", 0)  # the heap buffer
        np.testing.assert_array_equal(csr_times_dense(A, B), narrow)
        monkeypatch.setattr(_products, "STACK_COLUMNS", limit)


def test_stack_buffer_kernel_refuses_more_columns_than_it_holds():
    A = _matrix(10, 20, 0.3, 1)
    B = np.ones((20, _products.STACK_COLUMNS + 1), dtype=np.float32)
    out = np.empty((B.shape[1], 10), dtype=np.float32)
    with pytest.raises(ValueError, match="stack buffer"):
        _products._csr_narrow_serial(A.data, A.indices, A.indptr, B, out)


def test_unsorted_indices_take_the_plain_kernel(forced_blocks):
    A = _matrix(30, 50, 0.3, 5)
    B = np.random.default_rng(4).random((50, 3)).astype(np.float32)
    shuffled = A.copy()
    for j in range(shuffled.shape[0]):
        lo, hi = shuffled.indptr[j], shuffled.indptr[j + 1]
        order = np.arange(lo, hi)[::-1]
        shuffled.indices[lo:hi] = shuffled.indices[order]
        shuffled.data[lo:hi] = shuffled.data[order]
    shuffled.has_sorted_indices = False
    np.testing.assert_allclose(csr_times_dense(shuffled, B), A.toarray() @ B, rtol=1e-5)


def test_block_layouts_are_kept_per_matrix(forced_blocks):
    A = _matrix(20, 64, 0.3, 6)
    B = np.ones((64, 2), dtype=np.float32)
    csr_times_dense(A, B)
    cache = getattr(A, _products._LAYOUTS_ATTR)
    key = ("starts", 16, A.nnz, A.shape)
    assert key in cache
    starts = cache[key]
    csr_times_dense(A, B)
    assert getattr(A, _products._LAYOUTS_ATTR)[key] is starts


def test_row_parts_are_kept_per_matrix_and_balance_the_stored_values():
    A = _matrix(300, 40, 0.2, 8)
    parts = _products._row_parts(A, 3)
    assert _products._row_parts(A, 3) is parts
    assert parts[0] == 0 and parts[-1] == A.shape[0] and np.all(np.diff(parts) >= 0)
    per_part = np.diff(A.indptr[parts])
    assert per_part.max() - per_part.min() <= 2 * np.diff(A.indptr).max()
    other = _matrix(300, 40, 0.2, 9)
    assert _products._row_parts(other, 3) is not parts


def test_hals_fit_is_the_same_with_blocked_products(monkeypatch):
    X = prepare_matrix(_matrix(200, 80, 0.2, 7), np.float32)
    seeds = [run_seed(0, 3, r) for r in range(3)]
    options = SolverOptions(algorithm="hals", max_iter=30)
    plain = factorize_batch(X, 3, seeds, options)
    _force_blocks(monkeypatch)
    X2 = prepare_matrix(_matrix(200, 80, 0.2, 7), np.float32)  # no cached transpose or blocks
    blocked = factorize_batch(X2, 3, seeds, options)
    np.testing.assert_array_equal(plain.W, blocked.W)
    np.testing.assert_array_equal(plain.H, blocked.H)
