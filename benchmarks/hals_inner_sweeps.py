"""Accelerated HALS (``solver={"inner_sweeps": n}``) against plain HALS: CPU time and stability.

    PYTHONPATH=. python3 benchmarks/hals_inner_sweeps.py pbmc3k --sweeps 1 3 --seeds 0 1 2 3 4
    PYTHONPATH=. python3 benchmarks/hals_inner_sweeps.py simulated --cells 20000 --sweeps 1 3 --seeds 0 1 2 3

One child process per (data, sweeps, seed), so each figure is the CPU time (user + system) of one
survey end to end after reading: scaling the genes, every run, the component consensus.
pbmc3k: ranks 5, 7, 9, 11, 20 runs, the 2000 most variable genes, as benchmarks/singlecell_pbmc3k.py.
simulated: ``bionmf.datasets.simulate_singlecell`` (2000 genes, 8 identity and 2 activity
programs), k = 10, 20 runs. Both with bionmf's component defaults (hals, init "mean", gradient rule).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _singlecell_common import REPO, SHARED_DATA, highly_variable_genes, run_bionmf  # noqa: E402


def child(data: str, cells: int, sweeps: int, seed: int, workdir: Path) -> dict:
    import anndata as ad

    if data == "pbmc3k":
        path = SHARED_DATA / "pbmc3k" / "pbmc3k_raw_counts.h5ad"
        genes, ranks = highly_variable_genes(ad.read_h5ad(path), 2000), [5, 7, 9, 11]
    else:
        from bionmf.datasets import simulate_singlecell

        path = workdir / f"simulated_{cells}.h5ad"
        if not path.exists():
            simulate_singlecell(n_cells=cells, n_genes=2000, n_identities=8, n_activities=2,
                                random_state=0).write_h5ad(path)
        genes, ranks = None, [10]
    start = time.process_time()
    result = run_bionmf(path, genes, ranks, 20, seed=seed, inner_sweeps=sweeps)
    metrics = result["adata"].uns["nmf"]["metrics"]
    return {"data": data, "sweeps": sweeps, "seed": seed, "cpu_s": round(time.process_time() - start, 2),
            "stability": [round(float(x), 4) for x in metrics["stability"]],
            "n_iter": [round(float(x), 1) for x in metrics["n_iter"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", choices=["pbmc3k", "simulated"])
    parser.add_argument("--cells", type=int, default=20000)
    parser.add_argument("--sweeps", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bionmf-hals-sweeps"))
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(child(args.data, args.cells, args.child[0], args.child[1], args.workdir)))
        return
    rows = []
    for seed in args.seeds:
        for sweeps in args.sweeps:
            out = subprocess.run([sys.executable, __file__, args.data, "--cells", str(args.cells), "--workdir",
                                  str(args.workdir), "--child", str(sweeps), str(seed)],
                                 capture_output=True, text=True, check=True, cwd=REPO)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    for sweeps in args.sweeps:
        mine = [r for r in rows if r["sweeps"] == sweeps]
        cpu = sum(r["cpu_s"] for r in mine) / len(mine)
        stability = [round(sum(r["stability"][i] for r in mine) / len(mine), 4) for i in range(len(mine[0]["stability"]))]
        print(f"inner_sweeps={sweeps}: mean CPU {cpu:.1f} s, mean stability per rank {stability}")


if __name__ == "__main__":
    main()
