"""Sparse products computed in a stack buffer against a heap buffer, by number of columns.

    PYTHONPATH=. taskset -c 0 python3 benchmarks/sparse_stack.py [--repeat 5]

X: pbmc3k through ``pp.normalize(preset="singlecell")`` (2700 cells x 2000 genes, 765,000 stored
values). For each number of columns (a batch's runs times k), the product with X and with X^T
(one HALS iteration's pair) on one thread, with the products' stack buffer (``_stack``; used up to
``STACK_COLUMNS`` columns) and with the heap buffer, best of ``--repeat`` x 10, same process.
The two must give the same numbers; the script fails if they do not.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _singlecell_common import SHARED_DATA  # noqa: E402


def main() -> None:
    import anndata as ad

    import bionmf
    import bionmf.core.solvers._products as products

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    adata = ad.read_h5ad(SHARED_DATA / "pbmc3k" / "pbmc3k_raw_counts.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bionmf.pp.normalize(adata, preset="singlecell")
    X = sp.csr_matrix(adata.X[:, adata.var["nmf_use"].to_numpy()], dtype=np.float32)
    X.sort_indices()
    Xt = products.transposed(X)
    numba.set_num_threads(1)
    limit = products.STACK_COLUMNS
    rng = np.random.default_rng(0)
    print(f"X {X.shape[0]} x {X.shape[1]}, {X.nnz} stored; one thread; stack buffer up to {limit} columns")
    for c in (5, 11, 25, 55, 110, 220):
        factors = [rng.random((c, A.shape[1]), dtype=np.float32) for A in (X, Xt)]
        best, results = {}, {}
        # the stack buffer holds STACK_COLUMNS columns: above, only the heap buffer is timed
        for name, columns in (("stack", limit), ("heap", 0))[0 if c <= limit else 1:]:
            products.STACK_COLUMNS = columns
            pair = lambda: [products.csr_times_columns(A, F) for A, F in zip((X, Xt), factors)]
            results[name] = pair()
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                for _ in range(10):
                    pair()
                times.append((time.perf_counter() - start) / 10)
            best[name] = min(times) * 1e3
        products.STACK_COLUMNS = limit
        if c > limit:
            print(f"{c:4d} columns: ms per pair, heap {best['heap']:.2f} (the products use the heap buffer)")
            continue
        for a, b in zip(results["stack"], results["heap"]):
            if not np.array_equal(a, b):
                raise SystemExit(f"{c} columns: stack and heap buffers give different numbers")
        print(f"{c:4d} columns: ms per pair, stack {best['stack']:.2f}, heap {best['heap']:.2f} "
              f"({best['heap'] / best['stack']:.2f}x)")


if __name__ == "__main__":
    main()
