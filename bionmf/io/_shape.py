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


def read_stored(path, *, format: str | None = None) -> int | None:
    """The number of values a sparse expression file stores, from its headers: an h5ad file
    whose ``X`` is sparse, a 10x HDF5 file or matrix directory; None for a dense matrix or
    another format."""
    path = as_path(path)
    format = format or detect_format(path)
    if format in ("h5ad", "10x_h5"):
        import h5py

        with h5py.File(path, "r") as f:
            group = f["X"] if format == "h5ad" else (f["matrix"] if "matrix" in f else f[next(iter(f))])
            return int(group["data"].shape[0]) if isinstance(group, h5py.Group) else None
    if format == "10x_mtx":
        mtx = next(p for p in (path / "matrix.mtx.gz", path / "matrix.mtx") if p.exists())
        with (gzip.open(mtx, "rt") if mtx.suffix == ".gz" else mtx.open()) as handle:
            line = next(x for x in handle if not x.startswith("%"))
        return int(line.split()[2])
    return None


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


def read_exact_shape(path, *, format: str | None = None, **read_options) -> tuple[int, int]:
    """(samples, genes) that :func:`bionmf.io.read` with ``read_options`` would give, from the
    file's headers: a GCT file's dimension line, an HDF5 file's stored shape, a table's lines and
    fields counted as :func:`bionmf.io.read_table` reads them (header line, name column,
    Description and ``meta_columns``). A ValueError naming the file when it cannot be read.

    Unlike :func:`read_shape` (a cheap estimate for sizing jobs) this is exact, for checks such
    as the ranks against the number of samples before any job runs.
    """
    from ._common import open_text, text_errors
    from ._table import default_sep

    path = as_path(path)
    format = format or detect_format(path)
    if format != "gct" and format != "table":
        return read_shape(path, format=format)
    with text_errors(path), open_text(path) as handle:
        lines = (line.rstrip("\r\n") for line in handle)
        if format == "gct":
            next(lines, None)
            dims = (next(lines, "") or "").split("\t")
            try:
                genes, samples = int(dims[0]), int(dims[1])
            except (ValueError, IndexError):
                raise ValueError(f"GCT file {path}: second line {dims!r} should hold the numbers of rows and "
                                 "columns") from None
            return samples, genes
        sep = read_options.get("sep") or default_sep(path)
        header = read_options.get("header", True)
        first, second, n_rows = None, None, 0
        for line in lines:
            if not line.strip():
                continue
            n_rows += 1
            if first is None:
                first = line
            elif second is None:
                second = line
    if first is None:
        raise ValueError(f"table {path} is empty")
    data = second if header and second is not None else first
    n_fields = len(data.split(sep))
    rows = n_rows - (1 if header else 0)
    transpose = read_options.get("transpose")
    genes_are_rows = transpose is None or bool(transpose)
    index_col = read_options.get("index_col", "auto")
    if index_col == "auto":
        named = (read_options.get("genes") is not None or read_options.get("var_names") is not None
                 if genes_are_rows else read_options.get("obs_names") is not None)
        index_col = None if (not header and named) else 0
    columns = n_fields - (index_col is not None)
    if header:
        names = [f.strip().strip('"').lower() for f in first.split(sep)]
        meta = set(read_options.get("meta_columns") or ()) | ({"description"} if "description" in names else set())
        columns -= len(meta)
    return (columns, rows) if genes_are_rows else (rows, columns)
