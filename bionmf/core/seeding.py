"""Seeds and random starting points.

The seed of run ``r`` at rank ``k`` depends on ``(random_state, k, r)`` alone, so a survey gives the
same runs however its runs are split into batches, jobs or cores, and whatever the rank grid.
"""

from __future__ import annotations

import numbers

import numpy as np


def check_random_state(random_state) -> int:
    """Return ``random_state`` as a non-negative int, or raise a TypeError/ValueError naming it."""
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be a non-negative int, got {random_state!r}")
    if random_state < 0:
        raise ValueError(f"random_state must be a non-negative int, got {random_state}")
    return int(random_state)


def run_seed(random_state: int, rank: int, run: int) -> np.random.SeedSequence:
    """The seed sequence of run ``run`` at rank ``rank``."""
    return np.random.SeedSequence([check_random_state(random_state), int(rank), int(run)])


#: scales of the random starts (``SolverOptions.init``), see :func:`init_bound`
INITS = ("max", "mean")


def init_bound(X, rank: int, init: str) -> float:
    """Upper end of the uniform distribution the starting entries of W and H are drawn from.

    ``"max"``: the maximum of X, the R package NMF's random seeding. ``"mean"``: 2 sqrt(mean(X) / k),
    so that every entry of W H starts at the mean of X on average (k terms, each the product of two
    means sqrt(mean / k)). Multiplicative updates rescale any start in their first step, but HALS
    sets each factor row to its exact least-squares update: from a start far above the data (W H ~
    k max^2 / 4) most of the first rows are cut to zero, and on pbmc3k the runs scattered over more
    local optima (spectra stability 0.68-0.77 at k = 7, 0.78-0.82 from the mean scale, three seeds
    each; ``benchmarks/SINGLECELL.md``).
    """
    if init == "max":
        return float(X.max())
    if init == "mean":
        mean = float(X.sum(dtype=np.float64)) / (X.shape[0] * X.shape[1])
        return 2.0 * float(np.sqrt(mean / rank))
    raise ValueError(f"init must be one of {INITS}, got {init!r}")


def random_init(
    seed: np.random.SeedSequence,
    n_features: int,
    n_samples: int,
    rank: int,
    vmax: float,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Random starting factors, entries uniform on (0, vmax) (``vmax`` from :func:`init_bound`).

    The R package NMF's default seeding ("random") draws both factors uniformly between 0 and the
    maximum of the data (``init="max"``).

    Returns
    -------
    W : (n_features, rank) array, H : (rank, n_samples) array, both of ``dtype``.
    """
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.0, vmax, size=(n_features, rank))
    H = rng.uniform(0.0, vmax, size=(rank, n_samples))
    return W.astype(dtype), H.astype(dtype)
