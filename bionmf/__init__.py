"""bionmf: consensus non-negative matrix factorization for gene-expression data.

The library has the layout of scanpy:

- :mod:`bionmf.io` reads expression files into AnnData and writes GCT/GMT/TSV,
- :mod:`bionmf.datasets` holds the bundled Golub data and simulators,
- :mod:`bionmf.pp` prepares a non-negative matrix for NMF,
- :mod:`bionmf.tl` runs the consensus NMF rank survey and extracts signatures,
- :mod:`bionmf.pl` plots the results,
- :mod:`bionmf.core` holds the array-level algorithms (no AnnData).
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

from . import core, datasets, io, pp, tl

try:
    __version__ = version("bionmf")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["core", "datasets", "io", "pl", "pp", "tl", "__version__"]


def __getattr__(name: str):
    # pl pulls in matplotlib and seaborn; importing it on first use keeps `import bionmf` quick
    # for the workflow's many short jobs that never plot.
    if name == "pl":
        module = importlib.import_module(".pl", __name__)
        globals()["pl"] = module
        return module
    raise AttributeError(f"module 'bionmf' has no attribute {name!r}")
