"""Multiplicative NMF updates that ignore a speckled set of held-out entries (weighted NMF).

For speckled cross-validation (Wold 1978; the random held-out entries of RcppML's
``crossValidate``): a fraction of the entries of V = X^T (genes x samples) is hidden, the
factors are fitted to the others only, and the hidden ones are then predicted. With a 0/1 weight
M (0 on held-out entries), the updates are the weighted multiplicative updates of Lee & Seung
(2001), as in Blondel, Ho & Van Dooren (2008) for weighted NMF:

    KL:         H <- H * (W^T (M .* V / WH)) / (W^T M),    W <- W * ((M .* V / WH) H^T) / (M H^T)
    Frobenius:  H <- H * (W^T (M .* V)) / (W^T (M .* WH)), W <- W * ((M .* V) H^T) / ((M .* WH) H^T)

H first, then W with the new H, each floored at ``eps``.

Which entries are held out is not stored: entry (sample j, gene i) is held out when a 64-bit
hash (splitmix64) of ``key`` and j * genes + i falls below ``fraction`` of its range, so a fold
costs no memory whatever the size of X, and the same key gives the same entries everywhere.

Every run reads X as CSR (a dense X is passed as the CSR of its non-zeros): each sample's row is
scattered into a dense buffer over all genes, because zeros count as observed values too. Dense
and sparse inputs therefore run the very same arithmetic and give identical numbers. Each run is
advanced to its stopping rule by one thread on its own, so a run's result does not depend on the
batch it is in.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_JIT = dict(error_model="numpy", cache=True)
_MASK53 = np.uint64((1 << 53) - 1)


@nb.njit(inline="always")
def _mix(z):
    """splitmix64 finalizer (Steele, Lea & Flood 2014): a bijective 64-bit mix."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(inline="always")
def _held_row(key, j, m, threshold, held):
    """held[i] = 1 where entry (j, i) is held out, else 0; returns how many are held out."""
    base = np.uint64(j) * np.uint64(m)
    count = 0
    for i in range(m):
        z = _mix(key + _mix(base + np.uint64(i)))
        h = (z >> np.uint64(11)) < threshold
        held[i] = 1 if h else 0
        count += held[i]
    return count


@nb.njit(inline="always")
def _scatter_row(data, indices, indptr, j, x):
    x[:] = 0.0
    for t in range(indptr[j], indptr[j + 1]):
        x[indices[t]] = data[t]


@nb.njit(inline="always")
def _fitted_row(Wt, H, j, wh):
    k, m = Wt.shape
    for i in range(m):
        wh[i] = 0.0
    for a in range(k):
        h = H[a, j]
        for i in range(m):
            wh[i] += Wt[a, i] * h


@nb.njit(inline="always")
def _entry_loss(x, wh, kl):
    if kl:
        value = wh - x
        if x > 0:
            value += x * np.log(x / wh)
        return value
    d = x - wh
    return d * d


@nb.njit(**_JIT)
def _masked_run(data, indices, indptr, Wt, H, key, threshold, kl, max_iter, check_interval, tol, eps, out):
    """Fit one run to its observed entries; out = (iterations, converged, train loss per observed
    entry, held-out loss per held-out entry, held-out entries)."""
    k, m = Wt.shape
    n = H.shape[1]
    dt = Wt.dtype
    x = np.empty(m, dtype=dt)
    wh = np.empty(m, dtype=dt)
    held = np.empty(m, dtype=np.uint8)
    numer = np.empty(k, dtype=np.float64)
    denom = np.empty(k, dtype=np.float64)
    numer_w = np.empty((k, m), dtype=np.float64)
    denom_w = np.empty((k, m), dtype=np.float64)
    last = np.inf
    done = 0
    converged = False
    while done < max_iter:
        check = (done + 1) % check_interval == 0
        train = 0.0
        for j in range(n):
            _scatter_row(data, indices, indptr, j, x)
            _held_row(key, j, m, threshold, held)
            _fitted_row(Wt, H, j, wh)
            numer[:] = 0.0
            denom[:] = 0.0
            for i in range(m):
                if held[i]:
                    continue
                if kl:
                    q = x[i] / wh[i]
                    for a in range(k):
                        numer[a] += Wt[a, i] * q
                        denom[a] += Wt[a, i]
                else:
                    for a in range(k):
                        numer[a] += Wt[a, i] * x[i]
                        denom[a] += Wt[a, i] * wh[i]
            for a in range(k):
                h = H[a, j] * numer[a] / denom[a] if denom[a] > 0 else H[a, j]
                H[a, j] = h if h > eps else eps
        numer_w[:, :] = 0.0
        denom_w[:, :] = 0.0
        for j in range(n):
            _scatter_row(data, indices, indptr, j, x)
            _held_row(key, j, m, threshold, held)
            _fitted_row(Wt, H, j, wh)
            for i in range(m):
                if held[i]:
                    continue
                if check:
                    train += _entry_loss(x[i], wh[i], kl)
                if kl:
                    q = x[i] / wh[i]
                    for a in range(k):
                        numer_w[a, i] += H[a, j] * q
                        denom_w[a, i] += H[a, j]
                else:
                    for a in range(k):
                        numer_w[a, i] += H[a, j] * x[i]
                        denom_w[a, i] += H[a, j] * wh[i]
        for a in range(k):
            for i in range(m):
                if denom_w[a, i] > 0:
                    w = Wt[a, i] * numer_w[a, i] / denom_w[a, i]
                    Wt[a, i] = w if w > eps else eps
        done += 1
        if check:
            # the loss of the factors before this iteration's W update: the change between checks
            # is what the rule reads, the same as the batched solvers' objective rule
            if last - train <= tol * abs(train):
                converged = True
                break
            last = train
    train = 0.0
    test = 0.0
    n_test = 0
    n_train = 0
    for j in range(n):
        _scatter_row(data, indices, indptr, j, x)
        n_test += _held_row(key, j, m, threshold, held)
        _fitted_row(Wt, H, j, wh)
        for i in range(m):
            loss = _entry_loss(x[i], wh[i], kl)
            if held[i]:
                test += loss
            else:
                train += loss
                n_train += 1
    out[0] = done
    out[1] = 1.0 if converged else 0.0
    out[2] = train / max(n_train, 1)
    out[3] = test / max(n_test, 1)
    out[4] = n_test


@nb.njit(parallel=True, **_JIT)
def _masked_batch(data, indices, indptr, Wt, H, keys, threshold, kl, max_iter, check_interval, tol, eps, out):
    for r in nb.prange(Wt.shape[0]):
        _masked_run(data, indices, indptr, Wt[r], H[r], keys[r], threshold, kl, max_iter, check_interval, tol,
                    eps, out[r])


@nb.njit(**_JIT)
def _count_held(n, m, key, threshold):
    held = np.empty(m, dtype=np.uint8)
    total = 0
    for j in range(n):
        total += _held_row(key, j, m, threshold, held)
    return total


def fraction_threshold(fraction: float) -> np.uint64:
    """The hash threshold that holds out ``fraction`` of the entries."""
    return np.uint64(int(round(float(fraction) * (1 << 53))))


def held_out_mask(shape: tuple[int, int], key: int, fraction: float) -> np.ndarray:
    """The (samples x genes) boolean mask of held-out entries for ``key`` (for inspection and tests)."""
    n, m = shape
    out = np.empty((n, m), dtype=np.uint8)
    _mask_rows(n, m, np.uint64(key), fraction_threshold(fraction), out)
    return out.astype(bool)


@nb.njit(**_JIT)
def _mask_rows(n, m, key, threshold, out):
    for j in range(n):
        _held_row(key, j, m, threshold, out[j])


def count_held_out(shape: tuple[int, int], key: int, fraction: float) -> int:
    """How many entries ``key`` holds out of a matrix of ``shape``."""
    return int(_count_held(int(shape[0]), int(shape[1]), np.uint64(key), fraction_threshold(fraction)))


def masked_fit(X, Wt, H, keys, fraction, *, kl: bool, max_iter: int, check_interval: int, tol: float,
               eps) -> np.ndarray:
    """Fit every run of a batch to the entries its key does not hold out, in place.

    ``X``: CSR samples x genes (see the module docstring); ``Wt`` (b, k, genes) and ``H``
    (b, k, samples) starting factors of one float dtype; ``keys`` (b,) uint64, one fold key per run.

    Returns (b, 5) float64: iterations, converged (0/1), training loss per observed entry, held-out
    loss per held-out entry (generalized KL divergence, or squared error), held-out entries.
    """
    out = np.zeros((Wt.shape[0], 5), dtype=np.float64)
    data = X.data if X.data.dtype == Wt.dtype else X.data.astype(Wt.dtype)
    _masked_batch(data, X.indices, X.indptr, Wt, H, np.asarray(keys, dtype=np.uint64), fraction_threshold(fraction),
                  bool(kl), int(max_iter), int(check_interval), float(tol), Wt.dtype.type(eps), out)
    return out


@nb.njit(**_JIT)
def _observed_sum(data, indices, indptr, m, key, threshold):
    n = indptr.shape[0] - 1
    held = np.empty(m, dtype=np.uint8)
    total = 0.0
    count = 0
    for j in range(n):
        count += m - _held_row(key, j, m, threshold, held)
        for t in range(indptr[j], indptr[j + 1]):
            if not held[indices[t]]:
                total += data[t]
    return total, count


def observed_mean(X, key: int, fraction: float) -> float:
    """Mean of the entries of CSR ``X`` that ``key`` does not hold out (zeros included)."""
    total, count = _observed_sum(X.data, X.indices, X.indptr, int(X.shape[1]), np.uint64(key),
                                 fraction_threshold(fraction))
    return float(total) / max(int(count), 1)
