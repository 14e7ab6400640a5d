"""Job sizes of the workflow: how runs are split into jobs, threads, memory and runtime requests."""

from __future__ import annotations

import math


def run_chunks(n_runs: int, runs_per_job: int) -> list[tuple[int, int]]:
    """Half-open run ranges [start, stop) of the factorization jobs of one rank.

    Named by their runs rather than a chunk number, so raising ``n_runs`` keeps every earlier
    full chunk (and its output file) as it was.
    """
    if n_runs < 1 or runs_per_job < 1:
        raise ValueError(f"n_runs and runs_per_job must be positive, got {n_runs} and {runs_per_job}")
    return [(start, min(start + runs_per_job, n_runs)) for start in range(0, n_runs, runs_per_job)]


#: Solver operations per second and thread assumed when sizing jobs: about what the KL kernels
#: reach on one core (Golub, 25 runs of rank 6 in ~13 s), so threads are given to jobs that can
#: use them; runtime requests multiply the estimate by a wide margin.
OPS_PER_SECOND = 5e9
RUNTIME_MARGIN = 20.0


def factorize_seconds(shape: tuple[int, int], *, rank: int, runs: int, max_iter: int = 2000) -> float:
    """Single-thread seconds of ``runs`` runs at ``rank``, were they to run ``max_iter`` / 2 iterations."""
    n, g = shape
    return 4.0 * n * g * rank * runs * (max_iter / 2) / OPS_PER_SECOND


def job_threads(shape: tuple[int, int], *, rank: int, runs: int, max_iter: int = 2000, most: int = 4) -> int:
    """Threads worth giving a factorization job: one per ~10 s of estimated work, 1 to ``most``.

    Small jobs get one thread, so that more of them run side by side (their cost is mostly Python
    start-up); numba parallelizes a job over its runs, so more threads than runs are useless.
    """
    seconds = factorize_seconds(shape, rank=rank, runs=runs, max_iter=max_iter)
    return int(max(1, min(most, runs, math.ceil(seconds / 10.0))))


#: memory every job needs before its data (MB): Snakemake in the job plus the Python step
JOB_BASE_MB = 1200


def job_resources(
    step: str, shape: tuple[int, int], *, threads: int = 1, rank: int = 2, runs: int = 1,
    n_ranks: int = 1, max_iter: int = 2000,
) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` (minutes) requests of one job, from the data size.

    Generous estimates for cluster schedulers (a queue kill costs more than an oversized
    request): the matrix is held as float64
    on read and in the solver's precision; a factorization run costs about
    ``4 * samples * genes * rank`` operations per iteration (:func:`factorize_seconds`), and
    the runtime request is :data:`RUNTIME_MARGIN` times that estimate.
    """
    n, g = shape
    cells = float(n) * float(g)
    mb = 1e-6
    if step == "prepare":
        mem = JOB_BASE_MB + 6 * cells * 8 * mb
        minutes = 5 + cells * 2e-6 / 60
    elif step == "factorize":
        per_run = (g + n) * rank * 4 * 4
        mem = JOB_BASE_MB + (cells * 8 + cells * 4 * (1 + threads) + runs * per_run) * mb
        seconds = factorize_seconds(shape, rank=rank, runs=runs, max_iter=max_iter) / max(threads, 1)
        minutes = 5 + RUNTIME_MARGIN * seconds / 60
    elif step == "consensus":
        mem = JOB_BASE_MB + (cells * 12 + 6 * n * n * 8 + runs * n * 2) * mb
        minutes = 5 + (cells * rank + n * n * math.log2(n + 2)) * 1e-7 / 60
    elif step in ("annotate", "signatures", "plots", "clusters"):
        mem = JOB_BASE_MB + 200 + (4 * cells * 8 + n_ranks * (n * n + (g + n) * rank) * 8) * mb
        minutes = 5 + n_ranks * cells * 1e-7 / 60
    else:
        raise ValueError(f"unknown workflow step {step!r}")
    return {"mem_mb": int(math.ceil(mem / 100.0) * 100), "runtime": int(math.ceil(minutes))}
