"""CPU time of a Golub survey with the factors on cache-line boundaries (the driver's default) and
16 bytes off one (as numpy's own allocations often are), alternating in one process.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH=. python3 benchmarks/aligned_factors.py [--repeat 3]

Survey: ranks 2-6, 10 runs, defaults. Also checks that both give the same cophenetic and
dispersion, bitwise.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main() -> None:
    import bionmf
    from bionmf.core.solvers import _driver

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    aligned = _driver.aligned_empty

    def off_by_16(shape, dtype):
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        raw = np.empty(size + 2 * _driver.ALIGN, np.uint8)
        offset = -raw.ctypes.data % _driver.ALIGN + 16
        return raw[offset:offset + size].view(dtype).reshape(shape)

    adata = bionmf.datasets.golub()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bionmf.tl.nmf(adata, ranks=range(2, 7), n_runs=2, verbose=False, copy=True)  # compile or load
    cpu = {"aligned": [], "16 bytes off": []}
    metrics = {}
    for rep in range(args.repeat):
        order = ("aligned", "16 bytes off") if rep % 2 == 0 else ("16 bytes off", "aligned")
        for name in order:
            _driver.aligned_empty = aligned if name == "aligned" else off_by_16
            start = time.process_time()
            result = bionmf.tl.nmf(adata, ranks=range(2, 7), n_runs=10, random_state=0, verbose=False, copy=True)
            cpu[name].append(time.process_time() - start)
            metrics[name] = result.uns["nmf"]["metrics"][["cophenetic", "dispersion"]].to_numpy()
    _driver.aligned_empty = aligned
    for name, times in cpu.items():
        print(f"{name:13s} CPU s {', '.join(f'{t:.2f}' for t in times)} (min {min(times):.2f})")
    print("same cophenetic and dispersion:", np.array_equal(metrics["aligned"], metrics["16 bytes off"]))


if __name__ == "__main__":
    main()
