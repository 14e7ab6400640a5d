"""bionmf: consensus non-negative matrix factorization for gene-expression data.

The library has the layout of scanpy:

- :mod:`bionmf.io` reads expression files into AnnData and writes GCT/GMT/TSV,
- :mod:`bionmf.datasets` holds the bundled Golub data and simulators,
- :mod:`bionmf.pp` prepares a non-negative matrix for NMF,
- :mod:`bionmf.tl` runs the consensus NMF rank survey and extracts signatures,
- :mod:`bionmf.pl` plots the results,
- :mod:`bionmf.core` holds the array-level algorithms (no AnnData).
"""

from importlib.metadata import PackageNotFoundError, version

from . import core, datasets, io, pl, pp, tl

try:
    __version__ = version("bionmf")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["core", "datasets", "io", "pl", "pp", "tl", "__version__"]
