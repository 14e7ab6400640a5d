"""Cost of one KL (brunet) iteration on Golub: per run, by rank, precision and threads.

Advances a batch of seeded runs by a fixed number of iterations with the solver kernel alone (no
stopping checks) and reports milliseconds per iteration per run, the minimum of ``--repeat``
timings (the least disturbed by other jobs). X and the starting factors are allocated as the
survey's driver allocates them (``prepare_matrix``, ``aligned_empty``: 64-byte aligned), so that
kernels sensitive to where rows start are timed as a survey runs them.
With ``--baseline REV`` the kernel module of git revision REV is timed side by side with
the working tree's (alternating, from the same starting factors) and the two results are compared
bitwise; both are then compiled fresh from source (numba's on-disk cache off), because a fresh
compile and a cache load of the same float64 kernel can differ in the last bit.

Reported: CPU time of the process (``time.process_time``, all threads), which other jobs on a busy
machine disturb much less than wall time, and wall time.

With ``--survey LOW HIGH RUNS`` it times whole ``tl.nmf`` surveys on Golub instead (ranks LOW-HIGH,
RUNS runs each, one thread, at the defaults), the kernels of ``--baseline`` and of the working tree
alternating in one process (the survey's KL entry points swapped), and prints each rank's
cophenetic, dispersion and mean iterations under both.

``--baseline 256-bit`` compares the working tree's kernels with themselves compiled without the
512-bit vectors they get on CPUs with AVX-512 (``brunet._WIDE_VECTORS`` off), in one process.

    PYTHONPATH=. python benchmarks/kl_kernel.py --threads 1 2
    PYTHONPATH=. python benchmarks/kl_kernel.py --threads 1 --baseline HEAD~1
    PYTHONPATH=. python benchmarks/kl_kernel.py --baseline eeec15c --survey 2 6 10 --repeat 2
    PYTHONPATH=. python benchmarks/kl_kernel.py --threads 1 --baseline 256-bit
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

import bionmf
from bionmf.core.seeding import random_init, run_seed
from bionmf.core.solvers import brunet as _kl
from bionmf.core.solvers._driver import aligned_empty, prepare_matrix

REPO = Path(__file__).resolve().parents[1]
# the --baseline that names the working tree's kernels with 512-bit vectors off
NARROW = "256-bit"


def load_kernel(rev: str | None, directory: Path, name: str):
    """The KL kernel module at git revision ``rev`` (None: the working tree; ``NARROW``: the
    working tree without 512-bit vectors), compiled uncached."""
    if rev in (None, NARROW):
        source = Path(_kl.__file__).read_text()
    else:
        source = subprocess.run(
            # the kernels' file was _kl.py before it was named after the algorithm
            ["git", "-C", str(REPO), "show", f"{rev}:bionmf/core/solvers/brunet.py"],
            capture_output=True, text=True,
        ).stdout or subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:bionmf/core/solvers/_kl.py"],
            check=True, capture_output=True, text=True,
        ).stdout
    path = directory / f"{name}.py"
    path.write_text(source.replace("cache=True", "cache=False"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if rev == NARROW:
        module._WIDE_VECTORS = False  # read when a rank's kernels are first made
    return module


def starts(X, rank, n_runs, dtype):
    """Seeded starting factors, allocated as the survey's driver does (64-byte aligned)."""
    n, m = X.shape
    Wt = aligned_empty((n_runs, rank, m), dtype)
    H = aligned_empty((n_runs, rank, n), dtype)
    for r in range(n_runs):
        W0, H0 = random_init(run_seed(0, rank, r), m, n, rank, float(X.max()), dtype)
        Wt[r], H[r] = W0.T, H0
    return Wt, H


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=20, help="iterations per timing")
    parser.add_argument("--runs-per-thread", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", default=None,
                        help=f"git revision whose kernel is timed alongside ({NARROW!r}: the working tree's "
                             "without 512-bit vectors)")
    parser.add_argument("--survey", type=int, nargs=3, default=None, metavar=("LOW", "HIGH", "RUNS"),
                        help="time tl.nmf surveys (needs --baseline) instead of iterations")
    args = parser.parse_args()
    if args.survey:
        if not args.baseline:
            parser.error("--survey compares with --baseline REV")
        survey(args.baseline, *args.survey, args.repeat)
        return

    X64 = np.ascontiguousarray(bionmf.datasets.golub().X)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        kernels = {"current": _kl.kl_steps}
        if args.baseline:
            kernels = {
                args.baseline: load_kernel(args.baseline, Path(tmp), "kl_baseline").kl_steps,
                "current": load_kernel(None, Path(tmp), "kl_current").kl_steps,
            }
        for dtype_name in args.dtypes:  # compile outside the timings
            dtype = np.dtype(dtype_name).type
            X = prepare_matrix(X64, dtype)
            for steps in kernels.values():
                Wt, H = starts(X, 2, 1, dtype)
                steps(X, Wt, H, np.arange(1), 1, dtype(np.finfo(dtype).eps))

        print(f"Golub {X64.shape[0]} samples x {X64.shape[1]} genes; {args.steps} iterations per timing, "
              f"min of {args.repeat}; ms per iteration per run, CPU (wall)")
        for threads in args.threads:
            numba.set_num_threads(threads)
            n_runs = threads * args.runs_per_thread
            active = np.arange(n_runs)
            for rank in args.ranks:
                for dtype_name in args.dtypes:
                    dtype = np.dtype(dtype_name).type
                    X = prepare_matrix(X64, dtype)  # as the survey's driver hands it to the kernels
                    eps = dtype(np.finfo(dtype).eps)
                    times = {name: [] for name in kernels}
                    walls = {name: [] for name in kernels}
                    final = {}
                    for repeat_index in range(args.repeat):
                        # ABBA: neither kernel always runs after the other (caches, clock)
                        order = list(kernels.items())[::-1 if repeat_index % 2 else 1]
                        for name, steps in order:
                            Wt, H = starts(X, rank, n_runs, dtype)
                            start, wall = time.process_time(), time.perf_counter()
                            steps(X, Wt, H, active, args.steps, eps)
                            times[name].append(time.process_time() - start)
                            walls[name].append(time.perf_counter() - wall)
                            final[name] = (Wt, H)
                    ms = {name: 1e3 * np.min(t) / (n_runs * args.steps) for name, t in times.items()}
                    wall_ms = {name: 1e3 * np.min(t) / (n_runs * args.steps) for name, t in walls.items()}
                    line = f"threads {threads}  k {rank}  {dtype_name}: " + "  ".join(
                        f"{name} {ms[name]:.3f} ({wall_ms[name]:.3f})" for name in kernels
                    )
                    if args.baseline:
                        (Wa, Ha), (Wb, Hb) = final.values()
                        same = np.array_equal(Wa, Wb) and np.array_equal(Ha, Hb)
                        line += f"  speed-up {ms[args.baseline] / ms['current']:.2f}x  " + (
                            "bitwise equal" if same else "RESULTS DIFFER"
                        )
                    print(line, flush=True)


def survey(baseline: str, low: int, high: int, runs: int, repeat: int) -> None:
    """CPU seconds of ``tl.nmf`` (one thread) with the KL kernels of ``baseline`` and of the
    working tree, alternating; the survey's metrics under both."""
    from bionmf.core.solvers import _driver

    numba.set_num_threads(1)
    adata = bionmf.datasets.golub()
    ranks = list(range(low, high + 1))
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        modules = {baseline: load_kernel(baseline, Path(tmp), "kl_baseline"),
                   "current": load_kernel(None, Path(tmp), "kl_current")}
        times = {name: [] for name in modules}
        metrics = {}
        for repeat_index in range(repeat + 1):
            for name, module in list(modules.items())[::-1 if repeat_index % 2 else 1]:  # ABBA
                _driver.kl_until_stable, _driver.kl_steps = module.kl_until_stable, module.kl_steps
                _driver._STEPS["brunet"] = module.kl_steps
                if repeat_index == 0:  # compiles every rank's kernels, untimed
                    bionmf.tl.nmf(adata, ranks=ranks, n_runs=2, solver={"max_iter": 10}, verbose=False,
                                  copy=True, n_jobs=1)
                    continue
                start = time.process_time()
                result = bionmf.tl.nmf(adata, ranks=ranks, n_runs=runs, random_state=0, verbose=False,
                                       copy=True, n_jobs=1)
                times[name].append(time.process_time() - start)
                metrics[name] = result.uns["nmf"]["metrics"][["cophenetic", "dispersion", "n_iter"]]
    best = {name: min(t) for name, t in times.items()}
    print(f"Golub, ranks {low}-{high} x {runs} runs, tl.nmf CPU s on 1 thread (min of {repeat}): "
          + "  ".join(f"{name} {best[name]:.2f} ({', '.join(f'{t:.2f}' for t in times[name])})" for name in times)
          + f"  speed-up {best[baseline] / best['current']:.2f}x")
    print(metrics[baseline].join(metrics["current"], lsuffix=f" {baseline}", rsuffix=" current").to_string())


if __name__ == "__main__":
    main()
