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


#: kinds of random start (``SolverOptions.init``), see :func:`random_init`
INITS = ("max", "mean")


def init_scale(X, rank: int, init: str) -> float:
    """The scale of the random starts of :func:`random_init` on X: max X for ``"max"``,
    sqrt(mean X / k) for ``"mean"``."""
    if init == "max":
        return float(X.max())
    if init == "mean":
        mean = float(X.sum(dtype=np.float64)) / (X.shape[0] * X.shape[1])
        return float(np.sqrt(mean / rank))
    raise ValueError(f"init must be one of {INITS}, got {init!r}")


def random_init(
    seed: np.random.SeedSequence,
    n_features: int,
    n_samples: int,
    rank: int,
    scale: float,
    dtype=np.float32,
    init: str = "max",
) -> tuple[np.ndarray, np.ndarray]:
    """Random starting factors of one run.

    ``init="max"``: entries uniform on (0, scale) with scale = max X, the R package NMF's default
    seeding ("random"). ``init="mean"``: entries scale ``|N(0, 1)|`` with scale = sqrt(mean X / k), so
    that W H starts near the data's mean level; scikit-learn's ``init="random"``, which cNMF uses.
    ``scale`` comes from :func:`init_scale`.

    Returns
    -------
    W : (n_features, rank) array, H : (rank, n_samples) array, both of ``dtype``.
    """
    rng = np.random.default_rng(seed)
    if init == "max":
        W = rng.uniform(0.0, scale, size=(n_features, rank))
        H = rng.uniform(0.0, scale, size=(rank, n_samples))
    elif init == "mean":
        W = scale * np.abs(rng.standard_normal(size=(n_features, rank)))
        H = scale * np.abs(rng.standard_normal(size=(rank, n_samples)))
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return W.astype(dtype), H.astype(dtype)
