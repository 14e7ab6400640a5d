"""A survey's rank kernels compiled in other processes, when numba's cache does not hold them.

Brunet's solver on dense data has kernels of its own per rank (:mod:`.brunet`), 1-3 s each to
compile, and numba compiles one function at a time in a process (its compiler lock). So the first
survey after an install spends most of its time compiling, on one core, however many it has. Here
the ranks that numba's on-disk cache lacks are shared out: the survey's own process compiles the
first ones (it needs them first) and other processes, started at once, compile the later ones
into the cache, from which the survey loads each as its runs start (:func:`wait`). The kernels are
the same either way (numba's cache keeps the compiled code), so are the numbers.

Used only where it pays: two ranks or more missing from the cache and two threads or more for the
survey; the helper processes are as many as the survey's threads less one. A helper that fails
costs nothing but its time: the survey then compiles that rank itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..._logging import logger
from . import brunet
from ._driver import aligned_empty, prepare_matrix

_pending: dict[tuple[int, str], subprocess.Popen] = {}
_lock = threading.Lock()


def kernel_signature(rank: int, dtype) -> tuple:
    """The numba argument types of :func:`brunet.kl_until_stable`'s dense kernel as a survey calls it
    (one run at a time, arrays allocated by the driver), for ``rank`` and ``dtype``."""
    dtype = np.dtype(dtype).type
    labels, rest = brunet.until_stable_arguments(1, 2, 1, 1, 1, dtype(1))
    example = (prepare_matrix(np.ones((2, 3)), dtype), aligned_empty((1, rank, 3), dtype),
               aligned_empty((1, rank, 2), dtype), labels, np.arange(1, dtype=np.int64), *rest)
    kernel = brunet.dense_until_stable_kernel(rank)
    return tuple(kernel.typeof_pyval(value) for value in example)


def in_cache(rank: int, dtype) -> bool:
    """Whether the rank's dense kernel for ``dtype`` is compiled in this process or in numba's
    on-disk cache (loaded here if so: the survey's first call then finds it)."""
    kernel = brunet.dense_until_stable_kernel(rank)
    signature = kernel_signature(rank, dtype)
    if signature in kernel.overloads:
        return True
    # numba's own lookup, which compiles nothing; what it finds is registered as
    # Dispatcher.compile registers a kernel it loads from the cache
    loaded = kernel._cache.load_overload(signature, kernel.targetctx)
    if loaded is None:
        return False
    kernel.targetctx.insert_user_function(loaded.entry_point, loaded.fndesc, [loaded.library])
    kernel.add_overload(loaded)
    logger.debug("rank %d: its %s kernel loaded from numba's cache", rank, np.dtype(dtype).name)
    return True


def compile_kernels(ranks: Sequence[int], dtype) -> None:
    """Compile the ranks' dense kernels for ``dtype`` here (into numba's cache)."""
    for rank in ranks:
        brunet.dense_until_stable_kernel(rank).compile(kernel_signature(rank, dtype))


def _cost(rank: int) -> float:
    # seconds to compile a rank's kernel, as measured for ranks 2-10 (more metagenes, more code)
    return 0.6 + 0.25 * rank


#: seconds between two looks into numba's cache while waiting for a rank's kernel
_POLL = 0.05

#: seconds a helper process takes to start (Python, numpy, numba and bionmf imported)
_START = 1.3


def start(ranks: Sequence[int], dtype, threads: int) -> None:
    """Compile in other processes the kernels that the survey over ``ranks`` (in that order) will
    need after its first ones and that numba's cache lacks; at most ``threads - 1`` processes."""
    name = np.dtype(dtype).name
    if hasattr(os, "sched_getaffinity"):  # a process held to fewer cores than threads (taskset, SLURM)
        threads = min(threads, len(os.sched_getaffinity(0)))
    if threads < 2:
        return
    try:
        missing = [k for k in dict.fromkeys(ranks) if 1 <= k <= brunet._UNROLLED_MAX_K and not in_cache(k, name)]
    except AttributeError:  # a numba without the cache lookup used above: compile as usual
        return
    helpers = min(threads - 1, len(missing) - 1)
    if helpers < 1:
        return
    # the survey's process keeps the first ranks, about its share of the compiling, counting that
    # the other processes start later: they import bionmf first
    share = (sum(map(_cost, missing)) + helpers * _START) / (helpers + 1)
    own = 1
    while own < len(missing) - 1 and sum(map(_cost, missing[:own + 1])) <= share:
        own += 1
    groups: list[list[int]] = [[] for _ in range(helpers)]
    for k in sorted(missing[own:], key=_cost, reverse=True):  # longest first, to the least loaded
        min(groups, key=lambda g: sum(map(_cost, g))).append(k)
    # each process compiles its ranks in the order the survey needs them
    groups = [sorted(g, key=missing.index) for g in groups if g]
    env = dict(os.environ)
    # the helpers import this very bionmf, whatever the current directory
    package_root = str(Path(brunet.__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])
    logger.debug("compiling the %s kernels of ranks %s here and of %s in other processes", name,
                 missing[:own], groups)
    with _lock:
        for group in groups:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-c", f"from {__name__} import compile_kernels; compile_kernels({group}, {name!r})"],
                    env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            except (OSError, ValueError):  # no Python to start (an embedded interpreter): compile here
                logger.debug("no process started to compile ranks %s", group)
                continue
            for k in group:
                _pending[k, name] = process


def wait(rank: int, dtype) -> None:
    """Wait until the rank's kernel for ``dtype``, if another process was compiling it, is in
    numba's cache (or that process has ended), and load it. Every thread that needs the rank
    waits (one that went ahead would compile the kernel itself)."""
    key = (rank, np.dtype(dtype).name)
    start = time.perf_counter()
    while True:
        with _lock:  # one thread at a time looks into the cache and loads
            process = _pending.get(key)
            if process is None:
                return
            # a process compiles its ranks one after the other: the first is ready before the last
            if process.poll() is not None or in_cache(rank, dtype):
                del _pending[key]
                break
        time.sleep(_POLL)
    logger.debug("rank %d: waited %.2f s for its kernel's compile in another process", rank,
                 time.perf_counter() - start)
