"""The first ``tl.nmf`` of a fresh install on Golub, against a later one, for one or more checkouts.

A fresh install has an empty numba cache, so its first survey compiles the kernels; every later
process loads them from the cache. Each measurement is two new Python processes on an empty
``NUMBA_CACHE_DIR`` (what a fresh ``pip install`` has): the first compiles, the second loads. Each
process imports bionmf from the checkout given, loads Golub and times ``tl.nmf`` at the defaults
(Brunet's method, float32, all cores); the whole process is timed from outside. CPU is the
survey process's own around ``tl.nmf`` (not the processes it starts to compile). With several
checkouts the measurements alternate between them (A B B A ...), so that a drift of the machine's
speed falls on both.

    PYTHONPATH=. python benchmarks/first_call.py                       # this checkout, P1
    PYTHONPATH=. python benchmarks/first_call.py --checkouts . /work/before --repeat 3
    PYTHONPATH=. python benchmarks/first_call.py --ranks 2 10 --runs 50   # P2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# one process: the survey at the defaults, timed around tl.nmf; prints a JSON line
SURVEY = """
import json, time
start = time.perf_counter()
import bionmf
adata = bionmf.datasets.golub()
loaded = time.perf_counter()
cpu = time.process_time()
bionmf.tl.nmf(adata, ranks=range({low}, {high} + 1), n_runs={runs}, random_state=0, verbose=False)
assert bionmf.__file__.startswith({checkout}), bionmf.__file__  # this checkout's bionmf
print(json.dumps({{"import": loaded - start, "nmf": time.perf_counter() - loaded,
                  "nmf_cpu": time.process_time() - cpu}}))
"""


def one_process(checkout: Path, cache: Path, code: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(checkout))
    start = time.perf_counter()
    # in the checkout: ``python -c`` puts the working directory first on the import path
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=checkout, check=True, capture_output=True,
                          text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=Path, nargs="+", default=[Path(".")])
    parser.add_argument("--ranks", type=int, nargs=2, default=[2, 6], metavar=("LOW", "HIGH"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkouts]
    codes = {c: SURVEY.format(low=args.ranks[0], high=args.ranks[1], runs=args.runs, checkout=repr(str(c)))
             for c in checkouts}
    results = {c: {"first": [], "later": []} for c in checkouts}
    for repeat_index in range(args.repeat):
        for checkout in checkouts[::-1 if repeat_index % 2 else 1]:
            with tempfile.TemporaryDirectory() as cache:
                results[checkout]["first"].append(one_process(checkout, Path(cache), codes[checkout]))
                results[checkout]["later"].append(one_process(checkout, Path(cache), codes[checkout]))
    print(f"Golub, ranks {args.ranks[0]}-{args.ranks[1]} x {args.runs} runs, defaults; "
          f"seconds, median of {args.repeat} (each: a fresh cache, then a second process on it)")
    print(f"{'checkout':<40} {'process':>8} {'import':>7} {'tl.nmf':>7} {'CPU':>7}   later: process  tl.nmf")
    for checkout, runs in results.items():
        first = {key: np.median([r[key] for r in runs["first"]]) for key in runs["first"][0]}
        later = {key: np.median([r[key] for r in runs["later"]]) for key in runs["later"][0]}
        print(f"{str(checkout):<40} {first['process']:8.2f} {first['import']:7.2f} {first['nmf']:7.2f} "
              f"{first['nmf_cpu']:7.2f}   {later['process']:14.2f} {later['nmf']:7.2f}")


if __name__ == "__main__":
    main()
