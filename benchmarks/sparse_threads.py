"""Sparse products with few columns (a batch's last runs) on one thread or on all of them.

    PYTHONPATH=. python3 benchmarks/sparse_threads.py [--preset]

X: pbmc3k, 2000 genes, scaled counts (the Seurat-flavour genes of ``singlecell_pbmc3k.py``; with
``--preset``, the matrix ``pp.normalize(preset="singlecell")`` makes). For each number of
columns, the product with X and with X^T (as one HALS iteration makes them) timed with
``PARALLEL_MIN_WORK`` at its value and at 0 (always threads), best of 3 x 20, same process.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _singlecell_common import SHARED_DATA, highly_variable_genes, scale_genes  # noqa: E402


def main() -> None:
    import anndata as ad

    import bionmf
    import bionmf.core.solvers._products as products

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="store_true", help="the single-cell preset's matrix")
    args = parser.parse_args()
    adata = ad.read_h5ad(SHARED_DATA / "pbmc3k" / "pbmc3k_raw_counts.h5ad")
    if args.preset:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bionmf.pp.normalize(adata, preset="singlecell")
        X = sp.csr_matrix(adata.X[:, adata.var["nmf_use"].to_numpy()], dtype=np.float32)
    else:
        genes = highly_variable_genes(adata, 2000)
        X = scale_genes(adata[:, adata.var_names.isin(genes)].X).astype(np.float32).tocsr()
    X.sort_indices()
    Xt = products.transposed(X)
    threshold = products.PARALLEL_MIN_WORK
    rng = np.random.default_rng(0)
    print(f"X {X.shape[0]} x {X.shape[1]}, {X.nnz} stored; PARALLEL_MIN_WORK {threshold:,}")
    for c in (5, 11, 22, 55, 110, 220):
        F1 = rng.random((c, X.shape[1]), dtype=np.float32)
        F2 = rng.random((c, X.shape[0]), dtype=np.float32)
        best = {}
        for name, value in (("rule", threshold), ("threads", 0)):
            products.PARALLEL_MIN_WORK = value
            products.csr_times_columns(X, F1)
            products.csr_times_columns(Xt, F2)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                for _ in range(20):
                    products.csr_times_columns(X, F1)
                    products.csr_times_columns(Xt, F2)
                times.append((time.perf_counter() - start) / 20 * 1e3)
            best[name] = min(times)
        products.PARALLEL_MIN_WORK = threshold
        print(f"{c:4d} columns: ms per pair of products, threshold rule {best['rule']:.2f}, "
              f"always threads {best['threads']:.2f}")


if __name__ == "__main__":
    main()
