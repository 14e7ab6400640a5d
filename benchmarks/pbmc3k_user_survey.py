"""One scanpy user's pbmc3k survey of issue 12 in this process: times and stabilities.

    PYTHONPATH=. python3 benchmarks/pbmc3k_user_survey.py [SEED]

``pp.normalize(preset="singlecell")`` then ``tl.nmf(ranks=[5, 7, 9, 11], n_runs=20,
consensus="components")``, nothing else named. Prints the wall and CPU time of ``tl.nmf``, the
wall time of the whole process (imports and reading included) and each rank's stability. To
compare two versions of bionmf, run it alternately from a checkout of each (``cd CHECKOUT &&
PYTHONPATH=. python3 /path/to/this/script``); the first line names the checkout it imported.
"""

import time

START = time.perf_counter()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import anndata as ad  # noqa: E402

import bionmf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _singlecell_common import SHARED_DATA  # noqa: E402

DATA = SHARED_DATA / "pbmc3k" / "pbmc3k_raw_counts.h5ad"


def main() -> None:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    adata = ad.read_h5ad(DATA)
    bionmf.pp.normalize(adata, preset="singlecell")
    wall, cpu = time.perf_counter(), time.process_time()
    bionmf.tl.nmf(adata, ranks=[5, 7, 9, 11], n_runs=20, consensus="components", random_state=seed, verbose=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stability = adata.uns["nmf"]["metrics"]["stability"]
    print(f"bionmf from {Path(bionmf.__file__).parents[1]}")
    print(f"tl.nmf wall {wall:.2f} s, CPU {cpu:.2f} s; whole process {time.perf_counter() - START:.2f} s; "
          "stability " + " ".join(f"k{k} {float(stability[k]):.4f}" for k in (5, 7, 9, 11)))


if __name__ == "__main__":
    main()
