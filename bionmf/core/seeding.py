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


def random_init(
    seed: np.random.SeedSequence,
    n_features: int,
    n_samples: int,
    rank: int,
    vmax: float,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Random starting factors, entries uniform on (0, vmax).

    The R package NMF's default seeding ("random") draws both factors uniformly between 0 and the
    maximum of the data; we do the same so that runs start on the same scale.

    Returns
    -------
    W : (n_features, rank) array, H : (rank, n_samples) array, both of ``dtype``.
    """
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.0, vmax, size=(n_features, rank))
    H = rng.uniform(0.0, vmax, size=(rank, n_samples))
    return W.astype(dtype), H.astype(dtype)
