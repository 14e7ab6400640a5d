r"""Does a cross-validated rank rule recover planted ranks better than the consensus rules?

On a grid of simulated data sets (bulk ``bionmf.datasets.simulate`` and single-cell counts
``bionmf.datasets.simulate_singlecell``; planted ranks, difficulties, seeds), runs on each data set

- the default survey (``bionmf.tl.nmf``: brunet, ``--runs`` runs per rank) and records the rank
  every consensus rule picks;
- both cross-validation schemes of :mod:`bionmf.core.crossval` (``--cv-runs`` folds per rank, KL
  loss, the survey's loss) and the rank every cross-validated rule picks (``cv_stable`` reads the
  same survey's dispersion).

Difficulty (the "thirds" of the grid) is fixed by the simulation parameters before any rule runs
(``DIFFICULTIES``): bulk easy/medium/hard are those of ``benchmarks/rank_rules.py``; single-cell
easy/medium/hard lower the programs' fold change and library size. Prints, per rule, the data sets
whose planted rank it recovered per difficulty, the survey's and each scheme's time, and writes the
long table to --out.

With --out it also saves what new rules need, so that they are evaluated on the saved grid without
refitting (``benchmarks/rank_grid_rules.py``): every data set's whole per-rank metrics table
(``<out>_tables.tsv``: the consensus figures, ``purity``/``entropy`` of each rank's clusters
against the planted groups, ``<scheme>_cv_error``/``_sd``/``_se`` of every cross-validation
variant), with ``--permutations`` the permuted-data surveys' metrics (``<out>_null.tsv``, one row
per permutation and rank) and the consensus matrices, clusters and planted groups
(``<out>_consensus.npz``). ``--log-schemes bicross`` adds the bi-cross-validation of log1p of the
data with the Frobenius loss (``logbicross``); ``--bulk-log2`` surveys log2(1 + x) of the bulk data.

The saved grid in ``benchmarks/rank_grid/`` was made so, one process, one thread, in 13 and 16 minutes:

    PYTHONPATH=. NUMBA_NUM_THREADS=1 python benchmarks/rank_cv.py --schemes bicross --log-schemes bicross \
        --permutations 1 --n-jobs 1 --out benchmarks/rank_grid/rank_cv.tsv
    PYTHONPATH=. NUMBA_NUM_THREADS=1 python benchmarks/rank_cv.py --sc-planted --bulk-log2 --schemes bicross \
        --log-schemes bicross --permutations 1 --n-jobs 1 --out benchmarks/rank_grid/rank_cv_log2.tsv

Every data set is seeded, so the grid can be split into processes (e.g. ``--seeds 0`` and
``--seeds 1``) and the picks summarized together:

    python benchmarks/rank_cv.py --summarize a.tsv b.tsv
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bionmf
from bionmf.core import crossval as cv

DIFFICULTIES = {
    "bulk": {
        "easy": dict(fold_change=3.0, noise=0.3, mixing=0.0),
        "medium": dict(fold_change=2.0, noise=0.5, mixing=0.1),
        "hard": dict(fold_change=1.6, noise=0.6, mixing=0.2),
    },
    "singlecell": {
        "easy": dict(de_log_fold=1.5, library_size=2000.0),
        "medium": dict(de_log_fold=1.0, library_size=1000.0),
        "hard": dict(de_log_fold=0.7, library_size=600.0),
    },
}
LEVELS = ("easy", "medium", "hard")


def simulate(kind: str, planted: int, level: str, seed: int, args) -> tuple[np.ndarray, object]:
    if kind == "bulk":
        adata = bionmf.datasets.simulate(n_samples=args.samples, n_genes=args.genes, rank=planted,
                                         random_state=seed, **DIFFICULTIES[kind][level])
    else:
        # one activity program on top of planted - 1 cell types
        adata = bionmf.datasets.simulate_singlecell(n_cells=args.cells, n_genes=args.genes,
                                                    n_identities=planted - 1, n_activities=1,
                                                    de_fraction=0.04, random_state=seed,
                                                    **DIFFICULTIES[kind][level])
        keep = np.asarray(adata.X.sum(axis=0)).ravel() > 0
        adata = adata[:, keep].copy()
        # small enough to hold dense, where the KL kernels are fastest
        adata.X = adata.X.toarray().astype(np.float64)
    return adata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk-planted", type=int, nargs="*", default=[2, 3, 4, 6])
    parser.add_argument("--sc-planted", type=int, nargs="*", default=[3, 5])
    parser.add_argument("--ranks", type=int, nargs=2, default=[2, 8], metavar=("LOW", "HIGH"))
    parser.add_argument("--runs", type=int, default=10, help="survey runs per rank")
    parser.add_argument("--cv-runs", type=int, default=4, help="cross-validation runs (folds) per rank")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1], help="bulk seeds")
    parser.add_argument("--sc-seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--genes", type=int, default=400)
    parser.add_argument("--schemes", nargs="+", default=list(cv.SCHEMES),
                        help="cross-validation of the data as surveyed (KL loss)")
    parser.add_argument("--log-schemes", nargs="*", default=[],
                        help="cross-validation of log1p of the data (Frobenius loss), e.g. bicross")
    parser.add_argument("--permutations", type=int, default=0,
                        help="permuted-data surveys per data set (tl.nmf n_permutations), for null-referenced rules")
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS, help="difficulties to run")
    parser.add_argument("--cv-folds", type=int, default=2,
                        help="bi-cross-validation: groups of samples and of genes (one block of folds x folds held out)")
    parser.add_argument("--holdout", type=float, default=cv.DEFAULT_HOLDOUT,
                        help="speckled cross-validation: share of the entries held out")
    parser.add_argument("--bulk-log2", action="store_true",
                        help="survey (and cross-validate) log2(1 + x) of the bulk data instead of the linear values")
    parser.add_argument("--n-jobs", type=int, default=None, help="survey threads (tl.nmf n_jobs)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--summarize", type=Path, nargs="+", default=None,
                        help="only print the summary of tables written by --out (e.g. of shards run apart)")
    args = parser.parse_args()
    if args.summarize:
        tables = [pd.read_csv(p, sep="\t") for p in args.summarize]
        times = [pd.read_csv(p.with_name(p.stem + "_times.tsv"), sep="\t") for p in args.summarize]
        summarize(pd.concat(tables, ignore_index=True), pd.concat(times, ignore_index=True))
        return

    ranks = range(args.ranks[0], args.ranks[1] + 1)
    grid = [("bulk", p, lv, s) for p, lv, s in itertools.product(args.bulk_planted, args.levels, args.seeds)]
    grid += [("singlecell", p, lv, s) for p, lv, s in itertools.product(args.sc_planted, args.levels, args.sc_seeds)]
    rows, curves, times, tables, nulls, arrays = [], [], [], [], [], {}
    start = time.perf_counter()
    for i, (kind, planted, level, seed) in enumerate(grid, start=1):
        adata = simulate(kind, planted, level, seed, args)
        if kind == "bulk" and args.bulk_log2:
            # the simulated noise is multiplicative: on the log scale it is the same for every gene
            adata.X = np.log2(adata.X + 1.0)
        t0 = time.perf_counter()
        truth = "group" if kind == "bulk" else "identity"
        bionmf.tl.nmf(adata, ranks=ranks, n_runs=args.runs, random_state=seed, verbose=False,
                      n_jobs=args.n_jobs, n_permutations=args.permutations, classes=truth)
        # the real survey's share: each permuted copy costs about as much again
        t_survey = (time.perf_counter() - t0) / (1 + args.permutations)
        metrics = adata.uns["nmf"]["metrics"].copy()
        picks = dict(adata.uns["nmf"]["rank_rules"])
        timing = dict(kind=kind, planted=planted, difficulty=level, seed=seed, survey_s=t_survey)
        ident = dict(kind=kind, planted=planted, difficulty=level, seed=seed)
        saved = metrics.drop(columns="chosen", errors="ignore")
        variants = [(scheme, adata.X, "kullback-leibler") for scheme in args.schemes]
        variants += [(f"log{scheme}", np.log1p(adata.X), "frobenius") for scheme in args.log_schemes]
        for name_cv, X_cv, loss in variants:
            scheme = name_cv.removeprefix("log")
            t0 = time.perf_counter()
            res = cv.crossval_ranks(X_cv, ranks, args.cv_runs, random_state=seed, scheme=scheme, loss=loss,
                                    folds=args.cv_folds, holdout=args.holdout)
            timing[f"{name_cv}_s"] = time.perf_counter() - t0
            table = metrics.join(cv.cv_table(res))
            for name, rule in cv.CV_RULES.items():
                picks[f"{name_cv}:{name}"] = rule(table)
            picks[f"{name_cv}:cv_stable_cophenetic"] = cv.cv_stable(table, column="cophenetic")
            saved = saved.join(cv.cv_table(res).add_prefix(f"{name_cv}_"))
            for k, row in cv.cv_table(res).iterrows():
                curves.append(dict(**ident, scheme=name_cv, rank=k, **row.to_dict()))
        for k, row in saved.iterrows():
            tables.append(dict(**ident, rank=int(k), **row.to_dict()))
        if "null_metrics_permutations" in adata.uns["nmf"]:
            for _, row in adata.uns["nmf"]["null_metrics_permutations"].iterrows():
                nulls.append(dict(**ident, **row.to_dict()))
        tag = f"{kind}_{planted}_{level}_{seed}"
        arrays[f"{tag}_truth"] = adata.obs[truth].cat.codes.to_numpy()
        for k in ranks:
            arrays[f"{tag}_consensus_{k}"] = np.asarray(adata.uns["nmf"]["consensus"][str(k)], dtype=np.float32)
            arrays[f"{tag}_clusters_{k}"] = np.asarray(adata.uns["nmf"]["clusters"][str(k)]).astype(np.int16)
        times.append(timing)
        for rule, chosen in picks.items():
            rows.append(dict(kind=kind, planted=planted, difficulty=level, seed=seed, rule=rule, chosen=int(chosen)))
        cv_picks = {r: c for r, c in picks.items() if ":" in r}
        print(f"[{i}/{len(grid)}] {kind} planted {planted} {level} seed {seed}: {cv_picks} "
              f"dispersion {picks.get('max_dispersion')} ({time.perf_counter() - start:.0f} s)", flush=True)
        if args.out:
            _write(args.out, rows, curves, times, tables, nulls, arrays)

    if args.out:
        _write(args.out, rows, curves, times, tables, nulls, arrays)
    summarize(pd.DataFrame(rows), pd.DataFrame(times))


def summarize(table: pd.DataFrame, t: pd.DataFrame) -> None:
    """Print the data sets each rule recovered per difficulty, and the cost of the CV."""
    table = table.copy()
    table["recovered"] = table["planted"] == table["chosen"]
    counts = table.pivot_table(index="rule", columns="difficulty", values="recovered", aggfunc="sum")
    totals = table.pivot_table(index="rule", columns="difficulty", values="recovered", aggfunc="count")
    summary = pd.DataFrame(index=counts.index)
    for level in [lv for lv in LEVELS if lv in counts.columns]:
        summary[level] = [f"{int(c)}/{int(t)}" for c, t in zip(counts[level], totals[level])]
    summary["all"] = [f"{int(c)}/{int(t)}" for c, t in zip(counts.sum(axis=1), totals.sum(axis=1))]
    summary["_n"] = counts.sum(axis=1)
    print("\nData sets whose planted rank each rule recovered (bulk and single-cell):")
    print(summary.sort_values("_n", ascending=False).drop(columns="_n").to_string())
    cols = [c for c in t.columns if c.endswith("_s")]
    print("\nCross-validation time / survey time (median over data sets): "
          + ", ".join(f"{c[:-2]} {np.median(t[c] / t['survey_s']):.2f}" for c in cols if c != "survey_s"))


def _write(out: Path, rows, curves, times, tables, nulls, arrays) -> None:
    """The picks (``out``), the held-out error curves (``_curves``), the times (``_times``), and
    for evaluating new rules without refitting: every data set's whole per-rank metrics table
    (``_tables``: consensus figures, purity/entropy against the planted groups, ``<scheme>_cv_*``),
    the permuted-data surveys' metrics (``_null``, one row per permutation and rank) and the
    consensus matrices, clusters and planted groups (``_consensus.npz``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(tables).to_csv(out.with_name(out.stem + "_tables.tsv"), sep="\t", index=False)
    if nulls:
        pd.DataFrame(nulls).to_csv(out.with_name(out.stem + "_null.tsv"), sep="\t", index=False)
    np.savez_compressed(out.with_name(out.stem + "_consensus.npz"), **arrays)
    table = pd.DataFrame(rows)
    table["recovered"] = table["planted"] == table["chosen"]
    table.to_csv(out, sep="\t", index=False)
    pd.DataFrame(curves).to_csv(out.with_name(out.stem + "_curves.tsv"), sep="\t", index=False)
    pd.DataFrame(times).to_csv(out.with_name(out.stem + "_times.tsv"), sep="\t", index=False)


if __name__ == "__main__":
    main()
