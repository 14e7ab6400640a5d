"""Pieces shared by the readers and writers: opening (gzipped) text, writing atomically, turning a
table of strings into numbers with errors that name the bad cells."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .._messages import name_some, plural

# Text that means a missing value in expression files (GenePattern, R, Excel exports).
NA_VALUES = ["", "NA", "NaN", "nan", "NAN", "na", "N/A", "n/a", "null", "NULL", "#N/A", "-"]


def as_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a file path (str or pathlib.Path), got {type(path).__name__}")
    return Path(path)


def require_file(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, expected a file")


def open_text(path: Path):
    """Open a text file for reading, gzipped or not (by its magic bytes), any line endings."""
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=None)
    return path.open("r", encoding="utf-8-sig", newline=None)


@contextlib.contextmanager
def atomic_text(path, *, compress: bool | None = None) -> Iterator[io.TextIOBase]:
    """Write a text file through a temporary file beside it, renamed into place on success.

    A failed write leaves neither a partial file nor the temporary behind. ``compress=None``
    gzips when the name ends in ``.gz``.
    """
    path = as_path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
    if not path.parent.exists():
        raise FileNotFoundError(f"directory {path.parent} does not exist")
    if compress is None:
        compress = path.suffix == ".gz"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        if compress:
            # mtime=0 makes the gzip output depend on the content only.
            raw = gzip.GzipFile(tmp_path, "wb", mtime=0)
            handle = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        else:
            handle = tmp_path.open("w", encoding="utf-8", newline="\n")
        with handle:
            yield handle
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def check_names(names: pd.Index, kind: str, source: str, *, make_unique: bool) -> pd.Index:
    """Names as strings, stripped; duplicates and empty names are errors unless made unique."""
    names = pd.Index(names.astype(str).str.strip()).rename(None)
    empty = (names == "") | (names.str.lower() == "nan")
    if empty.any():
        positions = np.flatnonzero(empty)
        raise ValueError(f"{source}: {plural(len(positions), f'{kind} name')} missing (at "
                         f"{kind} position {name_some(positions + 1)})")
    if not names.is_unique:
        if make_unique:
            return pd.Index(_make_unique(names.to_list()), name=None)
        dup = names[names.duplicated()].unique()
        raise ValueError(f"{source}: {plural(len(dup), f'duplicate {kind} name')} ({name_some(dup)}); "
                         "pass make_unique=True to append -1, -2, ... to repeats")
    return names


def _make_unique(names: list[str]) -> list[str]:
    seen = set(names)
    counts: dict[str, int] = {}
    out = []
    first = set()
    for name in names:
        if name not in first:
            first.add(name)
            out.append(name)
            continue
        k = counts.get(name, 0)
        while True:
            k += 1
            candidate = f"{name}-{k}"
            if candidate not in seen:
                break
        counts[name] = k
        seen.add(candidate)
        out.append(candidate)
    return out


def numeric_block(frame: pd.DataFrame, source: str, *, row_kind: str, col_kind: str,
                  meta_hint: bool = False) -> np.ndarray:
    """The values of ``frame`` as a float64 array; non-numeric cells are an error naming them.

    Cells holding one of :data:`NA_VALUES` are already NaN; any other text (a stray label, a
    comma decimal, a unit) is reported with its row, column and content.
    """
    if all(dtype.kind in "biuf" for dtype in frame.dtypes):
        return frame.to_numpy(dtype=np.float64)
    columns = []
    bad_cells: list[tuple] = []
    text_columns = []
    n_bad = 0
    for j, column in enumerate(frame.columns):
        series = frame.iloc[:, j]
        if series.dtype.kind in "biuf":
            columns.append(series.to_numpy(dtype=np.float64))
            continue
        text = series.astype(str).str.strip()
        missing = series.isna() | text.isin(NA_VALUES)
        converted = pd.to_numeric(text.where(~missing, "nan"), errors="coerce")
        bad = (converted.isna() & ~missing).to_numpy()
        if bad.any():
            if (bad | missing.to_numpy()).all():
                text_columns.append(str(column))
            n_bad += int(bad.sum())
            for i in np.flatnonzero(bad)[: max(0, 5 - len(bad_cells))]:
                bad_cells.append((frame.index[i], column, series.iloc[i]))
        columns.append(converted.to_numpy(dtype=np.float64))
    if n_bad:
        shown = "; ".join(f"{row_kind} {r!r}, {col_kind} {c!r}: {v!r}" for r, c, v in bad_cells)
        hint = ""
        if meta_hint and text_columns:
            verb = "holds" if len(text_columns) == 1 else "hold"
            hint = (f"; {plural(len(text_columns), 'column')} {verb} only text ({name_some(text_columns)}): if "
                    f"they describe the {row_kind}s, name them in meta_columns=")
        raise ValueError(f"{source}: {plural(n_bad, 'non-numeric cell')} ({shown}{'; ...' if n_bad > 5 else ''}); "
                         f"expression values must be numbers (missing values may be empty or NA){hint}")
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))
