"""Peak memory of ``bionmf.pp.normalize(adata, preset="singlecell")`` on pbmc3k, against the input.

Usage (from the repository root)::

    PYTHONPATH=. python3 benchmarks/pp_memory.py [path/to/pbmc3k_raw_counts.h5ad]

tracemalloc sees every numpy/scipy buffer allocated while the preset runs; the figure reported
is the peak of memory allocated during the call above what was held before it, divided by the
size of the input matrix (data + indices + indptr of the CSR counts).
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import anndata as ad

import bionmf

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pbmc3k" / "pbmc3k_raw_counts.h5ad"


def matrix_bytes(X) -> int:
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def warm_up(path: Path) -> None:
    """Run the preset once on a slice, so that numba's compilation (scanpy's kernels) is not measured."""
    small = ad.read_h5ad(path)[:300].copy()
    bionmf.pp.normalize(small, preset="singlecell", n_top_genes=200)


def measure(path: Path, *, copy: bool) -> dict:
    adata = ad.read_h5ad(path)
    input_bytes = matrix_bytes(adata.X)
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    result = bionmf.pp.normalize(adata, preset="singlecell", copy=copy)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = result if copy else adata
    return {
        "copy": copy,
        "input_shape": f"{adata.n_obs} x {adata.n_vars}" if not copy else "2700 x 32738",
        "input_nnz": int(ad.read_h5ad(path).X.nnz),
        "input_matrix_mb": input_bytes / 2**20,
        "output_matrix_mb": matrix_bytes(out.X) / 2**20,
        "output_sparse": type(out.X).__name__,
        "peak_extra_mb": (peak - before) / 2**20,
        "peak_over_input": (peak - before) / input_bytes,
        "seconds": seconds,
    }


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    warm_up(path)
    for copy in (False, True):
        r = measure(path, copy=copy)
        print(f"copy={r['copy']}: input CSR {r['input_nnz']} stored values, {r['input_matrix_mb']:.1f} MiB; "
              f"output {r['output_sparse']} {r['output_matrix_mb']:.1f} MiB; peak allocated during the call "
              f"{r['peak_extra_mb']:.1f} MiB = {r['peak_over_input']:.2f} x the input matrix; {r['seconds']:.2f} s")


if __name__ == "__main__":
    main()
