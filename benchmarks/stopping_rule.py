"""How many iterations does consensus need? Stopping rules against Brunet's exact rule on Golub.

Brunet et al. (2004) stop a run once the sample assignment (argmax of H) has not changed for 40
checks made every 10 iterations (``stop="connectivity"``, ``n_stable=40``): at least 400
iterations after the last change. The consensus only needs each run's final assignment, so a run
may stop earlier once that assignment is settled. This script runs the Golub rank survey (ranks
2-6, brunet, the same seeds) under each rule and compares it with the exact rule:

* mean iterations per run and the survey's time (2 threads by default);
* max |cophenetic - exact| over the ranks, and the largest entry-wise change of any consensus matrix;
* per rank, the samples whose consensus cluster differs from the exact rule's (best matching);
* misassigned samples against the known classes (ALL/AML at rank 2, ALL-B/ALL-T/AML at rank 3).

Each rule runs with ``random_state`` 0..SEEDS-1 and is compared with the exact rule of the same
``random_state``. The row "exact, another seed" compares the exact rule of one ``random_state``
with that of the next: the noise floor, what the random starts alone change.

    PYTHONPATH=. python benchmarks/stopping_rule.py --runs 30 --seeds 3 --out benchmarks/results/stopping_rule.tsv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bionmf
from bionmf.core.consensus import misassigned

KNOWN = {2: "ALL_AML", 3: "class3"}


def rules(n_stables, tols) -> dict[str, dict]:
    exact = dict(stop="connectivity", check_interval=10, n_stable=40)
    out = {EXACT: dict(exact)}
    for n_stable in n_stables:
        out[f"connectivity n_stable={n_stable}"] = dict(exact, n_stable=n_stable)
    for tol in tols:
        out[f"objective tol={tol:g}"] = dict(stop="objective", check_interval=10, tol=tol)
    return out


EXACT = "exact (n_stable=40)"
NOISE = "exact, another seed (noise floor)"


def compare(nmf, reference, ranks, adata) -> dict:
    """How far one survey is from a reference survey, and from the known classes."""
    row = {
        "d coph": {k: float(nmf["metrics"].loc[k, "cophenetic"] - reference["metrics"].loc[k, "cophenetic"])
                   for k in ranks},
        "d C": max(float(np.abs(nmf["consensus"][str(k)] - reference["consensus"][str(k)]).max()) for k in ranks),
        "differ": {k: misassigned(nmf["clusters"][str(k)], reference["clusters"][str(k)]) for k in ranks},
        "wrong": {k: misassigned(nmf["clusters"][str(k)], adata.obs[c]) for k, c in KNOWN.items() if k in ranks},
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs=2, default=[2, 6], metavar=("LOW", "HIGH"))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=1, help="random_state 0..SEEDS-1, each rule on each")
    parser.add_argument("--n-stable", type=int, nargs="+", default=[20, 10, 5])
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-3, 1e-4, 1e-5])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write the table here (TSV)")
    args = parser.parse_args()
    ranks = list(range(args.ranks[0], args.ranks[1] + 1))
    seeds = list(range(args.seeds))
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=[2], n_runs=2, solver={"max_iter": 20}, verbose=False, copy=True)  # compile

    surveys: dict[str, dict[int, tuple]] = {}
    for name, options in rules(args.n_stable, args.tols).items():
        surveys[name] = {}
        for seed in seeds:
            start, cpu = time.perf_counter(), time.process_time()
            result = bionmf.tl.nmf(adata, ranks=ranks, n_runs=args.runs, n_jobs=args.n_jobs, random_state=seed,
                                   verbose=False, copy=True, solver=options)
            surveys[name][seed] = (result.uns["nmf"], time.perf_counter() - start, time.process_time() - cpu)
            print(f"{name}, random_state {seed}: {surveys[name][seed][1]:.1f} s wall, "
                  f"{surveys[name][seed][2]:.1f} s CPU", flush=True)

    rows = []
    for name in [EXACT, NOISE] + [n for n in surveys if n != EXACT]:
        if name == NOISE and len(seeds) < 2:
            continue
        comparisons, iters, walls, cpus, cophs = [], [], [], [], []
        for seed in seeds:
            if name == NOISE:
                nmf, wall, cpu = surveys[EXACT][(seed + 1) % len(seeds)]
            else:
                nmf, wall, cpu = surveys[name][seed]
            comparisons.append(compare(nmf, surveys[EXACT][seed][0], ranks, adata))
            iters.append(float(nmf["metrics"]["n_iter"].mean()))
            walls.append(wall)
            cpus.append(cpu)
            cophs.append(nmf["metrics"]["cophenetic"])
        row = {
            "rule": name,
            "mean iter": float(np.mean(iters)),
            "wall s": float(np.mean(walls)),
            "CPU s": float(np.mean(cpus)),
            "max |d coph|": max(abs(v) for c in comparisons for v in c["d coph"].values()),
            "mean d coph": float(np.mean([v for c in comparisons for v in c["d coph"].values()])),
            "max |d C|": max(c["d C"] for c in comparisons),
        }
        mean_coph = pd.concat(cophs, axis=1).mean(axis=1)
        for k in ranks:
            row[f"coph k{k}"] = float(mean_coph.loc[k])
        for k in ranks:
            row[f"differ k{k}"] = max(c["differ"][k] for c in comparisons)
        for k, column in KNOWN.items():
            if k in ranks:
                row[f"wrong {column} k{k}"] = max(c["wrong"][k] for c in comparisons)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("rule")
    print(f"Golub, ranks {ranks[0]}-{ranks[-1]}, {args.runs} runs, random_state {seeds}, {args.n_jobs} threads. "
          "d: difference from the exact rule with the same random_state (max or mean over seeds and ranks); "
          "coph: mean over seeds; differ/wrong: most samples over seeds")
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.precision", 4):
        print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, sep="\t")


if __name__ == "__main__":
    main()
