"""Simulated single cells at scale: bionmf's component consensus, and cNMF where it finishes.

    PYTHONPATH=. python3 benchmarks/singlecell_100k.py                      # bionmf only
    PYTHONPATH=. python3 benchmarks/singlecell_100k.py --cnmf --cnmf-timeout 3600

Counts: ``bionmf.datasets.simulate_singlecell`` with 100,000 cells x 2000 genes and 10 planted
programs (8 identity, 2 activity). Each tool runs in a child process of its own, end to end from
the counts file on disk (read, scale every gene to unit variance, k = 10 with 20 runs, consensus,
refit usages), and reports its wall time, CPU time (user + system) and peak resident memory
(``ru_maxrss`` of the child and of its own children). bionmf's numba kernels are compiled (cached) by a small warm-up run first.
cNMF (PyPI ``cnmf``, optional, not a bionmf dependency) runs prepare, factorize with 2 workers,
combine, k-selection statistics and consensus; it is stopped after ``--cnmf-timeout`` seconds.
Recovery of the planted programs is the correlation of each planted program (scaled like the fitted
matrix) with its best-matching consensus program, and of each planted usage with the best-matching
recovered usage.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _singlecell_common import REPO, child_peak_mb, run_bionmf, run_cnmf  # noqa: E402


def simulate(path: Path, n_cells: int, n_genes: int, seed: int) -> None:
    from bionmf.datasets import simulate_singlecell

    adata = simulate_singlecell(n_cells=n_cells, n_genes=n_genes, n_identities=8, n_activities=2, random_state=seed)
    adata.write_h5ad(path)


def child_bionmf(path: Path, k: int, runs: int, seed: int, out: Path, dtype: str = "float32",
                 cnmf_rule: bool = False) -> None:
    import anndata as ad

    options = {"init": "mean", "stop": "gradient"} if cnmf_rule else {}
    res = run_bionmf(path, None, [k], runs, seed=seed, dtype=dtype, **options)
    adata = res["adata"]
    peak = child_peak_mb()
    truth = ad.read_h5ad(path, backed="r")
    planted = np.asarray(truth.varm["programs_true"]).T  # programs x genes, counts scale
    keep = truth.var_names.isin(adata.var_names)
    X = adata.layers["scaled"]
    counts = adata.X
    sd = np.asarray(counts.sum(axis=0)).ravel() / np.maximum(np.asarray(X.sum(axis=0)).ravel(), 1e-300)
    corr = match(planted[:, keep] / sd, adata.varm["nmf"].T)
    usage = match(np.asarray(truth.obsm["usage_true"]).T, adata.obsm["X_nmf"].T)
    m = adata.uns["nmf"]["metrics"]
    out.write_text(json.dumps({
        "tool": "bionmf", "time_s": res["times"]["total"], "read_s": res["times"]["read"], "peak_mb": peak,
        "stability": float(m["stability"].iloc[0]), "error": float(m["error"].iloc[0]),
        "n_iter_mean": float(m["n_iter"].iloc[0]), "planted_corr": corr, "usage_corr": usage,
    }))


def child_cnmf(path: Path, k: int, runs: int, seed: int, out: Path, workdir: Path) -> None:
    import anndata as ad

    genes = list(ad.read_h5ad(path, backed="r").var_names)
    start = time.perf_counter()
    res = run_cnmf(path, genes, [k], runs, workers=2, seed=seed, k_consensus=k, workdir=workdir)
    total = time.perf_counter() - start
    truth = ad.read_h5ad(path, backed="r")
    planted = np.asarray(truth.varm["programs_true"]).T
    corr = match(planted, res["spectra_tpm"].to_numpy())
    out.write_text(json.dumps({
        "tool": "cnmf", "time_s": total, "peak_mb": child_peak_mb(), "times": res["times"],
        "stability": float(res["stats"]["silhouette"].iloc[0]), "planted_corr": corr,
    }))


def match(planted: np.ndarray, found: np.ndarray) -> list[float]:
    """For each planted program, the best Pearson correlation with a found one."""
    c = np.corrcoef(np.vstack([planted, found]))[: planted.shape[0], planted.shape[0]:]
    return [round(float(v), 4) for v in np.nan_to_num(c).max(axis=1)]


def run_child(args: list[str], timeout: float | None) -> tuple[float, float, str]:
    """Run this script as a child process; its wall and CPU time and, if it failed, why.

    CPU time is user + system of the child and of the workers it waited for.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.run([sys.executable, __file__, *args], env=env, timeout=timeout,
                              capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, float("nan"), f"stopped after {timeout:.0f} s"
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, (proc.stderr[-2000:] if proc.returncode != 0 else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=100_000)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="bionmf's arithmetic")
    p.add_argument("--cnmf-rule", action="store_true",
                   help="bionmf with cNMF's starts and stopping rule (init='mean', stop='gradient')")
    p.add_argument("--cnmf", action="store_true", help="also run cNMF (may take hours at 100k cells)")
    p.add_argument("--cnmf-timeout", type=float, default=3600.0)
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--reuse-data", action="store_true", help="keep an existing counts.h5ad in --workdir")
    p.add_argument("--child", choices=["bionmf", "cnmf", "warmup"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child == "bionmf":
        return child_bionmf(args.data, args.k, args.runs, args.seed, args.out, args.dtype, args.cnmf_rule)
    if args.child == "cnmf":
        return child_cnmf(args.data, args.k, args.runs, args.seed, args.out, args.out.parent / "cnmf")
    if args.child == "warmup":
        return child_bionmf(args.data, 3, 2, 0, args.out)

    tmp = tempfile.TemporaryDirectory() if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    data = work / "counts.h5ad"
    if not (args.reuse_data and data.exists()):
        t = time.perf_counter()
        simulate(data, args.cells, args.genes, args.seed)
        print(f"simulated {args.cells} cells x {args.genes} genes in {time.perf_counter() - t:.1f} s", flush=True)

    small = work / "small.h5ad"
    simulate(small, 500, 200, 1)
    run_child(["--child", "warmup", "--data", str(small), "--out", str(work / "warmup.json")], None)

    results = {}
    for tool, timeout in (("bionmf", None), ("cnmf", args.cnmf_timeout)):
        if tool == "cnmf" and not args.cnmf:
            continue
        out = work / f"{tool}.json"
        wall, cpu, err = run_child(["--child", tool, "--data", str(data), "--out", str(out), "--k", str(args.k),
                                  "--runs", str(args.runs), "--seed", str(args.seed), "--dtype", args.dtype,
                                  *(["--cnmf-rule"] if args.cnmf_rule else [])], timeout)
        if out.exists():
            results[tool] = json.loads(out.read_text()) | {"wall_s": wall, "cpu_s": cpu}
        else:
            results[tool] = {"tool": tool, "wall_s": wall, "cpu_s": cpu, "failed": err}
        print(json.dumps(results[tool]), flush=True)
    if "cnmf" in results and "time_s" in results["cnmf"] and "time_s" in results["bionmf"]:
        print(f"cNMF / bionmf time: {results['cnmf']['wall_s'] / results['bionmf']['wall_s']:.1f}x")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
