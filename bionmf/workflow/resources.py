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


def factorize_seconds(shape: tuple[int, int], *, rank: int, runs: int, max_iter: int = 2000,
                      stored: int | None = None) -> float:
    """Single-thread seconds of ``runs`` runs at ``rank``, were they to run ``max_iter`` / 2
    iterations; the products with a sparse matrix cost its ``stored`` values, not samples x genes."""
    n, g = shape
    values = float(n) * g if stored is None else float(stored)
    return 4.0 * values * rank * runs * (max_iter / 2) / OPS_PER_SECOND


def job_threads(shape: tuple[int, int], *, rank: int, runs: int, max_iter: int = 2000, most: int = 4,
                stored: int | None = None) -> int:
    """Threads worth giving a factorization job: one per ~10 s of estimated work, 1 to ``most``.

    Small jobs get one thread, so that more of them run side by side (their cost is mostly Python
    start-up); numba parallelizes a job over its runs, so more threads than runs are useless.
    """
    seconds = factorize_seconds(shape, rank=rank, runs=runs, max_iter=max_iter, stored=stored)
    return int(max(1, min(most, runs, math.ceil(seconds / 10.0))))


#: memory every job needs before its data (MB): Snakemake in the job plus the Python step
JOB_BASE_MB = 1200


def job_resources(
    step: str, shape: tuple[int, int], *, threads: int = 1, rank: int = 2, runs: int = 1,
    n_ranks: int = 1, max_iter: int = 2000, stored: int | None = None, pairwise: bool = True,
) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` (minutes) requests of one job, from the data size.

    Generous estimates for cluster schedulers (a queue kill costs more than an oversized
    request). ``stored``: the values a sparse input stores (:func:`bionmf.workflow.data_stored`;
    None: a dense matrix of ``shape``), which is what a sparse matrix costs in memory, 12 bytes
    each as float64 CSR (8 for a dense float64 value); the solver holds the matrix in its
    precision, and a transposed copy of a sparse one. ``pairwise``: the consensus kind keeps
    samples x samples matrices (the sample consensus); the component consensus keeps only
    samples x rank arrays besides the matrix. A factorization run costs about
    ``4 * samples * genes * rank`` operations per iteration (:func:`factorize_seconds`), and
    the runtime request is :data:`RUNTIME_MARGIN` times that estimate.
    """
    n, g = shape
    cells = float(n) * float(g)
    values, value_bytes, solver_bytes = (cells, 8, 4 * (1 + threads)) if stored is None else (float(stored), 12, 16)
    matrix = values * value_bytes
    pairs = float(n) * n if pairwise else 0.0
    mb = 1e-6
    if step == "prepare":
        # a sparse matrix is normalized in place of its values (4.7 GB at 180 million stored values,
        # 2.2x the float64 matrix); a dense one goes through several dense copies
        mem = JOB_BASE_MB + (6 if stored is None else 4) * matrix * mb
        minutes = 5 + cells * 2e-6 / 60
    elif step == "factorize":
        per_run = (g + n) * rank * 4 * 4
        # the matrix as read, in the solver's layout, and ||X||^2 converting its values to float64
        mem = JOB_BASE_MB + (matrix + values * solver_bytes + values * 16 + runs * per_run) * mb
        seconds = factorize_seconds(shape, rank=rank, runs=runs, max_iter=max_iter, stored=stored) / max(threads, 1)
        minutes = 5 + RUNTIME_MARGIN * seconds / 60
    elif step == "convergence":
        # the best run of every rank computed again, one after another: a factorize job of one run
        # in memory, of n_ranks runs in time
        mem = JOB_BASE_MB + (matrix + values * solver_bytes + values * 16 + (g + n) * rank * 4 * 4) * mb
        minutes = 5 + RUNTIME_MARGIN * factorize_seconds(shape, rank=rank, runs=n_ranks, max_iter=max_iter,
                                                         stored=stored) / 60
    elif step == "consensus":
        mem = JOB_BASE_MB + (matrix * 1.5 + 6 * pairs * 8 + runs * n * 2 + 8 * n * rank * 8) * mb
        minutes = 5 + (cells * rank + pairs * math.log2(n + 2)) * 1e-7 / 60
    elif step in ("annotate", "signatures", "plots", "clusters"):
        mem = JOB_BASE_MB + 200 + (4 * matrix + n_ranks * (pairs + (g + n) * rank) * 8) * mb
        minutes = 5 + n_ranks * cells * 1e-7 / 60
    else:
        raise ValueError(f"unknown workflow step {step!r}")
    return {"mem_mb": int(math.ceil(mem / 100.0) * 100), "runtime": int(math.ceil(minutes))}


def check_cluster_cores(cores: int | None, *, cluster: bool) -> None:
    """On a SLURM cluster, refuse a ``cores`` cap that no node can give.

    A group of factorize jobs asks for the sum of its members' CPUs, capped by ``cores``
    (``profiles/slurm/config.yaml``, or ``--cores``); a job asking for more CPUs than the largest
    node has is never started (``Reason=PartitionConfig``) and Snakemake waits without a message.
    Checked when the workflow submits jobs to a cluster (``cluster``) from a machine where
    ``sinfo`` answers; anywhere else it does nothing.
    """
    import shutil
    import subprocess

    if not cluster or shutil.which("sinfo") is None:
        return
    try:
        out = subprocess.run(["sinfo", "--noheader", "--format=%c"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return  # no answer from SLURM: nothing to check against
    sizes = [int(field.rstrip("+")) for field in out.split() if field.rstrip("+").isdigit()]
    if not sizes:
        return
    largest = max(sizes)
    where = "in profiles/slurm/config.yaml (or --cores)"
    if cores is None:
        raise ValueError(f"no cores cap is set for this cluster run: a group of factorize jobs would ask for the sum "
                         f"of its members' CPUs, which may exceed every node (the largest has {largest} CPUs, "
                         f"sinfo); set cores: {min(4, largest)} {where}")
    if cores > largest:
        raise ValueError(f"cores: {cores} {where} exceeds the CPUs of the largest node of this cluster ({largest}, "
                         f"sinfo -o %c): a job asking for that many would never start; set cores to at most "
                         f"{largest}")
