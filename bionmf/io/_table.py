"""Delimited text tables (TSV, CSV, TXT; gzipped or not) of expression values."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Literal
import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._matrix import get_matrix
from .._messages import plural
from ._common import NA_VALUES, as_path, atomic_text, check_names, numeric_block, open_text, require_file
from ._gct import format_values


def default_sep(path) -> str:
    suffixes = [s.lower() for s in as_path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return "," if suffixes and suffixes[-1] == ".csv" else "\t"


def read_names(path) -> pd.DataFrame:
    """A names file: a header line, then one row per gene (or sample); the first column names it.

    The Golub and medulloblastoma ``*_genes.txt`` files (``Name<TAB>Description``, CRLF) are
    of this kind. Other columns become annotation (``Description`` as ``description``).
    """
    path = as_path(path)
    require_file(path)
    with open_text(path) as handle:
        # Quotes are honoured: the Golub genes file quotes descriptions that contain commas.
        frame = pd.read_csv(handle, sep=default_sep(path), dtype=str, keep_default_na=False)
    if frame.shape[1] == 0:
        raise ValueError(f"names file {path} has no columns")
    frame = frame.apply(lambda c: c.str.strip())
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.rename(columns={c: "description" for c in frame.columns[1:] if c.lower() == "description"})


def read_table(
    path,
    *,
    transpose: bool | None = None,
    sep: str | None = None,
    header: bool = True,
    index_col: int | str | None | Literal["auto"] = "auto",
    meta_columns: Sequence[str] = (),
    genes=None,
    var_names: Sequence[str] | None = None,
    obs_names: Sequence[str] | None = None,
    make_unique: bool = False,
    dtype=np.float64,
) -> ad.AnnData:
    """Read a delimited table of expression values into an AnnData (samples x genes).

    Parameters
    ----------
    path
        ``.tsv``, ``.txt``, ``.tab`` or ``.csv`` file, gzipped or not, any line endings.
    transpose
        ``None``/``True``: the file has genes in rows and samples in columns (the usual layout,
        transposed on read); ``False``: samples in rows.
    sep
        Field separator; default ``','`` for ``.csv`` and tab otherwise.
    header
        Whether the first line names the columns. A header one field shorter than the rows (as
        R's ``write.table`` writes) is understood.
    index_col
        Column (position or name) holding the row names; ``None`` when the rows are not named,
        as in the Golub and medulloblastoma data files. ``'auto'``: ``None`` for a file without
        header whose row names are given (``genes=``/``var_names=``, or ``obs_names=`` with
        ``transpose=False``), else the first column.
    meta_columns
        Names of further non-numeric columns describing the rows (e.g. a gene symbol), kept as
        ``var`` (or ``obs``) columns. A column named ``Description`` is recognized without being
        listed.
    genes
        Path of a names file for the genes when the file does not name them: a header line, one
        row per gene in file order, the first column the gene name, other columns go to ``var``
        (see :func:`read_names`). Exclusive with ``var_names``.
    var_names, obs_names
        Gene and sample names, when the file does not hold them. Unnamed samples get
        ``sample_1``, ``sample_2``, ... (which :func:`bionmf.io.read`'s ``annotation`` can
        replace in order).
    make_unique
        Append ``-1``, ``-2``, ... to repeated names instead of raising.
    dtype
        Floating-point type of ``X``.

    Returns
    -------
    AnnData with ``X`` (samples x genes, ``dtype``; empty cells and ``NA`` as NaN),
    ``obs_names``, ``var_names`` and any annotation columns in ``var`` (or ``obs``).
    """
    path = as_path(path)
    require_file(path)
    source = f"table {path}"
    genes_are_rows = transpose is None or bool(transpose)
    row_kind, col_kind = ("gene", "sample") if genes_are_rows else ("sample", "gene")
    if genes is not None and var_names is not None:
        raise ValueError("give the gene names either as genes= (a file) or var_names=, not both")
    if sep is None:
        sep = default_sep(path)
    if index_col == "auto":
        rows_named = (genes is not None or var_names is not None) if genes_are_rows else obs_names is not None
        index_col = None if (not header and rows_named) else 0
    with open_text(path) as handle:
        try:
            frame = pd.read_csv(handle, sep=sep, header=0 if header else None, index_col=index_col,
                                na_values=NA_VALUES, keep_default_na=False, skip_blank_lines=True,
                                float_precision="round_trip", quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{source} is empty") from None
        except pd.errors.ParserError as error:
            raise ValueError(f"{source}: malformed line ({error})") from None
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{source}: cannot use index_col={index_col!r} ({error})") from None
    if header:
        frame.columns = _header_as_written(path, sep, frame, index_col)
    meta = [c for c in frame.columns if str(c).lower() == "description" and c not in meta_columns]
    meta += list(meta_columns)
    missing = [c for c in meta if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: no column named {', '.join(map(repr, missing))} (columns: "
                         f"{', '.join(map(str, frame.columns[:8]))}{', ...' if frame.shape[1] > 8 else ''})")
    values = frame.drop(columns=meta)
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{source} holds no values ({plural(values.shape[0], 'row')} x "
                         f"{plural(values.shape[1], 'value column')})")

    row_names = _names_for(values.shape[0], row_kind, source, make_unique,
                           from_file=values.index if index_col is not None else None,
                           given=var_names if genes_are_rows else obs_names,
                           names_file=genes if genes_are_rows else None)
    col_names = _names_for(values.shape[1], col_kind, source, make_unique,
                           from_file=values.columns if header else None,
                           given=obs_names if genes_are_rows else var_names,
                           names_file=None if genes_are_rows else genes)
    row_annotation = row_names.annotation
    col_annotation = col_names.annotation
    values.index = row_names.index
    values.columns = col_names.index
    block = numeric_block(values, source, row_kind=row_kind, col_kind=col_kind,
                          meta_hint=True).astype(dtype, copy=False)

    row_frame = pd.DataFrame(index=row_names.index)
    for c in meta:
        row_frame[c.lower() if str(c).lower() == "description" else c] = (
            frame[c].astype(object).where(frame[c].notna(), np.nan).to_numpy())
    if row_annotation is not None:
        for c in row_annotation.columns:
            row_frame[c] = row_annotation[c].to_numpy()
    col_frame = pd.DataFrame(index=col_names.index)
    if col_annotation is not None:
        for c in col_annotation.columns:
            col_frame[c] = col_annotation[c].to_numpy()
    if genes_are_rows:
        return ad.AnnData(X=np.ascontiguousarray(block.T), obs=col_frame, var=row_frame)
    return ad.AnnData(X=block, obs=row_frame, var=col_frame)


def _header_as_written(path, sep: str, frame: pd.DataFrame, index_col) -> pd.Index:
    """Column names as the header line has them: pandas renames repeats (``A``, ``A.1``), which
    would hide duplicate sample names."""
    with open_text(path) as handle:
        line = handle.readline()
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    raw = [field.strip() for field in next(csv.reader([line.rstrip("\r\n")], delimiter=sep, quoting=quoting))]
    n = frame.shape[1]
    if index_col is not None and len(raw) == n + 1:
        position = index_col if isinstance(index_col, int) else raw.index(str(index_col))
        raw = raw[:position] + raw[position + 1:]
    if len(raw) != n:  # a layout pandas understood differently; keep its names
        return pd.Index([str(c).strip() for c in frame.columns])
    return pd.Index(raw)


class _Names:
    def __init__(self, index: pd.Index, annotation: pd.DataFrame | None = None):
        self.index = index
        self.annotation = annotation


def _names_for(n: int, kind: str, source: str, make_unique: bool, *, from_file, given, names_file) -> _Names:
    if names_file is not None:
        table = read_names(names_file)
        if len(table) != n:
            raise ValueError(f"{source} has {plural(n, kind)} but the names file {names_file} lists {len(table)}")
        index = check_names(pd.Index(table.iloc[:, 0]), kind, f"names file {names_file}", make_unique=make_unique)
        index.name = None
        annotation = table.iloc[:, 1:].copy()
        annotation.index = index
        return _Names(index, annotation)
    if given is not None:
        given = pd.Index(list(given))
        if len(given) != n:
            raise ValueError(f"{source} has {plural(n, kind)} but {len(given)} {kind} names were given")
        return _Names(check_names(given, kind, source, make_unique=make_unique))
    if from_file is not None:
        return _Names(check_names(pd.Index(from_file).astype(str), kind, source, make_unique=make_unique))
    return _Names(pd.Index([f"{kind}_{i + 1}" for i in range(n)]))


def write_table(
    adata: ad.AnnData,
    path,
    *,
    layer: str | None = None,
    transpose: bool = True,
    sep: str | None = None,
    index_label: str = "Name",
) -> None:
    """Write the matrix of ``adata`` as a delimited table with row and column names.

    Parameters
    ----------
    adata
        Samples x genes.
    path
        Output file; ``.csv`` gives commas, other names tabs; gzipped when it ends in ``.gz``.
        Written through a temporary file, so a failure leaves no partial file.
    layer
        Write ``adata.layers[layer]`` instead of ``adata.X``.
    transpose
        ``True`` (default): genes as rows, samples as columns, as :func:`read_table` reads by
        default; ``False``: samples as rows.
    sep
        Field separator, overriding the one chosen from the name.
    index_label
        Header of the name column.

    Returns
    -------
    None. Values are written exactly (shortest round-trip representation), NaN as ``NaN``.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    X = get_matrix(adata, layer)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"values must be numeric, got dtype {X.dtype}")
    if sep is None:
        sep = default_sep(path)
    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    rows, cols = (adata.var_names, adata.obs_names) if transpose else (adata.obs_names, adata.var_names)
    matrix = dense.T if transpose else dense
    for names, kind in ((rows, "row"), (cols, "column"), ([index_label], "index label")):
        bad = [str(n) for n in names if sep in str(n) or "\n" in str(n) or "\r" in str(n) or
               (sep == "," and '"' in str(n))]
        if bad:
            raise ValueError(f"{len(bad)} {kind} name(s) contain the separator {sep!r}, a quote or a line break "
                             f"({', '.join(bad[:5])}); choose another format or rename them")
    lines = format_values(matrix)
    if sep != "\t":
        lines = [line.replace("\t", sep) for line in lines]
    with atomic_text(path) as handle:
        handle.write(sep.join([index_label, *map(str, cols)]) + "\n")
        for name, line in zip(rows, lines):
            handle.write(f"{name}{sep}{line}\n")
