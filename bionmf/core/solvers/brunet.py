"""Kullback-Leibler multiplicative updates (Lee & Seung 2001; Brunet et al. 2004).

With V = X^T (genes x samples) ~ W H and the generalized KL divergence, one iteration is

    H <- max(H * (W^T (V / WH)) / (W^T 1), eps)
    W <- max(W * ((V / WH) H^T) / (1 H^T), eps)

H first, then W with the new H, each floored at the machine epsilon of the working precision after
every update. (Brunet's reference code and the R package NMF floor at double precision's epsilon
every 10 iterations instead.)

The kernels take X in AnnData orientation (samples x genes, C order or CSR) and W transposed
(``Wt``, k x genes), so every inner loop runs over the genes of one sample: long, contiguous and
vectorized. They fuse the product WH, the quotient and the numerators in one pass per sample, so no
genes x samples temporary is made; on a sparse X the quotient vanishes where X is zero and only
stored entries are visited. Each run of a batch is advanced by one thread on its own, which makes a
run's result independent of the batch it was computed in. Sums are accumulated in the working
precision: a float32 dot product over the genes vectorizes twice as wide as one widened to float64
(12-24 % less time per iteration on Golub, ``benchmarks/kl_kernel.py``) and left the Golub
survey's consensus unchanged; ``dtype="float64"`` keeps every sum in double precision.
``error_model="numpy"`` lets the divisions vectorize (the default Python error model branches on
division by zero).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_JIT = dict(fastmath=True, error_model="numpy", cache=True)


@nb.njit(**_JIT)
def _dense_steps_one(X, Wt, H, n_steps, eps):
    n, m = X.shape
    k = Wt.shape[0]
    dt = Wt.dtype
    q = np.empty(m, dtype=dt)
    numer_w = np.empty((k, m), dtype=dt)
    col_sum = np.empty(k, dtype=dt)
    row_sum = np.empty(k, dtype=dt)
    # metagenes go through the inner loops two at a time, so each pass over the genes does twice
    # the arithmetic per load of q; every sum keeps its order, so the numbers do not change
    k2 = k - k % 2
    zero = col_sum[:0].sum()  # 0 in the working precision
    for _ in range(n_steps):
        for a in range(k):
            col_sum[a] = Wt[a].sum()
        for j in range(n):
            _dense_quotient(X[j], Wt, H, j, q)
            for a in range(0, k2, 2):
                s0 = zero
                s1 = zero
                for i in range(m):
                    s0 += Wt[a, i] * q[i]
                    s1 += Wt[a + 1, i] * q[i]
                h = H[a, j] * s0 / col_sum[a]
                H[a, j] = h if h > eps else eps
                h = H[a + 1, j] * s1 / col_sum[a + 1]
                H[a + 1, j] = h if h > eps else eps
            for a in range(k2, k):
                s = zero
                for i in range(m):
                    s += Wt[a, i] * q[i]
                h = H[a, j] * s / col_sum[a]
                H[a, j] = h if h > eps else eps
        for a in range(k):
            row_sum[a] = H[a].sum()
        numer_w[:, :] = 0.0
        for j in range(n):
            _dense_quotient(X[j], Wt, H, j, q)
            for a in range(0, k2, 2):
                h0 = H[a, j]
                h1 = H[a + 1, j]
                for i in range(m):
                    numer_w[a, i] += h0 * q[i]
                    numer_w[a + 1, i] += h1 * q[i]
            for a in range(k2, k):
                h = H[a, j]
                for i in range(m):
                    numer_w[a, i] += h * q[i]
        for a in range(k):
            inv = 1.0 / row_sum[a]
            for i in range(m):
                w = Wt[a, i] * numer_w[a, i] * inv
                Wt[a, i] = w if w > eps else eps


@nb.njit(inline="always", **_JIT)
def _dense_quotient(x, Wt, H, j, q):
    """q = x / (W H)[:, j] for sample j.

    (W H)[i, j] is summed over the metagenes in order, two per pass over the genes, and the last
    pass divides, so q is written once or twice instead of k + 1 times.
    """
    k, m = Wt.shape
    h0 = H[0, j]
    if k == 1:
        for i in range(m):
            q[i] = x[i] / (Wt[0, i] * h0)
        return
    h1 = H[1, j]
    if k == 2:
        for i in range(m):
            q[i] = x[i] / (Wt[0, i] * h0 + Wt[1, i] * h1)
        return
    for i in range(m):
        q[i] = Wt[0, i] * h0 + Wt[1, i] * h1
    a = 2
    while a + 2 < k:
        h0 = H[a, j]
        h1 = H[a + 1, j]
        for i in range(m):
            q[i] = q[i] + Wt[a, i] * h0 + Wt[a + 1, i] * h1
        a += 2
    if a + 2 == k:
        h0 = H[a, j]
        h1 = H[a + 1, j]
        for i in range(m):
            q[i] = x[i] / (q[i] + Wt[a, i] * h0 + Wt[a + 1, i] * h1)
    else:
        h0 = H[a, j]
        for i in range(m):
            q[i] = x[i] / (q[i] + Wt[a, i] * h0)


@nb.njit(**_JIT)
def _sparse_steps_one(data, indices, indptr, Wt, H, n_steps, eps):
    n = indptr.shape[0] - 1
    k, m = Wt.shape
    dt = Wt.dtype
    q = np.empty(m, dtype=dt)
    numer_w = np.empty((k, m), dtype=dt)
    col_sum = np.empty(k, dtype=dt)
    row_sum = np.empty(k, dtype=dt)
    zero = col_sum[:0].sum()  # 0 in the working precision
    for _ in range(n_steps):
        for a in range(k):
            col_sum[a] = Wt[a].sum()
        for j in range(n):
            lo, hi = indptr[j], indptr[j + 1]
            _sparse_quotient(data, indices, lo, hi, Wt, H, j, q)
            for a in range(k):
                s = zero
                for t in range(hi - lo):
                    s += Wt[a, indices[lo + t]] * q[t]
                h = H[a, j] * s / col_sum[a]
                H[a, j] = h if h > eps else eps
        for a in range(k):
            row_sum[a] = H[a].sum()
        numer_w[:, :] = 0.0
        for j in range(n):
            lo, hi = indptr[j], indptr[j + 1]
            _sparse_quotient(data, indices, lo, hi, Wt, H, j, q)
            for a in range(k):
                h = H[a, j]
                for t in range(hi - lo):
                    numer_w[a, indices[lo + t]] += h * q[t]
        for a in range(k):
            inv = 1.0 / row_sum[a]
            for i in range(m):
                w = Wt[a, i] * numer_w[a, i] * inv
                Wt[a, i] = w if w > eps else eps


@nb.njit(inline="always", **_JIT)
def _sparse_quotient(data, indices, lo, hi, Wt, H, j, q):
    """q[t] = x_t / (W H)[g_t, j] for the stored entries t = lo..hi of sample j (gene g_t)."""
    k = Wt.shape[0]
    for t in range(hi - lo):
        g = indices[lo + t]
        s = 0.0
        for a in range(k):
            s += Wt[a, g] * H[a, j]
        q[t] = data[lo + t] / s


@nb.njit(parallel=True, cache=True)
def _dense_batch(X, Wt, H, active, n_steps, eps):
    for t in nb.prange(active.shape[0]):
        r = active[t]
        _dense_steps_one(X, Wt[r], H[r], n_steps, eps)


@nb.njit(parallel=True, cache=True)
def _sparse_batch(data, indices, indptr, Wt, H, active, n_steps, eps):
    for t in nb.prange(active.shape[0]):
        r = active[t]
        _sparse_steps_one(data, indices, indptr, Wt[r], H[r], n_steps, eps)


@nb.njit(cache=True)
def _assignment_unchanged(H, labels):
    """Reassign every sample to its largest coefficient (first on ties, as argmax); say whether
    any assignment changed."""
    k, n = H.shape
    unchanged = True
    for j in range(n):
        best = 0
        for a in range(1, k):
            if H[a, j] > H[best, j]:
                best = a
        if best != labels[j]:
            unchanged = False
            labels[j] = best
    return unchanged


@nb.njit(cache=True)
def _run_until_stable(data, indices, indptr, X, dense, Wt, H, labels, max_iter, check_interval, n_stable, eps):
    """One run to Brunet's connectivity rule: returns (iterations, converged)."""
    done = 0
    stable = 0
    while done < max_iter:
        steps = min(check_interval, max_iter - done)
        if dense:
            _dense_steps_one(X, Wt, H, steps, eps)
        else:
            _sparse_steps_one(data, indices, indptr, Wt, H, steps, eps)
        done += steps
        stable = stable + 1 if _assignment_unchanged(H, labels) else 0
        if stable >= n_stable:
            return done, True
    return done, False


@nb.njit(parallel=True, cache=True)
def _batch_until_stable(data, indices, indptr, X, dense, Wt, H, labels, max_iter, check_interval, n_stable, eps,
                        n_iter, converged):
    for r in nb.prange(Wt.shape[0]):
        n_iter[r], converged[r] = _run_until_stable(
            data, indices, indptr, X, dense, Wt[r], H[r], labels[r], max_iter, check_interval, n_stable, eps
        )


@nb.njit(nogil=True, cache=True)
def _batch_until_stable_serial(data, indices, indptr, X, dense, Wt, H, labels, max_iter, check_interval, n_stable,
                               eps, n_iter, converged):
    for r in range(Wt.shape[0]):
        n_iter[r], converged[r] = _run_until_stable(
            data, indices, indptr, X, dense, Wt[r], H[r], labels[r], max_iter, check_interval, n_stable, eps
        )


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _divergence_one(data, indices, indptr, dense, X, Wt, H):
    k = Wt.shape[0]
    # sum(WH) once; then each stored entry adds x log(x / wh) - x
    total = 0.0
    for a in range(k):
        total += Wt[a].sum() * H[a].sum()
    n = X.shape[0] if dense else indptr.shape[0] - 1
    for j in range(n):
        if dense:
            lo, hi = 0, X.shape[1]
        else:
            lo, hi = indptr[j], indptr[j + 1]
        for p in range(lo, hi):
            g = p if dense else indices[p]
            x = X[j, p] if dense else data[p]
            wh = 0.0
            for a in range(k):
                wh += Wt[a, g] * H[a, j]
            total -= x
            if x > 0:
                total += x * np.log(x / wh)
    return total


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def _divergence(data, indices, indptr, dense, X, Wt, H, active, out):
    for t in nb.prange(active.shape[0]):
        r = active[t]
        out[t] = _divergence_one(data, indices, indptr, dense, X, Wt[r], H[r])


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def _divergence_serial(data, indices, indptr, dense, X, Wt, H, active, out):
    for t in range(active.shape[0]):
        r = active[t]
        out[t] = _divergence_one(data, indices, indptr, dense, X, Wt[r], H[r])


def kl_steps(X, Wt, H, active, n_steps, eps):
    """Advance the runs ``active`` of a batch by ``n_steps`` iterations, in place.

    ``X``: samples x genes, C-ordered ndarray or CSR; ``Wt``: (batch, k, genes); ``H``:
    (batch, k, samples); all of one float dtype.
    """
    if isinstance(X, np.ndarray):
        _dense_batch(X, Wt, H, active, n_steps, eps)
    else:
        _sparse_batch(X.data, X.indices, X.indptr, Wt, H, active, n_steps, eps)


_EMPTY_I = np.empty(0, dtype=np.int32)


def kl_divergence(X, Wt, H, active, *, threads: bool = True) -> np.ndarray:
    """Generalized KL divergence D(X^T || W H) of each active run, accumulated in float64.

    ``threads=False`` computes on the calling thread alone, without holding the GIL.
    """
    out = np.empty(active.shape[0], dtype=np.float64)
    kernel = _divergence if threads else _divergence_serial
    if isinstance(X, np.ndarray):
        kernel(X.ravel()[:0], _EMPTY_I, _EMPTY_I, True, X, Wt, H, active, out)
    else:
        dummy = np.empty((0, 0), dtype=X.dtype)
        kernel(X.data, X.indices, X.indptr, False, dummy, Wt, H, active, out)
    return out


def kl_until_stable(X, Wt, H, *, max_iter, check_interval, n_stable, eps, threads: bool = True):
    """Run every run of a batch to Brunet's connectivity rule, in place; (n_iter, converged).

    The same iterations and checks as stepping ``check_interval`` iterations at a time and checking
    the assignments between calls (so the same numbers), but each thread carries its runs to the
    end without waiting for the others at every check: on a busy machine those waits cost more
    than the checks. ``threads=False`` runs them one after the other on the calling thread,
    without holding the GIL, for callers that keep several threads busy themselves.
    """
    b, k, n = H.shape
    labels = np.empty((b, n), dtype=np.int64)
    for r in range(b):
        labels[r] = H[r].argmax(axis=0)
    n_iter = np.zeros(b, dtype=np.int64)
    converged = np.zeros(b, dtype=np.bool_)
    args = (int(max_iter), int(check_interval), int(n_stable), eps, n_iter, converged)
    kernel = _batch_until_stable if threads else _batch_until_stable_serial
    if isinstance(X, np.ndarray):
        kernel(X.ravel()[:0], _EMPTY_I, _EMPTY_I, X, True, Wt, H, labels, *args)
    else:
        dummy = np.empty((0, 0), dtype=X.dtype)
        kernel(X.data, X.indices, X.indptr, dummy, False, Wt, H, labels, *args)
    return n_iter, converged
