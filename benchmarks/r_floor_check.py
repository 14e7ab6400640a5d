"""R's exact arithmetic in numpy (float64, floor every 10th iteration, R's connectivity stop) from
bionmf's starts, to set against bionmf's kernel at one rank of a Brunet data set.

From the same starts this reproduces R's ``nmf(..., "brunet", seed = nmfModel(W0, H0))`` to 1e-13
(checked on Golub, rank 5, four starts: H after 200 iterations, median relative difference 1e-14),
so the difference between its consensus and bionmf's is that of bionmf's floor applied after every
update instead of every 10th iteration; R's random draws are out of the comparison.

    PYTHONPATH=. python benchmarks/r_floor_check.py golub --rank 4 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))

from brunet_data import load  # noqa: E402

from bionmf.core.consensus import ConsensusAccumulator  # noqa: E402
from bionmf.core.metrics import cophenetic_correlation, dispersion  # noqa: E402
from bionmf.core.seeding import init_scale, random_init, run_seed  # noqa: E402

EPS = np.finfo(np.float64).eps


def r_run(V, W, H, max_iter=2000, stopconv=40):
    """One run as R's NMF computes it; returns (H, iterations)."""
    consold = None
    inc = 0
    for i in range(1, max_iter + 1):
        H = H * (W.T @ (V / (W @ H))) / W.sum(0)[:, None]
        W = W * ((V / (W @ H)) @ H.T) / H.sum(1)[None, :]
        if i % 10 == 0:
            H = np.maximum(H, EPS)
            W = np.maximum(W, EPS)
            index = H.argmax(0)
            cons = index[:, None] == index[None, :]
            if consold is not None and np.array_equal(cons, consold):
                inc += 1
            else:
                consold, inc = cons, 0
            if inc > stopconv:
                return H, i
    return H, max_iter


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    X = np.asarray(load(args.name).X, dtype=np.float64)
    V = X.T.copy()
    n, m = X.shape
    k = args.rank
    print("seed\trank\tcophenetic\tdispersion\tmean_iter")
    for seed in args.seeds:
        acc = ConsensusAccumulator(n)
        iters = []
        for r in range(args.runs):
            W0, H0 = random_init(run_seed(seed, k, r), m, n, k, init_scale(X, k, "max"), np.float64, "max")
            H, it = r_run(V, W0, H0)
            acc.add(H.argmax(0))
            iters.append(it)
        C = acc.consensus()
        print(f"{seed}\t{k}\t{cophenetic_correlation(C):.4f}\t{dispersion(C):.4f}\t{np.mean(iters):.0f}", flush=True)


if __name__ == "__main__":
    main()
