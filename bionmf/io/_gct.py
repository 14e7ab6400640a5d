"""GenePattern GCT files, versions 1.2 and 1.3.

GCT 1.2::

    #1.2
    <genes>\t<samples>
    Name\tDescription\t<sample 1>\t...
    <gene>\t<description>\t<value>\t...

GCT 1.3 adds row and column metadata (the format of the Connectivity Map and Morpheus)::

    #1.3
    <genes>\t<samples>\t<row metadata fields>\t<column metadata fields>
    id\t<row field 1>\t...\t<sample 1>\t...
    <column field>\tna\t...\t<value for sample 1>\t...      (one line per column field)
    <gene>\t<row field values>\t<value>\t...

Genes are rows in the file and variables in the AnnData: the matrix is transposed on read.
"""

from __future__ import annotations

import csv
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._matrix import get_matrix
from .._messages import name_some, plural
from ._common import NA_VALUES, as_path, atomic_text, check_names, numeric_block, open_text, require_file


def read_gct(path, *, make_unique: bool = False, dtype=np.float64) -> ad.AnnData:
    """Read a GCT 1.2 or 1.3 file into an AnnData (samples x genes).

    Parameters
    ----------
    path
        A ``.gct`` file, gzipped or not, any line endings.
    make_unique
        Append ``-1``, ``-2``, ... to repeated gene or sample names instead of raising.
    dtype
        Floating-point type of ``X``.

    Returns
    -------
    AnnData with

    ``X``
        Samples x genes, ``dtype``; missing values (empty, ``NA``, ``NaN``) are NaN.
    ``obs``
        Index: sample names; GCT 1.3 column metadata as columns.
    ``var``
        Index: the ``Name``/``id`` column; ``description`` (GCT 1.2, left out when every
        entry is ``na``) or the row metadata fields (GCT 1.3).
    ``uns['gct_version']``
        ``'1.2'`` or ``'1.3'``.
    """
    path = as_path(path)
    require_file(path)
    source = f"GCT file {path}"
    with open_text(path) as handle:
        version_line = handle.readline().rstrip("\r\n").strip()
        if version_line not in ("#1.2", "#1.3"):
            raise ValueError(f"{source}: first line is {version_line[:40]!r}; a GCT file starts with '#1.2' or "
                             "'#1.3'")
        version = version_line[1:]
        dims_text = handle.readline().rstrip("\r\n")
        try:
            dims = [int(x) for x in dims_text.split("\t") if x.strip() != ""]
        except ValueError:
            raise ValueError(f"{source}: second line {dims_text!r} should hold the numbers of rows and columns"
                             ) from None
        expected = 2 if version == "1.2" else 4
        if len(dims) != expected:
            raise ValueError(f"{source}: second line {dims_text!r} should hold {expected} numbers for GCT "
                             f"{version}")
        n_rows, n_cols = dims[:2]
        n_row_meta, n_col_meta = (1, 0) if version == "1.2" else (dims[2], dims[3])
        header = handle.readline().rstrip("\r\n").split("\t")
        while len(header) > 1 + n_row_meta + n_cols and header[-1].strip() == "":
            header.pop()  # trailing tabs, as spreadsheet exports leave them
        if len(header) != 1 + n_row_meta + n_cols:
            raise ValueError(f"{source}: the header line has {len(header)} fields; with {n_cols} samples and "
                             f"{n_row_meta} row metadata field(s) it should have {1 + n_row_meta + n_cols}")
        row_meta_names = header[1:1 + n_row_meta]
        sample_names = check_names(pd.Index(header[1 + n_row_meta:]), "sample", source, make_unique=make_unique)
        col_meta = {}
        for i in range(n_col_meta):
            fields = handle.readline().rstrip("\r\n").split("\t")
            while len(fields) > 1 + n_row_meta + n_cols and fields[-1].strip() == "":
                fields.pop()
            if len(fields) != 1 + n_row_meta + n_cols:
                raise ValueError(f"{source}: column metadata line {i + 1} has {len(fields)} fields, expected "
                                 f"{1 + n_row_meta + n_cols}")
            col_meta[fields[0]] = fields[1 + n_row_meta:]
        value_names = [f"\x00{j}" for j in range(n_cols)]  # placeholders: sample names may repeat
        names = ["\x00id", *[f"\x00meta{j}" for j in range(n_row_meta)], *value_names]
        try:
            body = pd.read_csv(handle, sep="\t", header=None, names=names, index_col=False,
                               dtype={n: str for n in names[:1 + n_row_meta]}, na_values=NA_VALUES,
                               keep_default_na=False, quoting=csv.QUOTE_NONE, skip_blank_lines=True,
                               float_precision="round_trip")
        except pd.errors.ParserError as error:
            raise ValueError(f"{source}: malformed data line ({error})") from None
        except pd.errors.EmptyDataError:
            body = pd.DataFrame(columns=names)
    if len(body) != n_rows:
        raise ValueError(f"{source}: the header announces {n_rows} genes but the file holds {len(body)} data rows")
    gene_names = check_names(pd.Index(body["\x00id"].fillna("")), "gene", source, make_unique=make_unique)
    values = body[value_names]
    values.index = gene_names
    values.columns = sample_names
    X = numeric_block(values, source, row_kind="gene", col_kind="sample").T.astype(dtype, copy=False)

    var = pd.DataFrame(index=gene_names)
    for j, name in enumerate(row_meta_names):
        column = parse_metadata(body[f"\x00meta{j}"].to_numpy(dtype=object))
        if version == "1.2":
            if column.isna().all():
                continue
            name = "description"
        var[name] = column.to_numpy()
    obs = pd.DataFrame(index=sample_names)
    for name, field in col_meta.items():
        obs[name] = parse_metadata(np.asarray(field, dtype=object)).to_numpy()
    adata = ad.AnnData(X=np.ascontiguousarray(X), obs=obs, var=var)
    adata.uns["gct_version"] = version
    return adata


def parse_metadata(values: np.ndarray) -> pd.Series:
    """Metadata strings as bool, numbers or text (missing entries NaN), whichever all fit."""
    text = pd.Series(values, dtype=object).map(lambda v: v.strip() if isinstance(v, str) else v)
    missing = text.isna() | text.isin(NA_VALUES)
    present = text[~missing]
    if len(present) and not missing.any() and present.isin(["True", "False"]).all():
        return present.map({"True": True, "False": False}).astype(bool)
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and numbers.notna().all():
        out = pd.to_numeric(text.where(~missing, None), errors="coerce")
        if not missing.any() and (out == np.round(out)).all() and present.str.fullmatch(r"[+-]?\d+").all():
            return out.astype(np.int64)
        return out.astype(np.float64)
    return text.where(~missing, np.nan)


def format_metadata(series: pd.Series, what: str) -> list[str]:
    """Metadata values as GCT text: missing as ``na``; tabs and line breaks are refused."""
    out = []
    for value in series.to_numpy(dtype=object):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            out.append("na")
            continue
        # repr of a Python float is its shortest exact text (numpy 2 scalars repr as np.float64(...)).
        text = repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)
        if "\t" in text or "\n" in text or "\r" in text:
            raise ValueError(f"{what} holds a tab or line break in {text!r}; GCT cannot store it")
        out.append(text)
    return out


def _check_name_text(names: pd.Index, kind: str) -> None:
    bad = [n for n in names.astype(str) if "\t" in n or "\n" in n or "\r" in n]
    if bad:
        raise ValueError(f"{plural(len(bad), f'{kind} name')} with a tab or line break ({name_some(bad)}); "
                         "GCT cannot store them")


def format_values(X: np.ndarray) -> list[str]:
    """Matrix rows as tab-joined text, exact for floats (shortest repr that reads back the same).

    Python's float repr is the shortest round-trip text and, measured, faster than numpy's
    conversion to strings; float32 values are written as their exact float64 value.
    """
    if X.dtype.kind in "iub":
        return ["\t".join(map(str, row)) for row in X.tolist()]
    return ["\t".join("NaN" if v != v else repr(v) for v in row) for row in X.tolist()]


def write_gct(
    adata: ad.AnnData,
    path,
    *,
    layer: str | None = None,
    version: Literal["1.2", "1.3"] | None = None,
) -> None:
    """Write ``adata`` as a GCT file, genes as rows.

    Parameters
    ----------
    adata
        Samples x genes.
    path
        Output file; gzipped when it ends in ``.gz``. Written through a temporary file, so a
        failure leaves no partial file.
    layer
        Write ``adata.layers[layer]`` instead of ``adata.X``.
    version
        ``'1.2'`` (Name, Description, values: what every GenePattern module reads) or ``'1.3'``
        (all ``var`` columns as row metadata, all ``obs`` columns as column metadata).
        Default: ``'1.3'`` when ``obs`` has columns or ``var`` has columns other than
        ``description``, else ``'1.2'``.

    Returns
    -------
    None. Values are written exactly (shortest round-trip representation), NaN as ``NaN``,
    missing metadata as ``na``.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    X = get_matrix(adata, layer)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"values must be numeric to write a GCT file, got dtype {X.dtype}")
    if version is None:
        extra_var = [c for c in adata.var.columns if c != "description"]
        version = "1.3" if len(adata.obs.columns) or extra_var else "1.2"
    if version not in ("1.2", "1.3"):
        raise ValueError(f"version must be '1.2' or '1.3', got {version!r}")
    _check_name_text(adata.obs_names, "sample")
    _check_name_text(adata.var_names, "gene")
    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    genes = adata.var_names.astype(str).to_list()
    samples = adata.obs_names.astype(str).to_list()
    if version == "1.2":
        if "description" in adata.var.columns:
            row_meta = {"Description": format_metadata(adata.var["description"], "var['description']")}
        else:
            row_meta = {"Description": ["na"] * adata.n_vars}
        col_meta: dict[str, list[str]] = {}
    else:
        row_meta = {str(c): format_metadata(adata.var[c], f"var[{c!r}]") for c in adata.var.columns}
        col_meta = {str(c): format_metadata(adata.obs[c], f"obs[{c!r}]") for c in adata.obs.columns}
        for name in [*row_meta, *col_meta]:
            if "\t" in name or "\n" in name:
                raise ValueError(f"metadata field name {name!r} holds a tab or line break")
    rows = format_values(dense.T)
    with atomic_text(path) as handle:
        handle.write(f"#{version}\n")
        if version == "1.2":
            handle.write(f"{adata.n_vars}\t{adata.n_obs}\n")
            handle.write("\t".join(["Name", "Description", *samples]) + "\n")
        else:
            handle.write(f"{adata.n_vars}\t{adata.n_obs}\t{len(row_meta)}\t{len(col_meta)}\n")
            handle.write("\t".join(["id", *row_meta, *samples]) + "\n")
            for name, values in col_meta.items():
                handle.write("\t".join([name, *["na"] * len(row_meta), *values]) + "\n")
        meta_columns = list(row_meta.values())
        for i, gene in enumerate(genes):
            handle.write("\t".join([gene, *(m[i] for m in meta_columns), rows[i]]) + "\n")
