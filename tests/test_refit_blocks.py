"""The component consensus's refits read X a block of cells at a time (issue 12, a million cells):
the result does not depend on the block size, and no copy of all of X is made."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from bionmf.core.linalg import (
    nnls_fixed,
    reconstruction_error,
    refit_loadings,
    refit_usages,
    row_blocks,
    squared_norm,
)


def _data(n=1203, g=150, k=4, density=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, g, density=density, format="csr", random_state=seed, dtype=np.float64)
    X.data = rng.gamma(2.0, 1.0, size=X.nnz)
    programs = rng.gamma(1.0, 1.0, size=(k, g))
    return X.astype(np.float32), programs


def test_row_blocks_cover_the_rows_once():
    blocks = row_blocks(10, 4)
    assert [(b.start, b.stop) for b in blocks] == [(0, 4), (4, 8), (8, 10)]
    assert row_blocks(0, 4) == []
    with pytest.raises(ValueError, match="block"):
        row_blocks(3, 0)


@pytest.mark.parametrize("block", [1, 97, 500, 10_000])
def test_blocked_usage_refit_equals_one_block_bitwise(block):
    """Each cell's usages are their own problem, and a CSR product computes row by row, so the
    blocks change nothing, not even the rounding; the same as the unblocked NNLS of all of X."""
    X, programs = _data()
    whole = nnls_fixed(X.astype(np.float64), programs)
    np.testing.assert_array_equal(refit_usages(X, programs, block=block), whole)
    np.testing.assert_array_equal(refit_usages(X, programs, block=block), refit_usages(X, programs))


def test_blocked_refits_of_dense_data_match():
    X, programs = _data()
    dense = X.toarray()
    np.testing.assert_allclose(refit_usages(dense, programs, block=100), refit_usages(X, programs), rtol=1e-10,
                               atol=1e-12)
    usages = refit_usages(X, programs)
    np.testing.assert_allclose(refit_loadings(dense, usages, block=100), refit_loadings(X, usages, block=5000),
                               rtol=1e-9, atol=1e-12)


def test_blocked_loadings_and_error_equal_the_direct_formulas():
    X, programs = _data()
    usages = refit_usages(X, programs)
    Xd = X.toarray().astype(np.float64)
    # loadings: NNLS of each gene's column on the usages, from the transposed matrix in one piece
    direct = nnls_fixed(np.ascontiguousarray(Xd.T), usages.T).T
    for block in (50, 10_000):
        np.testing.assert_allclose(refit_loadings(X, usages, block=block), direct, rtol=1e-9, atol=1e-12)
        error = reconstruction_error(X, usages, programs, block=block)
        assert error == pytest.approx(((Xd - usages @ programs) ** 2).sum(), rel=1e-9)
        assert squared_norm(X, chunk=block) == pytest.approx((Xd**2).sum(), rel=1e-12)


def test_usage_refit_of_float32_csr_copies_no_more_than_a_block():
    """A float32 CSR X times float64 programs would convert all of X's values to float64 (scipy
    upcasts the whole matrix): 8 bytes per stored value. Block by block, the refit's extra memory
    is the n x k result and one block, far below that."""
    X, programs = _data(n=60_000, g=200, k=5, density=0.1, seed=1)
    refit_usages(X[:10], programs)  # compiled before measuring
    full_copy = X.nnz * 8
    tracemalloc.start()
    try:
        refit_usages(X, programs, block=2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result = X.shape[0] * programs.shape[0] * 8
    assert peak < result + full_copy / 3, (peak, full_copy)  # unblocked: result + 1.05 x full_copy
