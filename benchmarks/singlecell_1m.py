"""A million simulated cells through the Snakemake workflow: time and peak memory of every job.

    PYTHONPATH=. nice -n 19 python3 benchmarks/singlecell_1m.py --runs 20 --runs-per-job 2     # 1,000,000 cells
    PYTHONPATH=. nice -n 19 python3 benchmarks/singlecell_1m.py --runs 2 --runs-per-job 1 --max-iter 20 \\
        --workdir /tmp/bionmf_1m_quick                                     # every job's memory, in minutes
    PYTHONPATH=. python3 benchmarks/singlecell_1m.py --collect-only             # table of a finished run
    PYTHONPATH=. nice -n 19 python3 benchmarks/singlecell_1m.py --cells 50000 --runs 10 --runs-per-job 2 \\
        --workdir /tmp/sc50k-slurm --slurm                                 # on the test SLURM cluster

Counts: :func:`bionmf.datasets.simulate_singlecell` with 10 planted programs (8 identity, 2
activity) over 2000 genes and a mean library size of 250 (``--library-size``), which leaves about
9 % of the matrix stored: near pbmc3k's 2000 most variable genes (8.6 %), where the default 600
gives 16 %. The simulation makes its cells in blocks of 10,000, so it never holds a dense
cells x genes array. The counts are written as ``counts.h5ad`` in ``--workdir`` (kept: a second
run reuses them), with a config that runs the component consensus (``preset: singlecell``) at
rank ``--rank`` with ``--runs`` runs split into jobs of ``--runs-per-job`` runs, no
cross-validation; then ``snakemake`` runs the whole workflow with ``--cores`` (default 1: one
job at a time, one thread each).

Every job ends its log with its CPU time and peak resident memory (``getrusage``, exact), and
every rule writes a Snakemake ``benchmark:`` file (wall seconds; its ``max_rss`` and
``cpu_time`` are sampled every 30 s and undercount); the table printed at the end (and written
to ``jobs.tsv`` and ``summary.json`` in the work directory) lists them per job, with totals.

``--slurm``: the same through ``profiles/slurm`` on the one-node test cluster of
``tests/slurm/cluster.sh`` (started in ``WORKDIR/slurm``, as root, and stopped at the end; the
profile gets the cluster's account and short status intervals, as in ``tests/test_slurm.py``),
then SLURM's own accounting of every job (``sacct``: elapsed, CPU, MaxRSS, requested memory) in
``sacct.tsv``. Started under ``nice``, the daemons and so the jobs keep its niceness.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
DATASET = "sim"


def simulate(path: Path, *, n_cells: int, n_genes: int, library_size: float, seed: int) -> dict:
    """Write the simulated counts; returns its size and what making it cost."""
    from bionmf.datasets import simulate_singlecell

    start, cpu = time.perf_counter(), time.process_time()
    adata = simulate_singlecell(n_cells=n_cells, n_genes=n_genes, n_identities=8, n_activities=2,
                                library_size=library_size, random_state=seed)
    adata.write_h5ad(path)
    return {"cells": n_cells, "genes": n_genes, "stored": int(adata.X.nnz),
            "density": adata.X.nnz / (n_cells * n_genes), "wall_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def write_config(path: Path, *, rank: int, runs: int, runs_per_job: int, seed: int, max_iter: int | None) -> None:
    config = {
        "datasets": {DATASET: {"path": "counts.h5ad", "preset": "singlecell"}},
        "ranks": [rank],
        "n_runs": runs,
        "runs_per_job": runs_per_job,
        "random_state": seed,
        "consensus": "components",
        "crossval": None,
    }
    if max_iter is not None:  # a short survey, to measure the memory of every job quickly
        config["solver"] = {"max_iter": max_iter}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def run_workflow(workdir: Path, *, cores: int, extra: list[str], env: dict | None = None) -> dict:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", str(cores), *extra]
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    print(" ".join(command), flush=True)
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"snakemake failed ({done.returncode}); see {workdir / 'snakemake.log'}")
    return {"workflow_wall_s": wall}


CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
SACCT_FIELDS = ("JobID", "JobName", "State", "Elapsed", "TotalCPU", "MaxRSS", "ReqMem", "AllocCPUS", "Comment")


def slurm_profile(workdir: Path, account: str) -> Path:
    """profiles/slurm, with the test cluster's account and the short waits one machine allows."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"]["slurm_account"] = account
    profile.update({"latency-wait": 5, "slurm-init-seconds-before-status-checks": 2,
                    "seconds-between-status-checks": 2, "slurm-keep-successful-logs": True})
    directory = workdir / "profile"
    directory.mkdir(exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


def sacct_table(env: dict, snakemake_log: Path) -> pd.DataFrame:
    """SLURM's accounting of the jobs the run submitted: allocations and their steps."""
    ids = re.findall(r"has been submitted with SLURM jobid (\d+)", snakemake_log.read_text())
    out = subprocess.run(["sacct", "--allusers", "--noheader", "--parsable2", "--units=M",
                          f"--format={','.join(SACCT_FIELDS)}", f"--jobs={','.join(ids)}"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return pd.DataFrame([line.split("|") for line in out.splitlines() if line], columns=list(SACCT_FIELDS))


def run_on_slurm(workdir: Path, args) -> dict:
    state = workdir / "slurm"
    env = {**os.environ, "SLURM_CONF": str(state / "etc" / "slurm.conf")}
    subprocess.run(["bash", str(CLUSTER_SH), "start", str(state)], check=True,
                   env={**os.environ, "BIONMF_SLURM_NODE_CPUS": "4"})
    try:
        profile = slurm_profile(workdir, "bionmf")
        result = run_workflow(workdir, cores=args.cores, extra=["--profile", str(profile), *args.snakemake_args],
                              env=env)
        table = sacct_table(env, workdir / "snakemake.log")
        table.to_csv(workdir / "sacct.tsv", sep="\t", index=False)
        print(table.to_string(index=False))
        return result
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "stop", str(state)], check=False)


USAGE = re.compile(r"job usage: CPU ([0-9.]+) s, peak RSS ([0-9.]+) MB")


def collect(workdir: Path) -> pd.DataFrame:
    """One row per finished job: wall seconds from the rule's benchmark file, CPU seconds and peak
    RSS from the last line of its log (exact, from getrusage; the benchmark file samples both only
    every 30 s, and is kept beside them as ``bench_cpu_s``, ``bench_rss_mb``)."""
    bench = workdir / "logs" / DATASET / "benchmark"
    logs = workdir / "logs" / DATASET
    rows = []
    for path in sorted(bench.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        job = path.relative_to(bench).with_suffix("")
        log = logs / job.with_suffix(".log")  # the rules name both files alike
        found = USAGE.findall(log.read_text()) if log.exists() else []
        cpu, rss = (float(v) for v in found[-1]) if found else (float("nan"), float("nan"))
        rows.append({"job": str(job), "wall_s": float(table["s"].iloc[-1]), "cpu_s": cpu, "peak_rss_mb": rss,
                     "bench_cpu_s": float(table["cpu_time"].iloc[-1]),
                     "bench_rss_mb": float(table["max_rss"].iloc[-1])})
    if not rows:
        sys.exit(f"no benchmark files under {bench}")
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--library-size", type=float, default=250.0)
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--runs-per-job", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=None, help="solver max_iter (default: the config's)")
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bionmf_1m"))
    parser.add_argument("--collect-only", action="store_true", help="only tabulate a finished (or partial) run")
    parser.add_argument("--simulate-only", action="store_true", help="only write the counts and the config")
    parser.add_argument("--slurm", action="store_true", help="through profiles/slurm on the test cluster")
    parser.add_argument("--snakemake-args", nargs=argparse.REMAINDER, default=[],
                        help="passed on to snakemake (e.g. --profile DIR); the rest of the command line")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    summary_path = workdir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if not args.collect_only:
        counts = workdir / "counts.h5ad"
        if not counts.exists():
            summary["simulation"] = simulate(counts, n_cells=args.cells, n_genes=args.genes,
                                             library_size=args.library_size, seed=args.seed)
            print("simulated", summary["simulation"], flush=True)
        write_config(workdir / "config.yaml", rank=args.rank, runs=args.runs, runs_per_job=args.runs_per_job,
                     seed=args.seed, max_iter=args.max_iter)
        if args.simulate_only:
            summary_path.write_text(json.dumps(summary, indent=2))
            return
        if args.slurm:
            summary.update(run_on_slurm(workdir, args))
        else:
            summary.update(run_workflow(workdir, cores=args.cores, extra=args.snakemake_args))
    jobs = collect(workdir)
    jobs.to_csv(workdir / "jobs.tsv", sep="\t", index=False)
    factorize = jobs[jobs["job"].str.startswith("factorize/")]
    summary["totals"] = {
        "jobs": len(jobs), "cpu_s": float(jobs["cpu_s"].sum()), "wall_s_sum": float(jobs["wall_s"].sum()),
        "peak_rss_mb": float(jobs["peak_rss_mb"].max()), "factorize_jobs": len(factorize),
        "factorize_cpu_s": float(factorize["cpu_s"].sum()),
    }
    summary_path.write_text(json.dumps(summary, indent=2))
    print(jobs.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
