"""Which rank rule recovers a planted rank? A grid of simulated difficulties (bionmf.datasets.simulate).

For each planted rank, difficulty and seed, runs the default survey (brunet, ranks 2-7) and records
the rank every rule picks. Prints, per rule, the share of data sets whose planted rank it recovered,
overall and per difficulty, and writes the long table to --out.

    python benchmarks/rank_rules.py --runs 20 --seeds 3 --out benchmarks/results/rank_rules.tsv
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import pandas as pd

import bionmf

DIFFICULTIES = {
    "easy": dict(fold_change=3.0, noise=0.3, mixing=0.0),
    "medium": dict(fold_change=2.0, noise=0.5, mixing=0.1),
    "hard": dict(fold_change=1.6, noise=0.6, mixing=0.2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=int, nargs="+", default=[2, 3, 4, 5])
    parser.add_argument("--ranks", type=int, nargs=2, default=[2, 7], metavar=("LOW", "HIGH"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    rows = []
    grid = list(itertools.product(args.planted, DIFFICULTIES, range(args.seeds)))
    start = time.perf_counter()
    for i, (planted, level, seed) in enumerate(grid, start=1):
        adata = bionmf.datasets.simulate(
            n_samples=args.samples, n_genes=args.genes, rank=planted, random_state=seed,
            **DIFFICULTIES[level],
        )
        bionmf.tl.nmf(adata, ranks=range(args.ranks[0], args.ranks[1] + 1), n_runs=args.runs,
                      random_state=seed, verbose=False)
        for rule, chosen in adata.uns["nmf"]["rank_rules"].items():
            rows.append(dict(planted=planted, difficulty=level, seed=seed, rule=rule, chosen=chosen))
        print(f"[{i}/{len(grid)}] planted {planted} {level} seed {seed}: "
              f"{adata.uns['nmf']['rank_rules']} ({time.perf_counter() - start:.0f} s)", flush=True)

    table = pd.DataFrame(rows)
    table["recovered"] = table["planted"] == table["chosen"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, sep="\t", index=False)
    summary = table.pivot_table(index="rule", columns="difficulty", values="recovered", aggfunc="mean")
    summary["all"] = table.groupby("rule")["recovered"].mean()
    print("\nShare of data sets whose planted rank each rule recovered:")
    print(summary[["easy", "medium", "hard", "all"]].round(2).sort_values("all", ascending=False).to_string())


if __name__ == "__main__":
    main()
