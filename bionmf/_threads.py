"""Thread control for the solvers.

The solvers parallelize over the runs of a batch (numba threads for the KL kernels, the sparse
products and the HALS sweeps; a thread per run for the dense BLAS products of
:mod:`bionmf.core.solvers._products`), and BLAS is always held to one thread while they run. A
multi-threaded BLAS splits one product's sums between threads in a way that depends on their
number, so the Frobenius solvers' fit metrics differed in the 7th digit between n_jobs=1 and 2;
with one BLAS thread per product every run is computed the same way whatever ``n_jobs`` is. It
also keeps OpenBLAS threads from competing with numba's for the same cores (small multiplicative
updates slow down several-fold when they do).
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
def solver_threads(n_jobs: int | None, *, uses_blas: bool = False):
    """Run the enclosed solver code with ``n_jobs`` numba threads and one BLAS thread.

    ``uses_blas`` is kept for the callers that name it; BLAS gets one thread either way, and the
    dense products of the Frobenius solvers run their runs on ``n_jobs`` threads instead.
    """
    n = resolve_n_jobs(n_jobs)
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield n
    finally:
        numba.set_num_threads(previous)
