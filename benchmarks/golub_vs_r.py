"""bionmf against the R package NMF on the same rank survey of the Golub data, in one run.

Both programs run Brunet's method (KL multiplicative updates, the connectivity stop of R's
``nmf.stop.connectivity``) on the 38 x 5000 Golub matrix (``esGolub`` in R,
``bionmf.datasets.golub()`` here: the same values):

* P1 (default): ranks 2-6, 10 runs each. ``--p2``: ranks 2-10, 50 runs each; R then runs
  ``--r-runs`` (default 5) runs per rank and its ``nmf()`` seconds are scaled by 50 / r-runs (R's
  runs are sequential and independent, so its time grows linearly with the runs; said in the output).
* R: ``tests/reference/r_nmf_survey.R`` in a subprocess, runs sequential (one core): the seconds of
  the ``nmf()`` calls (R's ``system.time``) and the whole ``Rscript`` process (start-up, package and
  data loading included).
* bionmf, whole process: ``python -c "import bionmf; tl.nmf(golub, ...)"`` in a subprocess, import
  and data loading included, after calls that compile every rank's kernels into numba's cache
  (reported). Its defaults: Brunet's rule (``n_stable=40``), float32, all cores.
* bionmf, in process: ``tl.nmf`` timed around the call (median of ``--repeat``) for the default, the
  speed option ``n_stable=20``, float64 and one thread.

The ratios printed: R's whole process over bionmf's whole process (the headline), and R's
``nmf()`` calls over bionmf's ``tl.nmf`` call, wall and CPU.

    PYTHONPATH=. python benchmarks/golub_vs_r.py --repeat 3            # P1
    PYTHONPATH=. python benchmarks/golub_vs_r.py --repeat 3 --p2       # P2
"""

from __future__ import annotations

import argparse
import os
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


WHOLE_PROCESS = """
import sys, time
start = time.perf_counter()
import bionmf
adata = bionmf.datasets.golub()
bionmf.tl.nmf(adata, ranks=range({low}, {high} + 1), n_runs={runs}, random_state=0, verbose=False)
print(time.perf_counter() - start)
"""


def run_whole_process(ranks, runs) -> tuple[float, float]:
    """Wall seconds of a fresh Python process that imports bionmf and runs the survey at its
    defaults (measured outside, so interpreter start-up is included), and CPU seconds of it."""
    code = WHOLE_PROCESS.format(low=ranks[0], high=ranks[-1], runs=runs)
    before = os.times()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


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
    parser.add_argument("--p2", action="store_true", help="ranks 2-10 x 50 runs (R on --r-runs, scaled)")
    parser.add_argument("--ranks", type=int, nargs=2, default=None, metavar=("LOW", "HIGH"))
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--r-runs", type=int, default=None, help="R's runs per rank (its time is scaled to --runs)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats of each bionmf measure (median reported)")
    parser.add_argument("--r-seed", type=int, default=123456)
    parser.add_argument("--skip-r", action="store_true", help="time bionmf only")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (TSV)")
    args = parser.parse_args()
    low, high = args.ranks or ((2, 10) if args.p2 else (2, 6))
    runs = args.runs or (50 if args.p2 else 10)
    r_runs = args.r_runs or (5 if args.p2 else runs)
    ranks = list(range(low, high + 1))
    adata = bionmf.datasets.golub()

    # first calls: numba compiles the kernels into its on-disk cache (or loads them from it); every
    # rank of the survey, since each rank has kernels of its own
    for dtype in ("float32", "float64"):
        start = time.perf_counter()
        bionmf.tl.nmf(adata, ranks=ranks, n_runs=2, solver={"max_iter": 20, "dtype": dtype}, verbose=False, copy=True)
        print(f"first call ({dtype}, JIT compile or cache load): {time.perf_counter() - start:.2f} s", flush=True)

    walls, cpus = zip(*(run_whole_process(ranks, runs) for _ in range(args.repeat)))
    whole = dict(seconds=float(np.median(walls)), cpu=float(np.median(cpus)))
    print(f"bionmf whole process (import, data, survey at the defaults): {whole['seconds']:.2f} s wall "
          f"(repeats: {', '.join(f'{w:.2f}' for w in walls)}), {whole['cpu']:.2f} s CPU", flush=True)

    configs = {
        "bionmf default (Brunet's rule)": dict(),
        "bionmf default, 1 thread": dict(n_jobs=1),
        "bionmf n_stable=20 (speed option)": dict(n_stable=20),
        "bionmf default, float64": dict(dtype="float64"),
    }
    results = {}
    for name, options in configs.items():
        results[name] = run_bionmf(adata, ranks, runs, args.repeat, **options)
        times = ", ".join(f"{t:.2f}" for t in results[name]["times"])
        print(f"{name}: {results[name]['seconds']:.2f} s wall (repeats: {times}), "
              f"{results[name]['cpu']:.2f} s CPU", flush=True)
    r = None
    scale = runs / r_runs
    if not args.skip_r:
        print(f"R package NMF: {len(ranks)} ranks x {r_runs} runs, sequential ...", flush=True)
        r = run_r(ranks, r_runs, args.r_seed)
        start_up = r["wall"] - r["seconds"]
        r = dict(r, seconds=r["seconds"] * scale, cpu=r["cpu"] * scale, wall=start_up + r["seconds"] * scale)
        print(f"R: nmf() {r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU; Rscript process {r['wall']:.1f} s wall "
              f"({r['version']})" + (f"; R ran {r_runs} runs per rank, times scaled by {scale:g}" if scale != 1 else ""),
              flush=True)

    rows = []
    reference = results["bionmf default (Brunet's rule)"]
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
        row["differ vs default (k2..)"] = " ".join(
            str(misassigned(res["clusters"][k], reference["clusters"][k].loc[res["clusters"][k].index]))
            for k in ranks
        )
        if r is not None and scale == 1:
            row["differ vs R (k2..)"] = " ".join(
                str(misassigned(res["clusters"][k], r["clusters"][k].loc[res["clusters"][k].index]))
                for k in ranks
            )
        rows.append(row)
    table = pd.DataFrame(rows).set_index("configuration")
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        print(table)
    survey = f"ranks {low}-{high} x {runs} runs"
    if r is not None:
        print(f"{survey}: R whole process / bionmf whole process (default): {r['wall'] / whole['seconds']:.1f}x "
              f"wall ({r['wall']:.1f} s / {whole['seconds']:.2f} s); R nmf() calls / bionmf tl.nmf call: "
              f"{r['seconds'] / reference['seconds']:.1f}x wall, {r['cpu'] / reference['cpu']:.1f}x CPU"
              + (f" (R timed on {r_runs} runs per rank, scaled by {scale:g})" if scale != 1 else ""))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, sep="\t")


if __name__ == "__main__":
    main()
