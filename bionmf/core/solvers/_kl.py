"""Kullback-Leibler multiplicative updates (Lee & Seung 2001; Brunet et al. 2004).

With V = X^T (genes x samples) ~ W H and the generalized KL divergence, one iteration is

    H <- max(H * (W^T (V / WH)) / (W^T 1), eps)
    W <- max(W * ((V / WH) H^T) / (1 H^T), eps)

H first, then W with the new H, each floored at machine epsilon as in Brunet's reference code.

The kernels take X in AnnData orientation (samples x genes, C order or CSR) and W transposed
(``Wt``, k x genes), so every inner loop runs over the genes of one sample: long, contiguous and
vectorized. They fuse the product WH, the quotient and the numerators in one pass per sample, so no
genes x samples temporary is made; on a sparse X the quotient vanishes where X is zero and only
stored entries are visited. Each run of a batch is advanced by one thread on its own, which makes a
run's result independent of the batch it was computed in. ``error_model="numpy"`` lets the
divisions vectorize (the default Python error model branches on division by zero).
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
    for _ in range(n_steps):
        for a in range(k):
            col_sum[a] = Wt[a].sum()
        for j in range(n):
            _dense_quotient(X[j], Wt, H, j, q)
            for a in range(k):
                s = 0.0
                for i in range(m):
                    s += Wt[a, i] * q[i]
                h = H[a, j] * s / col_sum[a]
                H[a, j] = h if h > eps else eps
        for a in range(k):
            row_sum[a] = H[a].sum()
        numer_w[:, :] = 0.0
        for j in range(n):
            _dense_quotient(X[j], Wt, H, j, q)
            for a in range(k):
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
    """q = x / (W H)[:, j] for sample j."""
    k, m = Wt.shape
    h = H[0, j]
    for i in range(m):
        q[i] = Wt[0, i] * h
    for a in range(1, k):
        h = H[a, j]
        for i in range(m):
            q[i] += Wt[a, i] * h
    for i in range(m):
        q[i] = x[i] / q[i]


@nb.njit(**_JIT)
def _sparse_steps_one(data, indices, indptr, Wt, H, n_steps, eps):
    n = indptr.shape[0] - 1
    k, m = Wt.shape
    dt = Wt.dtype
    q = np.empty(m, dtype=dt)
    numer_w = np.empty((k, m), dtype=dt)
    col_sum = np.empty(k, dtype=dt)
    row_sum = np.empty(k, dtype=dt)
    for _ in range(n_steps):
        for a in range(k):
            col_sum[a] = Wt[a].sum()
        for j in range(n):
            lo, hi = indptr[j], indptr[j + 1]
            _sparse_quotient(data, indices, lo, hi, Wt, H, j, q)
            for a in range(k):
                s = 0.0
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


@nb.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def _divergence(data, indices, indptr, dense, X, Wt, H, active, out):
    k = Wt.shape[1]
    for t in nb.prange(active.shape[0]):
        r = active[t]
        # sum(WH) once; then each stored entry adds x log(x / wh) - x
        total = 0.0
        for a in range(k):
            total += Wt[r, a].sum() * H[r, a].sum()
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
                    wh += Wt[r, a, g] * H[r, a, j]
                total -= x
                if x > 0:
                    total += x * np.log(x / wh)
        out[t] = total


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


def kl_divergence(X, Wt, H, active) -> np.ndarray:
    """Generalized KL divergence D(X^T || W H) of each active run, accumulated in float64."""
    out = np.empty(active.shape[0], dtype=np.float64)
    if isinstance(X, np.ndarray):
        _divergence(X.ravel()[:0], _EMPTY_I, _EMPTY_I, True, X, Wt, H, active, out)
    else:
        dummy = np.empty((0, 0), dtype=X.dtype)
        _divergence(X.data, X.indices, X.indptr, False, dummy, Wt, H, active, out)
    return out
