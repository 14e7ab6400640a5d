"""Thread control for the solvers.

The KL kernels parallelize over the runs of a batch with numba threads and do not call BLAS, so
BLAS is held to one thread while they run: small multiplicative updates slow down several-fold
when OpenBLAS threads compete with numba's for the same cores. The Frobenius solvers spend their
time in BLAS (dense) or scipy's sparse products, so they get the BLAS threads instead.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits


def resolve_n_jobs(n_jobs: int | None) -> int:
    """``None`` or -1: every core numba may use; otherwise a positive int."""
    if n_jobs is None or n_jobs == -1:
        return int(numba.config.NUMBA_NUM_THREADS)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int, -1 or None, got {n_jobs!r}")
    return min(n_jobs, int(numba.config.NUMBA_NUM_THREADS), os.cpu_count() or n_jobs)


@contextmanager
def solver_threads(n_jobs: int | None, *, uses_blas: bool):
    """Run the enclosed solver code with ``n_jobs`` threads, numba or BLAS as the solver needs."""
    n = resolve_n_jobs(n_jobs)
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=n if uses_blas else 1, user_api="blas"):
            yield n
    finally:
        numba.set_num_threads(previous)
