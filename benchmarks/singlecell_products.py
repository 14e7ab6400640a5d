"""CPU time of the two sparse products of a HALS iteration, and of a batch of HALS runs.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH=. python3 benchmarks/singlecell_products.py --cells 100000
    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH=. python3 benchmarks/singlecell_products.py --cells 20000 --iterations 50

Simulated counts (``bionmf.datasets.simulate_singlecell``, 2000 genes, 8 identity and 2 activity
programs, seed 0), genes scaled to unit variance, float32 CSR as the solver reads them. Times W^T V
(``wt_xt``) and H V^T (``h_x``) for ``--runs`` x ``--k`` stacked columns (best of 3, CPU seconds of
this process, and wall seconds), then ``--iterations`` HALS iterations of the batch (bionmf's component defaults).
Run it on one thread to compare versions on a busy machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _singlecell_common import scale_genes  # noqa: E402


def best_times(fn, *args, repeats: int = 3) -> tuple[float, float]:
    """Least CPU and least wall seconds of ``repeats`` calls, after one to compile and to make the
    transposed copy and the block layout kept with the matrix."""
    fn(*args)
    cpu = wall = np.inf
    for _ in range(repeats):
        start, start_wall = time.process_time(), time.perf_counter()
        fn(*args)
        cpu = min(cpu, time.process_time() - start)
        wall = min(wall, time.perf_counter() - start_wall)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()

    from bionmf.core.seeding import run_seed
    from bionmf.core.solvers._driver import factorize_batch, prepare_matrix
    from bionmf.core.solvers._options import SolverOptions
    from bionmf.core.solvers._products import h_x, wt_xt
    from bionmf.datasets import simulate_singlecell

    counts = simulate_singlecell(n_cells=args.cells, n_genes=2000, n_identities=8, n_activities=2,
                                 random_state=0).X
    X = prepare_matrix(scale_genes(counts), np.float32)
    rng = np.random.default_rng(0)
    Wt = rng.random((args.runs, args.k, X.shape[1]), dtype=np.float32)
    H = rng.random((args.runs, args.k, X.shape[0]), dtype=np.float32)
    columns = args.runs * args.k
    gflop = 2 * X.nnz * columns / 1e9
    print(f"{X.shape[0]} cells x {X.shape[1]} genes, {X.nnz} stored, {columns} columns")
    for name, fn, factor in (("wt_xt (W^T V)", wt_xt, Wt), ("h_x (H V^T)", h_x, H)):
        cpu, wall = best_times(fn, X, factor)
        print(f"{name}: {cpu:.3f} s CPU, {wall:.3f} s wall, {gflop / cpu:.1f} Gflop/s per CPU second")
    seeds = [run_seed(0, args.k, r) for r in range(args.runs)]
    options = SolverOptions(algorithm="hals", max_iter=args.iterations)
    factorize_batch(X, args.k, seeds[:1], SolverOptions(algorithm="hals", max_iter=1, check_interval=1))
    start, start_wall = time.process_time(), time.perf_counter()
    factorize_batch(X, args.k, seeds, options)
    cpu, wall = time.process_time() - start, time.perf_counter() - start_wall
    print(f"{args.iterations} HALS iterations of {args.runs} runs: {cpu:.1f} s CPU, {wall:.1f} s wall "
          f"({cpu / args.iterations:.2f} s CPU per iteration)")


if __name__ == "__main__":
    main()
