"""Which part of bionmf's arithmetic moves its rank survey away from R's NMF (Brunet's method).

Each variant changes one thing at a time from R's arithmetic (double precision, floor at double
epsilon, R's connectivity rule) on one of Brunet's data sets (``tests/reference/brunet_data.py``),
ranks 2-6, ``--runs`` runs, several ``--seeds``; it prints per variant and rank the mean and range
over the seeds of the cophenetic correlation and the dispersion, and the mean iterations, to set
against R's multi-seed figures in ``tests/reference/r_<name>_metrics.tsv``.

Variants: ``r`` (float64, floor 2.2e-16, R's rule: more than 40 unchanged checks after a first
baseline check), ``r32`` (the same in float32: bionmf's default), ``eps32`` (float32, floor at
float32's epsilon 1.2e-7, bionmf's old floor), ``old`` (float32, old floor, old rule: 40
unchanged checks counted from the start's assignment).

    PYTHONPATH=. python benchmarks/r_parity.py golub --seeds 0 1 2 --variants r r32 eps32 old
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "reference"))

from brunet_data import load  # noqa: E402

from bionmf.core.consensus import ConsensusAccumulator  # noqa: E402
from bionmf.core.metrics import cophenetic_correlation, dispersion  # noqa: E402
from bionmf.core.seeding import init_scale, random_init, run_seed  # noqa: E402
from bionmf.core.solvers import brunet as _kl  # noqa: E402

VARIANTS = {  # dtype, floor, rule ('r': baseline first check, > n_stable; 'old': start labels, >=)
    "r": (np.float64, np.finfo(np.float64).eps, "r"),
    "r32": (np.float32, np.finfo(np.float64).eps, "r"),
    "eps32": (np.float32, np.finfo(np.float32).eps, "r"),
    "old": (np.float32, np.finfo(np.float32).eps, "old"),
}


def survey(X64, ranks, runs, random_state, variant, n_stable=40):
    dtype, eps, rule = VARIANTS[variant]
    X = np.ascontiguousarray(X64, dtype=dtype)
    n, m = X.shape
    rows = []
    for k in ranks:
        scale = init_scale(X, k, "max")
        Wt = np.empty((runs, k, m), dtype)
        H = np.empty((runs, k, n), dtype)
        for r in range(runs):
            W0, H0 = random_init(run_seed(random_state, k, r), m, n, k, scale, dtype, "max")
            Wt[r], H[r] = W0.T, H0
        if rule == "r":
            labels = np.full((runs, n), -1, dtype=np.int64)
            stop_at = n_stable
        else:  # old: the start's assignment is the baseline, stop at n_stable unchanged checks
            labels = H.argmax(axis=1).astype(np.int64)
            stop_at = n_stable - 1
        n_iter = np.zeros(runs, np.int64)
        converged = np.zeros(runs, bool)
        _kl.dense_until_stable_kernel(k)(X, Wt, H, labels, np.arange(runs), 2000, 10, stop_at, dtype(eps), n_iter,
                                converged)
        acc = ConsensusAccumulator(n)
        for r in range(runs):
            acc.add(H[r].argmax(axis=0))
        C = acc.consensus()
        rows.append((k, cophenetic_correlation(C), dispersion(C), n_iter.mean()))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=("golub", "medulloblastoma", "cns"))
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--n-stable", type=int, default=40)
    args = parser.parse_args()
    X = np.asarray(load(args.name).X, dtype=np.float64)
    print("variant\tseed\trank\tcophenetic\tdispersion\tmean_iter\tseconds")
    for variant in args.variants:
        for seed in args.seeds:
            start = time.perf_counter()
            rows = survey(X, args.ranks, args.runs, seed, variant, args.n_stable)
            took = time.perf_counter() - start
            for k, coph, disp, it in rows:
                print(f"{variant}\t{seed}\t{k}\t{coph:.4f}\t{disp:.4f}\t{it:.0f}\t{took:.1f}", flush=True)


if __name__ == "__main__":
    main()
