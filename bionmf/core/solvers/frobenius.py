"""Frobenius-loss solvers: Lee & Seung (2001) multiplicative updates and HALS.

Both minimise ||V - W H||_F^2 with V = X^T (genes x samples) and act on a batch of runs in place.

- ``lee_steps``: H <- H * (W^T V) / (W^T W H), then W <- W * (V H^T) / (W H H^T), floored at eps.
- ``hals_steps``: hierarchical alternating least squares (Cichocki & Phan 2009, IEICE Trans.
  Fundamentals E92-A:708): each row of H, then each column of W, is set to its exact non-negative
  least-squares update with the others fixed. Converges in far fewer iterations than
  multiplicative updates, which makes it the fast choice for large data. The sweeps over one
  factor can be repeated while they still move it, reusing the product with the data, as in the
  accelerated HALS of Gillis & Glineur (2012, Neural Computation 24:1085); each run's repeats stop
  on its own progress, so a run's result does not depend on the batch it is in.

On sparse data nearly all of a HALS iteration's time is its two products with the data
(:mod:`._products`: 85-90 % at 20,000-100,000 cells, one thread); the sweeps over the factors come
next (5-10 %), and the projected gradient of the stopping rule is summed only at the
iterations the rule reads, in a loop apart from the update, which then vectorizes.

The Gram matrix F F^T that the other factor's update needs is computed by the sweep kernel, per
run, right after the run's factor is updated (in that core's cache, over the threads). As one
batched BLAS product on the calling thread it took 7 % of the issue-12 pbmc3k survey (ranks 5-11,
20 runs) on one core; the kernels are 3-4x faster at those shapes and within 5e-8 of float64
against BLAS's 4e-7 (``PYTHONPATH=. python3 benchmarks/hals_gram.py``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._products import gram, h_x, use_threads, wt_xt

#: accelerated HALS (``SolverOptions.inner_sweeps`` > 1): the repeated sweeps over a factor stop
#: once a sweep moves it by less than HALS_INNER_DELTA times the first sweep did (Gillis & Glineur
#: 2012, delta = 0.1)
HALS_INNER_DELTA = 0.1


def _batch(Wt, H, active):
    """The active runs' factors: views when every run is active, else copies to write back."""
    if active.size == Wt.shape[0] and np.array_equal(active, np.arange(Wt.shape[0])):
        return Wt, H, False
    return Wt[active], H[active], True


def lee_steps(X, Wt, H, active, n_steps, eps):
    """Advance the runs ``active`` by ``n_steps`` multiplicative Frobenius updates, in place."""
    Wa, Ha, copied = _batch(Wt, H, active)
    for _ in range(n_steps):
        Ha *= wt_xt(X, Wa) / np.maximum(np.matmul(gram(Wa), Ha), eps)
        np.maximum(Ha, eps, out=Ha)
        Wa *= h_x(X, Ha) / np.maximum(np.matmul(gram(Ha), Wa), eps)
        np.maximum(Wa, eps, out=Wa)
    if copied:
        Wt[active], H[active] = Wa, Ha


def hals_steps(X, Wt, H, active, n_steps, eps, *, gradient: bool = False, inner_sweeps: int = 1):
    """Advance the runs ``active`` by ``n_steps`` HALS iterations (H then W), in place.

    With ``gradient=True`` returns the projected-gradient norm of the first and the last of the
    ``n_steps`` iterations (rows 0 and -1 of an (n_steps, active runs) float64 array; the rows
    between are NaN): the sum over both factors of |d loss / d entry|, except that an entry at its
    floor counts only a gradient that would raise it (Lin 2007, Neural Computation 19:2756). The
    gradient rule reads no others (the first iteration's norm, and the norm at each check), and
    summing the norm slows a sweep by 12-23 %. Each entry's gradient is taken where HALS computes
    it anyway, just before updating the entry's row, so it costs no extra product. Without
    ``gradient`` None is returned.
    """
    Wa, Ha, copied = _batch(Wt, H, active)
    violation = np.full((n_steps, active.size), np.nan)
    b, k = Wa.shape[:2]
    # each sweep kernel leaves the Gram matrix of the factor it updated for the other's update
    gram_w = _grams(Wa)
    gram_h = np.empty((b, k, k), dtype=Wa.dtype)
    for step in range(n_steps):
        summed = gradient and step in (0, n_steps - 1)
        if summed:
            violation[step] = 0.0
        _hals_sweeps(Ha, wt_xt(X, Wa), gram_w, eps, violation[step], summed, inner_sweeps, gram_h)
        _hals_sweeps(Wa, h_x(X, Ha), gram_h, eps, violation[step], summed, inner_sweeps, gram_w)
    if copied:
        Wt[active], H[active] = Wa, Ha
    return violation if gradient else None


def _hals_sweeps(F, numer, G, eps, violation, gradient, inner_sweeps, gram_out):
    """Repeated HALS passes over the k rows of F (b, k, d): F_a <- max(eps, F_a + (N_a - G_a F) / G_aa);
    with ``gradient``, adds each run's projected-gradient norm (first pass) to ``violation``; then
    writes F F^T of each updated run into ``gram_out`` (b, k, k)."""
    b, k, d = F.shape
    kernel = _hals_threads if use_threads(4 * b * k * k * d) else _hals_serial
    kernel(F, np.ascontiguousarray(numer, dtype=F.dtype), np.ascontiguousarray(G, dtype=F.dtype),
           F.dtype.type(eps), int(inner_sweeps), HALS_INNER_DELTA, violation, gradient, gram_out)


def _grams(F: np.ndarray) -> np.ndarray:
    """F F^T of every run of F (b, k, d), as the sweep kernels compute it."""
    out = np.empty((F.shape[0], F.shape[1], F.shape[1]), dtype=F.dtype)
    if use_threads(F.size * F.shape[1]):
        _grams_threads(F, out)
    else:
        _grams_serial(F, out)
    return out


@nb.njit(parallel=True, cache=True)
def _hals_threads(F, N, G, eps, max_inner, delta, violation, gradient, gram_out):
    for r in nb.prange(F.shape[0]):
        violation[r] += _hals_run(F, N, G, eps, max_inner, delta, gradient, r)
        _gram(F[r], gram_out[r])


@nb.njit(cache=True)
def _hals_serial(F, N, G, eps, max_inner, delta, violation, gradient, gram_out):
    for r in range(F.shape[0]):
        violation[r] += _hals_run(F, N, G, eps, max_inner, delta, gradient, r)
        _gram(F[r], gram_out[r])


@nb.njit(parallel=True, cache=True)
def _grams_threads(F, out):
    for r in nb.prange(F.shape[0]):
        _gram(F[r], out[r])


@nb.njit(cache=True)
def _grams_serial(F, out):
    for r in range(F.shape[0]):
        _gram(F[r], out[r])


@nb.njit(fastmath={"reassoc", "contract"}, cache=True)
def _gram(f, out):
    """out = f f^T for one run's factor f (k, d), in f's precision; each sum over d in the vector
    lanes the compiler chooses (reassociated, as a BLAS product sums; a run's numbers do not
    depend on its batch or the threads). See the module docstring for why it is computed here."""
    k, d = f.shape
    for a in range(k):
        for c in range(a, k):
            s = f[a, 0] * 0
            for i in range(d):
                s += f[a, i] * f[c, i]
            out[a, c] = s
            out[c, a] = s


@nb.njit(inline="always")
def _hals_run(F, N, G, eps, max_inner, delta, gradient, r):
    """Up to ``max_inner`` HALS sweeps over the rows of run r's factor F[r]; returns the projected
    gradient norm met by the first sweep (0 unless ``gradient``).

    The gradient and the movement of a sweep are float64 sums taken in a fixed order, which the
    compiler must not vectorize; they have loops of their own, run only when asked for, so that
    the update itself vectorizes (the same numbers either way)."""
    _, k, d = F.shape
    f = F[r]
    tmp = np.empty(d, dtype=F.dtype)
    first = 0.0
    violation = 0.0
    for sweep in range(max_inner):
        moved = 0.0
        for a in range(k):
            for i in range(d):
                tmp[i] = N[r, a, i]
            for c in range(k):
                g = G[r, a, c]
                for i in range(d):
                    tmp[i] -= g * f[c, i]
            diag = G[r, a, a]
            if diag < eps:
                diag = eps
            inv = 1.0 / diag
            if gradient and sweep == 0:
                for i in range(d):
                    # tmp[i] is minus the gradient: at the floor only a rise counts
                    if f[a, i] > eps:
                        violation += abs(tmp[i])
                    elif tmp[i] > 0:
                        violation += tmp[i]
            if max_inner > 1:
                for i in range(d):
                    old = f[a, i]
                    new = old + tmp[i] * inv
                    if new < eps:
                        new = eps
                    f[a, i] = new
                    moved += (new - old) * (new - old)
            else:
                for i in range(d):
                    new = f[a, i] + tmp[i] * inv
                    f[a, i] = eps if new < eps else new
        if sweep == 0:
            first = moved
        elif moved <= delta * delta * first:
            break
    return violation
