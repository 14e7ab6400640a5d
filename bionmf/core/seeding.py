"""Seeds and random starting points.

The seed of run ``r`` at rank ``k`` depends on ``(random_state, k, r)`` alone, so a survey gives the
same runs however its runs are split into batches, jobs or cores, and whatever the rank grid.
"""

from __future__ import annotations

import numbers

import numpy as np


#: The largest seed accepted: the seed is recorded in ``uns`` and written to h5ad files as a 64-bit
#: signed integer, so a larger one could not be stored, and the results not reproduced from the file.
MAX_RANDOM_STATE = 2**63 - 1


def check_random_state(random_state) -> int:
    """Return ``random_state`` as an int from 0 to :data:`MAX_RANDOM_STATE`, or raise a
    TypeError/ValueError naming it and the fix (numpy integers are accepted)."""
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        hint = ""
        if (isinstance(random_state, numbers.Real) and not isinstance(random_state, (bool, np.bool_))
                and float(random_state).is_integer()):
            hint = f"; pass int({random_state!r})"
        elif isinstance(random_state, (np.random.Generator, np.random.RandomState)):
            hint = "; bionmf records the seed to reproduce runs, so pass the int the generator was made from"
        raise TypeError(f"random_state must be a non-negative int, got {random_state!r} "
                        f"({type(random_state).__name__}){hint}")
    value = int(random_state)
    if value < 0:
        raise ValueError(f"random_state must be a non-negative int, got {value}; use e.g. abs({value})")
    if value > MAX_RANDOM_STATE:
        raise ValueError(f"random_state={value} is larger than 2**63 - 1, the largest seed that can be recorded "
                         f"(in uns and in h5ad files, as a 64-bit integer) to reproduce the runs; use a seed from 0 to "
                         f"{MAX_RANDOM_STATE}")
    return value


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
