"""The dense KL kernels unrolled per rank make Brunet's update as written (numpy, float64), at the
ranks where their generated code changes shape, and give each run the same numbers whatever the
batch or the number of threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from bionmf.core.seeding import random_init, run_seed
from bionmf.core.solvers import brunet
from bionmf.core.solvers.brunet import kl_steps, kl_until_stable


def data(n: int, m: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.gamma(0.7, 20.0, size=(n, m))
    X[rng.random((n, m)) < 0.2] = 0.0  # zeros, as expression data has
    return X


def starts(X, k, runs, dtype):
    n, m = X.shape
    Wt = np.empty((runs, k, m), dtype)
    H = np.empty((runs, k, n), dtype)
    for r in range(runs):
        W0, H0 = random_init(run_seed(0, k, r), m, n, k, float(X.max()), dtype)
        Wt[r], H[r] = W0.T, H0
    return Wt, H


def update_as_written(V, W, H, steps, eps):
    """Brunet's (Lee & Seung's) KL update, H then W, genes x samples V, in numpy."""
    for _ in range(steps):
        H = np.maximum(H * (W.T @ (V / (W @ H))) / W.sum(axis=0)[:, None], eps)
        W = np.maximum(W * ((V / (W @ H)) @ H.T) / H.sum(axis=1)[None, :], eps)
    return W, H


# 2: small; 8: the last with the W numerators fused; 9: through the quotient buffer; 13: the loops
# over a run-time rank (each rank compiles apart, so few of them)
@pytest.mark.parametrize("k", [2, 8, 9, 13])
def test_unrolled_kernels_make_brunets_update(k):
    n = 9  # two blocks of four samples for the W numerators, then one alone
    assert brunet._W_SAMPLES == 4 and brunet._FUSED_W_MAX_K == 8 and brunet._UNROLLED_MAX_K == 12
    X = data(n, 70, seed=k)
    eps = np.finfo(np.float64).eps
    Wt, H = starts(X, k, 2, np.float64)
    W_ref, H_ref = update_as_written(X.T, Wt[1].T.copy(), H[1].copy(), 7, eps)
    kl_steps(X, Wt, H, np.array([1]), 7, eps)
    np.testing.assert_allclose(H[1], H_ref, rtol=1e-9)
    np.testing.assert_allclose(Wt[1].T, W_ref, rtol=1e-9)


def test_unrolled_float32_follows_float64():
    X = data(15, 300, seed=1)
    eps = np.finfo(np.float64).eps
    W64, H64 = starts(X, 3, 1, np.float64)
    W32, H32 = W64.astype(np.float32), H64.astype(np.float32)
    kl_steps(X, W64, H64, np.array([0]), 30, eps)
    kl_steps(X.astype(np.float32), W32, H32, np.array([0]), 30, np.float32(eps))
    np.testing.assert_allclose(H32, H64, rtol=2e-3)
    np.testing.assert_allclose(W32, W64, rtol=2e-3)


@pytest.mark.parametrize("k", [3, 10])
def test_run_is_the_same_in_any_batch_and_thread_count(k):
    X = data(21, 150, seed=2).astype(np.float32)
    eps = np.float32(np.finfo(np.float64).eps)
    results = []
    for threads, runs in [(1, 1), (1, 4), (2, 4)]:
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            Wt, H = starts(X, k, 4, np.float32)
            Wt, H = Wt[4 - runs:].copy(), H[4 - runs:].copy()  # run 3 alone or last of four
            n_iter, _ = kl_until_stable(X, Wt, H, max_iter=300, check_interval=10, n_stable=5, eps=eps)
        finally:
            numba.set_num_threads(previous)
        results.append((Wt[-1], H[-1], n_iter[-1]))
    for Wt, H, n_iter in results[1:]:
        np.testing.assert_array_equal(Wt, results[0][0])
        np.testing.assert_array_equal(H, results[0][1])
        assert n_iter == results[0][2]


def compiled_steps(k, dtype, wide, monkeypatch):
    """A fresh, uncached rank-``k`` steps dispatcher, compiled for ``dtype``, with or without
    ``brunet._WIDE_VECTORS``, and 20 iterations of it from the same starts."""
    monkeypatch.setattr(brunet, "_WIDE_VECTORS", wide)
    steps_runs = brunet._make_unrolled(k, cache=False)[1]
    X = data(13, 333, seed=3).astype(dtype)  # 333 genes: vector loops and their remainders
    Wt, H = starts(X, k, 1, dtype)
    steps_runs(X, Wt, H, np.arange(1), 20, dtype(np.finfo(np.float64).eps))
    return steps_runs, Wt, H


def test_512_bit_vectors_only_for_the_float32_kernels_on_avx512(monkeypatch):
    """The kernels carry LLVM's 512-bit attributes exactly where the CPU has AVX-512 and they
    compute in float32 (checked on every CPU: without AVX-512, that they are absent); with them
    the float32 code uses zmm registers. A numba function compiled afterwards does not get them,
    and uses zmm registers only if numba's default code (the float64 kernels') does: on CPUs
    whose LLVM tuning prefers 256-bit vectors, not at all."""
    from bionmf.core.solvers._vector_width import compiles_for_avx512

    attribute = '"prefer-vector-width"="512"'
    asm = {}
    for dtype in (np.float32, np.float64):
        steps_runs, _, _ = compiled_steps(4, dtype, True, monkeypatch)
        signature = steps_runs.signatures[0]
        wide = compiles_for_avx512() and dtype is np.float32
        assert (attribute in steps_runs.inspect_llvm(signature)) == wide
        asm[dtype] = steps_runs.inspect_asm(signature)
    if compiles_for_avx512():
        assert "zmm" in asm[np.float32]

    @numba.njit(fastmath=True)
    def plain(x):
        total = x[0] * 0
        for i in range(x.shape[0]):
            total += x[i] * x[i]
        return total

    plain(np.ones(100, np.float32))
    assert attribute not in plain.inspect_llvm(plain.signatures[0])
    if "zmm" not in asm[np.float64]:
        assert "zmm" not in plain.inspect_asm(plain.signatures[0])


def test_512_bit_vectors_change_results_by_rounding_only(monkeypatch):
    """Wider vectors sum the genes in another order: float32 results stay within rounding of
    the 256-bit code's (bitwise equal without AVX-512)."""
    _, W_wide, H_wide = compiled_steps(3, np.float32, True, monkeypatch)
    _, W_narrow, H_narrow = compiled_steps(3, np.float32, False, monkeypatch)
    np.testing.assert_allclose(H_wide, H_narrow, rtol=1e-4)
    np.testing.assert_allclose(W_wide, W_narrow, rtol=1e-4)


def test_aligned_arrays_and_a_run_equal_at_any_alignment():
    """The driver hands the kernels 64-byte-aligned data and factors (faster loads, measured); a
    run's numbers do not depend on where its arrays start."""
    from bionmf.core.solvers._driver import ALIGN, aligned_copy, aligned_empty, prepare_matrix

    raw = np.zeros(333 * 13 + 8, np.float32)
    misaligned = raw[1:][:333 * 13].reshape(13, 333)  # 4 bytes past numpy's own alignment
    misaligned[...] = data(13, 333, seed=4)
    X = prepare_matrix(misaligned, np.float32)
    assert X.ctypes.data % ALIGN == 0 and np.array_equal(X, misaligned)
    assert aligned_empty((3, 5, 7), np.float64).ctypes.data % ALIGN == 0

    Wt, H = starts(X, 5, 1, np.float32)
    eps = np.float32(np.finfo(np.float64).eps)
    results = []
    for offset in (0, 4, 16):  # bytes past a cache line
        Wt_r = aligned_empty((1, 5, 333 * 4 + 64), np.float32).reshape(-1)[offset // 4:][:5 * 333].reshape(1, 5, 333)
        H_r = aligned_copy(H)
        Wt_r[...] = Wt
        X_r = aligned_empty((13 * 333 + 16,), np.float32)[offset // 4:][:13 * 333].reshape(13, 333)
        X_r[...] = X
        kl_steps(X_r, Wt_r, H_r, np.arange(1), 30, eps)
        results.append((Wt_r.copy(), H_r.copy()))
    for Wt_r, H_r in results[1:]:
        np.testing.assert_array_equal(Wt_r, results[0][0])
        np.testing.assert_array_equal(H_r, results[0][1])


@pytest.mark.parametrize("k", [3, 9])  # 3: the fused W numerators; 9: through the quotient buffer
def test_cache_line_rows_change_no_number(k, monkeypatch):
    """The unrolled kernels copy X and W into rows padded to whole 64-byte lines (no 512-bit load
    across two cache lines): a run's numbers are those of the same kernels on unpadded rows, bit
    for bit, with gene counts that leave a vector remainder (333) or fill whole vectors (64), and
    whatever the padding holds. Rows of fewer genes than a line holds (15) are left unpadded, as
    padding moved ranks 9-12 by 1 ulp there."""

    @numba.njit(inline="always")
    def unpadded_rows(rows, m, like):
        return np.empty((rows, m), like.dtype)

    cache_line_rows = brunet._cache_line_rows

    @numba.njit(inline="always")
    def padded_with_nan(rows, m, like):
        out = cache_line_rows(rows, m, like)
        out[:, :] = np.nan
        return out

    results = {}
    for name, rows in (("padded", padded_with_nan), ("unpadded", unpadded_rows)):
        monkeypatch.setattr(brunet, "_cache_line_rows", rows)
        steps_runs = brunet._make_unrolled(k, cache=False)[1]
        for m in (333, 64):
            X = data(9, m, seed=5).astype(np.float32)
            Wt, H = starts(X, k, 1, np.float32)
            steps_runs(X, Wt, H, np.arange(1), 12, np.float32(np.finfo(np.float64).eps))
            results[name, m] = (Wt, H)
    assert cache_line_rows(k, 15, np.ones(1, np.float32)).shape == (k, 15)
    for m in (333, 64):
        assert np.isfinite(results["padded", m][0]).all()
        np.testing.assert_array_equal(results["padded", m][0], results["unpadded", m][0])
        np.testing.assert_array_equal(results["padded", m][1], results["unpadded", m][1])


@pytest.mark.parametrize("k, dtype", [(8, np.float32), (8, np.float64), (9, np.float32)])
def test_w_numerator_blocks_change_no_number(k, dtype, monkeypatch):
    """The W numerators added gene block outer (16 genes' W and numerators in registers while the
    samples go by) give the numbers of the sample-outer loops bit for bit: groups of four samples
    and a last one alone (9 samples), gene counts with 16-gene blocks, 4-gene blocks and single
    genes left (333, 70), single genes only (3); 8 metagenes (sums in the order LLVM contracted
    the fused loop's, as at ranks 2-7) and 9 (in the order of the quotient buffer's loops). Where the
    blocks are not used (k <= 8 without AVX-512) there is nothing to compare. Ranks 9-12 on
    fewer than 16 genes, where the sample-outer loops took paths of their own, differ by rounding
    only (checked on 15 genes)."""
    from bionmf.core.solvers._vector_width import compiles_for_avx512

    if k <= brunet._FUSED_W_MAX_K and not compiles_for_avx512():
        pytest.skip("no gene blocks at this rank without AVX-512")
    results = {}
    for blocks in (True, False):
        monkeypatch.setattr(brunet, "_W_BLOCKS", blocks)
        assert brunet._w_blocks(k) == blocks
        steps_runs = brunet._make_unrolled(k, cache=False)[1]
        for m in (333, 70, 15, 3):
            X = data(9, m, seed=6).astype(dtype)
            Wt, H = starts(X, k, 1, dtype)
            steps_runs(X, Wt, H, np.arange(1), 12, dtype(np.finfo(np.float64).eps))
            results[blocks, m] = (Wt, H)
    for m in (333, 70, 15, 3):
        if k > brunet._FUSED_W_MAX_K and m == 15 and dtype is np.float32:
            check = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5)
        else:
            check = np.testing.assert_array_equal
        check(results[True, m][0], results[False, m][0])
        check(results[True, m][1], results[False, m][1])
