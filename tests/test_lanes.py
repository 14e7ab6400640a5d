"""Fixed-width vectors as numba values (bionmf.core.solvers._lanes): each operation rounds as
it says, in float32 and float64, at each width."""

from __future__ import annotations

from fractions import Fraction

import numba
import numpy as np
import pytest

from bionmf.core.solvers import _lanes as L
from bionmf.core.solvers._vector_width import compiles_for_avx512


@numba.njit(fastmath=True, error_model="numpy")
def _ops(a, b, c, out):
    """Rows of ``out``: a * b, fma(a, b, c), a / b, a copy of a, b[0, 0] everywhere, zeros; in
    blocks of the wide width, then the short, then one by one (as the KL kernels go)."""
    m = a.shape[1]
    m_wide = m - m % L.wide_lanes(a)
    m_short = m - m % L.short_lanes(a)
    for i in range(0, m_wide, L.wide_lanes(a)):
        x, y, z = L.wide_load(a, 0, i), L.wide_load(b, 0, i), L.wide_load(c, 0, i)
        L.store(out, 0, i, L.mul(x, y))
        L.store(out, 1, i, L.fma(x, y, z))
        L.store(out, 2, i, L.div(x, y))
        L.store(out, 3, i, x)
        L.store(out, 4, i, L.wide_splat_at(b, 0, 0))
        L.store(out, 5, i, L.wide_zeros(a))
    for i in range(m_wide, m_short, L.short_lanes(a)):
        x, y, z = L.short_load(a, 0, i), L.short_load(b, 0, i), L.short_load(c, 0, i)
        L.store(out, 0, i, L.mul(x, y))
        L.store(out, 1, i, L.fma(x, y, z))
        L.store(out, 2, i, L.div(x, y))
        L.store(out, 3, i, x)
        L.store(out, 4, i, L.short_splat(b[0, 0]))
        L.store(out, 5, i, L.short_zeros(a))
    for i in range(m_short, m):
        x, y, z = L.one_load(a, 0, i), L.one_load(b, 0, i), L.one_load(c, 0, i)
        L.store(out, 0, i, L.mul(x, y))
        L.store(out, 1, i, L.fma(x, y, z))
        L.store(out, 2, i, L.div(x, y))
        L.store(out, 3, i, x)
        L.store(out, 4, i, L.one_splat_at(b, 0, 0))
        L.store(out, 5, i, L.one_zeros(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lanes_round_as_they_say(dtype):
    m = 16 + 8 + 3  # a wide block, short blocks (AVX-512) and single lanes
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, (1, m)).astype(dtype)
    b = rng.uniform(0.5, 2.0, (1, m)).astype(dtype)
    # where fma and a rounded product differ: (1 + d)^2 = 1 + 2d + d^2, and d^2 falls off
    d = 2.0 ** (-20 if dtype is np.float32 else -30)
    a[0, 1::2] = b[0, 1::2] = 1 + d
    c = -(a * b)  # the rounded product, negated: a * b + c is the product's rounding error
    out = np.full((6, m), np.nan, dtype)
    _ops(a, b, c, out)
    np.testing.assert_array_equal(out[0], (a * b)[0])
    # that error is a number of the dtype, so rounding a * b + c once gives it exactly
    exact = [float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
             for x, y, z in zip(a[0], b[0], c[0])]
    np.testing.assert_array_equal(out[1], np.array(exact, dtype))
    assert (out[1, 1::2] == dtype(d * d)).all()  # not 0, as a rounded product would give
    np.testing.assert_array_equal(out[3], a[0])
    assert (out[4] == b[0, 0]).all() and (out[5] == 0).all()
    quotient = (a / b)[0]
    last = m - m % 4 if compiles_for_avx512() or dtype is np.float64 else m - m % 8
    # one lane (and float64) divides truly; float32 vectors may use a refined reciprocal estimate
    np.testing.assert_array_equal(out[2, last:], quotient[last:])
    np.testing.assert_allclose(out[2], quotient, rtol=2 * np.finfo(dtype).eps)
    if dtype is np.float64:
        np.testing.assert_array_equal(out[2], quotient)


def test_lane_counts():
    """The widths of LLVM's vector loops in the KL kernels: blocks of 64 bytes (float32 on
    AVX-512), else of one 256-bit register; one number."""
    f32, f64 = np.empty((1, 1), np.float32), np.empty((1, 1), np.float64)

    @numba.njit
    def counts(x):
        return L.wide_lanes(x), L.short_lanes(x), L.one_lanes(x)

    assert counts(f32) == ((16, 4, 1) if compiles_for_avx512() else (8, 8, 1))
    assert counts(f64) == ((4, 2, 1) if compiles_for_avx512() else (4, 4, 1))


@numba.njit(fastmath=True, error_model="numpy")
def _coarse(a, b, out):
    """Row 0: a / b in short blocks; row 1: the same with coarse_div one lane at a time, row 2:
    one lane's (true) division, both through choose."""
    for i in range(0, a.shape[1], L.short_lanes(a)):
        L.store(out, 0, i, L.div(L.short_load(a, 0, i), L.short_load(b, 0, i)))
    for i in range(a.shape[1]):
        x, y = L.one_load(a, 0, i), L.one_load(b, 0, i)
        L.store(out, 1, i, L.choose(i >= 0, L.coarse_div(x, y), L.div(x, y)))
        L.store(out, 2, i, L.choose(i < 0, L.coarse_div(x, y), L.div(x, y)))


@pytest.mark.skipif(not compiles_for_avx512(), reason="the 4-lane estimate is x86's; used with AVX-512")
def test_coarse_div_is_the_short_blocks_division():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.1, 10.0, (1, 4000)).astype(np.float32)
    b = rng.uniform(0.1, 10.0, (1, 4000)).astype(np.float32)
    out = np.empty((3, 4000), np.float32)
    _coarse(a, b, out)
    np.testing.assert_array_equal(out[1], out[0])
    np.testing.assert_array_equal(out[2], (a / b)[0])
    assert (out[1] != out[2]).sum() > 100  # an estimate, not the true quotient
