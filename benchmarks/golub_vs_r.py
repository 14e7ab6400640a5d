"""bionmf against the R package NMF on the same rank survey of the Golub data, in one run.

Both programs run Brunet's algorithm (KL multiplicative updates) on the 38 x 5000 Golub matrix
(``esGolub`` in R, ``bionmf.datasets.golub()`` here: the same values), ranks 2-6, 10 runs each:

* R: ``tests/reference/r_nmf_survey.R`` in a subprocess, runs sequential (one core). Reported
  twice: the seconds of the ``nmf()`` calls alone, as R's ``system.time`` measures them, and the
  wall time of the whole ``Rscript`` process (R start-up and package loading included).
* bionmf: ``tl.nmf`` as a user calls it, timed around the call (solver, consensus, metrics), after
  one warm-up call that compiles (or loads from numba's cache) the kernels; that first call is
  reported on its own. Configurations: the library's defaults with 2 threads and with 1 thread,
  Brunet's exact stopping rule (``stop="connectivity"``, ``n_stable=40``), float64, and the
  connectivity rule with shorter ``n_stable`` (``--n-stable``, default 20 and 10).

For every configuration the table gives the wall time and the CPU time (all threads; other jobs on
a busy machine disturb it much less than wall time), the speed-up over R's ``nmf()`` calls in
both, the cophenetic correlation per rank, the mean iterations per run, and how many samples'
consensus clusters differ from those of the exact-rule run and from R's (best one-to-one matching
of the clusters), per rank.

    PYTHONPATH=. python benchmarks/golub_vs_r.py --repeat 3 --out benchmarks/results/golub_vs_r.tsv
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bionmf
from bionmf.core.consensus import misassigned

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE.parent / "tests" / "reference" / "r_nmf_survey.R"


def run_r(ranks, runs, seed) -> dict:
    rscript = shutil.which("Rscript")
    if rscript is None:
        sys.exit("Rscript not found; run tests/install_system_deps.sh")
    with tempfile.TemporaryDirectory() as tmp:
        command = [rscript, str(R_SCRIPT), f"--out={tmp}", f"--ranks={','.join(map(str, ranks))}",
                   f"--nrun={runs}", f"--seed={seed}"]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - start
        metrics = pd.read_csv(Path(tmp) / "metrics.tsv", sep="\t", index_col="rank")
        clusters = pd.read_csv(Path(tmp) / "clusters.tsv", sep="\t", index_col="sample")
        session = pd.read_csv(Path(tmp) / "session.tsv", sep="\t").iloc[0]
    return dict(
        seconds=float(metrics["seconds"].sum()),
        cpu=float(metrics["cpu_seconds"].sum()),
        wall=wall,
        cophenetic=metrics["cophenetic"].to_dict(),
        clusters={k: clusters[str(k)] for k in ranks},
        version=f"{session['R']}, NMF {session['NMF']}",
    )


def run_bionmf(adata, ranks, runs, repeat, n_jobs=None, **solver) -> dict:
    times, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = bionmf.tl.nmf(adata, ranks=ranks, n_runs=runs, random_state=0, verbose=False,
                               copy=True, n_jobs=n_jobs, solver=solver)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    nmf = result.uns["nmf"]
    return dict(
        seconds=float(np.median(times)),
        cpu=float(np.median(cpus)),
        times=times,
        cophenetic=nmf["metrics"]["cophenetic"].to_dict(),
        n_iter=nmf["metrics"]["n_iter"].to_dict(),
        clusters={k: pd.Series(nmf["clusters"][str(k)], index=adata.obs_names) for k in ranks},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs=2, default=[2, 6], metavar=("LOW", "HIGH"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats of each bionmf configuration (median reported)")
    parser.add_argument("--r-seed", type=int, default=123456)
    parser.add_argument("--n-stable", type=int, nargs="*", default=[20, 10],
                        help="also time the connectivity rule with these n_stable (shorter than Brunet's 40)")
    parser.add_argument("--skip-r", action="store_true", help="time bionmf only")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (TSV)")
    args = parser.parse_args()
    ranks = list(range(args.ranks[0], args.ranks[1] + 1))
    adata = bionmf.datasets.golub()

    # first calls: numba compiles the kernels (or loads them from its on-disk cache)
    for dtype in ("float32", "float64"):
        start = time.perf_counter()
        bionmf.tl.nmf(adata, ranks=[2], n_runs=2, solver={"max_iter": 20, "dtype": dtype}, verbose=False, copy=True)
        print(f"first call ({dtype}, JIT compile or cache load): {time.perf_counter() - start:.2f} s", flush=True)

    exact = dict(stop="connectivity", check_interval=10, n_stable=40)
    configs = {
        "bionmf default, 2 threads": dict(n_jobs=2),
        "bionmf default, 1 thread": dict(n_jobs=1),
        "bionmf exact rule, 2 threads": dict(n_jobs=2, **exact),
        "bionmf exact rule float64, 2 threads": dict(n_jobs=2, dtype="float64", **exact),
    }
    for n_stable in args.n_stable:
        configs[f"bionmf n_stable={n_stable}, 2 threads"] = dict(n_jobs=2, **dict(exact, n_stable=n_stable))
    results = {}
    for name, options in configs.items():
        results[name] = run_bionmf(adata, ranks, args.runs, args.repeat, **options)
        times = ", ".join(f"{t:.2f}" for t in results[name]["times"])
        print(f"{name}: {results[name]['seconds']:.2f} s wall (repeats: {times}), "
              f"{results[name]['cpu']:.2f} s CPU", flush=True)
    r = None
    if not args.skip_r:
        print(f"R package NMF: {len(ranks)} ranks x {args.runs} runs, sequential ...", flush=True)
        r = run_r(ranks, args.runs, args.r_seed)
        print(f"R: nmf() {r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU; Rscript process {r['wall']:.1f} s wall "
              f"({r['version']})", flush=True)

    rows = []
    reference = results["bionmf exact rule, 2 threads"]
    for name, res in [("R NMF (nmf() calls)", r)] + list(results.items()):
        if res is None:
            continue
        row = {"configuration": name, "wall s": res["seconds"], "CPU s": res["cpu"]}
        if r is not None:
            row["R/this wall"] = r["seconds"] / res["seconds"]
            row["R/this CPU"] = r["cpu"] / res["cpu"]
        for k in ranks:
            row[f"coph k{k}"] = res["cophenetic"][k]
        if "n_iter" in res:
            row["mean iter"] = float(np.mean(list(res["n_iter"].values())))
        row["differ vs exact (k2..)"] = " ".join(
            str(misassigned(res["clusters"][k], reference["clusters"][k].loc[res["clusters"][k].index]))
            for k in ranks
        )
        if r is not None:
            row["differ vs R (k2..)"] = " ".join(
                str(misassigned(res["clusters"][k], r["clusters"][k].loc[res["clusters"][k].index]))
                for k in ranks
            )
        rows.append(row)
    table = pd.DataFrame(rows).set_index("configuration")
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        print(table)
    if r is not None:
        print(f"R: nmf() calls {r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU; the whole Rscript process "
              f"(start-up, package and data loading included) {r['wall']:.1f} s wall; "
              f"R wall incl. start-up / bionmf default (2 threads): "
              f"{r['wall'] / results['bionmf default, 2 threads']['seconds']:.1f}x")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, sep="\t")


if __name__ == "__main__":
    main()
