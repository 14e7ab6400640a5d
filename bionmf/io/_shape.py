"""The (samples, genes) shape of an expression file, read from its headers without loading values."""

from __future__ import annotations

import gzip
from pathlib import Path

from ._common import as_path
from ._read import detect_format


def read_shape(path, *, format: str | None = None, transpose: bool | None = None) -> tuple[int, int]:
    """(samples, genes) of the file :func:`bionmf.io.read` would read, from its headers alone.

    h5ad and 10x files give their stored shape; a 10x matrix directory its ``matrix.mtx``
    header; tables and GCT files count their lines and the columns of their first line (genes
    as rows unless ``transpose`` is False, as :func:`bionmf.io.read_table` reads them). Cheap
    enough to size jobs before anything is read; a ValueError for an unknown format.
    """
    path = as_path(path)
    format = format or detect_format(path)
    if format in ("h5ad", "10x_h5"):
        return _hdf5_shape(path, format)
    if format == "10x_mtx":
        mtx = next(p for p in (path / "matrix.mtx.gz", path / "matrix.mtx") if p.exists())
        with (gzip.open(mtx, "rt") if mtx.suffix == ".gz" else mtx.open()) as handle:
            line = next(x for x in handle if not x.startswith("%"))
        genes, cells = (int(v) for v in line.split()[:2])
        return cells, genes
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        first, rows = "", 0
        for rows, line in enumerate(handle, start=1):
            first = first or line
    sep = "," if ".csv" in path.suffixes else "\t"
    columns = len(first.rstrip("\r\n").split(sep))
    if format == "gct":
        rows, columns = max(rows - 3, 1), max(columns - 2, 1)
    shape = (columns, rows) if transpose is None or transpose else (rows, columns)
    return int(shape[0]), int(shape[1])


def _hdf5_shape(path: Path, format: str) -> tuple[int, int]:
    import h5py

    with h5py.File(path, "r") as f:
        if format == "10x_h5":
            group = f["matrix"] if "matrix" in f else f[next(iter(f))]
            genes, cells = (int(v) for v in group["shape"][:2])
            return cells, genes
        X = f["X"]
        shape = X.attrs["shape"] if isinstance(X, h5py.Group) else X.shape
        return int(shape[0]), int(shape[1])
