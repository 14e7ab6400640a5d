"""The Gram matrices of HALS: one batched BLAS product on the calling thread, against the sweep
kernels' own (each run's computed by the thread that updated it), at the issue-12 pbmc3k shapes.

    PYTHONPATH=. python3 benchmarks/hals_gram.py [--repeat 200]

Shapes: 20 runs of k = 5 and 11 on 2700 cells and on 2000 genes, float32; BLAS on one thread (as
the solvers hold it), the kernels on numba's threads. Prints ms per batch of Gram matrices and the
largest error of each against float64.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bionmf.core.solvers import frobenius


def per_call(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with threadpool_limits(1, "blas"):
        for shape in [(20, 5, 2700), (20, 11, 2700), (20, 5, 2000), (20, 11, 2000), (2, 11, 2700)]:
            F = rng.random(shape, dtype=np.float32)
            exact = np.matmul(F.astype(np.float64), F.astype(np.float64).transpose(0, 2, 1))
            blas = per_call(lambda: np.matmul(F, F.transpose(0, 2, 1)), args.repeat)
            kernels = per_call(lambda: frobenius._grams(F), args.repeat)
            err_blas = np.abs(np.matmul(F, F.transpose(0, 2, 1)) - exact).max() / exact.max()
            err_kernels = np.abs(frobenius._grams(F) - exact).max() / exact.max()
            print(f"{shape}: BLAS {blas:.3f} ms (rel. error {err_blas:.1e}), "
                  f"kernels {kernels:.3f} ms (rel. error {err_kernels:.1e}), {blas / kernels:.1f}x")


if __name__ == "__main__":
    main()
