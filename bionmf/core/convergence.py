"""Convergence traces: the objective of one seeded run at every check, as the R package NMF's
``residuals(fit, track=TRUE)`` shows it.

A survey keeps no per-iteration record of its runs (that would cost an objective per check for
every run). Run r of rank k is seeded by (random_state, k, r) alone, and a run is computed the
same way alone as in a batch, so the trace of any run (the best one of each rank, typically) is
obtained by computing that run again with a trace hook: the same iterations, the same stop, the
same final factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .seeding import check_random_state, run_seed
from .solvers import SolverOptions, factorize_batch


@dataclass
class ConvergenceTrace:
    """The objective of one run at its start and at every check.

    Attributes
    ----------
    rank, run : which run (its seed is ``run_seed(random_state, rank, run)``)
    iteration : (checks + 1,) iterations done at each record, starting at 0
    objective : (checks + 1,) loss there (KL divergence or squared Frobenius residual), float64
    n_iter : iterations the run made
    converged : whether the stopping rule ended it before ``max_iter``
    final_objective : the loss at the end, as the survey records it
    """

    rank: int
    run: int
    iteration: np.ndarray
    objective: np.ndarray
    n_iter: int
    converged: bool
    final_objective: float


def trace_run(X, rank: int, run: int, *, random_state: int, options: SolverOptions) -> ConvergenceTrace:
    """Compute run ``run`` of rank ``rank`` again, recording its objective at every check.

    ``X`` is the samples x genes matrix the survey fitted, in solver layout
    (:func:`bionmf.core.solvers.prepare_matrix` with ``options.dtype``); ``random_state`` and
    ``options`` those of the survey. Checks come every ``options.check_interval`` iterations,
    where the stopping rule looks; the last record is the iteration the run stopped at.
    """
    random_state = check_random_state(random_state)
    if isinstance(run, bool) or not isinstance(run, (int, np.integer)) or run < 0:
        raise ValueError(f"run must be a non-negative int, got {run!r}")
    iterations: list[int] = []
    values: list[float] = []

    def record(iteration: int, active: np.ndarray, objective: np.ndarray) -> None:
        if active.size:  # one run in the batch: it is active until it stops
            iterations.append(int(iteration))
            values.append(float(objective[0]))

    result = factorize_batch(X, int(rank), [run_seed(random_state, rank, run)], options, trace=record)
    return ConvergenceTrace(
        rank=int(rank),
        run=int(run),
        iteration=np.asarray(iterations, dtype=np.int64),
        objective=np.asarray(values, dtype=np.float64),
        n_iter=int(result.n_iter[0]),
        converged=bool(result.converged[0]),
        final_objective=float(result.objective[0]),
    )
