"""``bionmf.io.read``: one entry point choosing the reader by file type, and sample annotation."""

from __future__ import annotations

import csv
import logging
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

from .._messages import name_some, plural
from ._common import as_path, check_names, open_text, require_file
from ._gct import read_gct
from ._table import default_sep, read_table
from ._tenx import is_10x_mtx_dir, read_10x

logger = logging.getLogger("bionmf")

FORMATS = ("gct", "table", "h5ad", "10x_h5", "10x_mtx")
_TABLE_SUFFIXES = (".tsv", ".txt", ".csv", ".tab")


def detect_format(path) -> str:
    """The format of ``path`` from its name: see :func:`read`."""
    path = as_path(path)
    if path.is_dir():
        if is_10x_mtx_dir(path):
            return "10x_mtx"
        raise ValueError(f"{path} is a directory without matrix.mtx(.gz); bionmf reads 10x matrix directories only")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last == ".gct":
        return "gct"
    if last in _TABLE_SUFFIXES:
        return "table"
    if last == ".h5ad":
        return "h5ad"
    if last == ".h5":
        return "10x_h5"
    raise ValueError(f"cannot tell the format of {path.name!r} from its name; pass format= one of "
                     f"{', '.join(map(repr, FORMATS))} (.gct, .tsv/.txt/.tab/.csv[.gz], .h5ad, 10x .h5, or a "
                     "directory with matrix.mtx)")


def read(
    path,
    *,
    format: Literal["gct", "table", "h5ad", "10x_h5", "10x_mtx"] | None = None,
    transpose: bool | None = None,
    annotation=None,
    **kwargs,
) -> ad.AnnData:
    """Read expression data into an AnnData (obs = samples or cells, var = genes).

    Parameters
    ----------
    path
        ``.gct`` (:func:`read_gct`); ``.tsv``, ``.txt``, ``.tab``, ``.csv``, optionally ``.gz``
        (:func:`read_table`); ``.h5ad`` (:func:`read_h5ad`); a 10x ``.h5`` file or a
        directory holding ``matrix.mtx(.gz)`` (:func:`read_10x`).
    format
        Override the format chosen from the name.
    transpose
        Tables only: ``None``/``True`` when genes are rows (transposed on read), ``False``
        when samples are rows. GCT files always have genes as rows.
    annotation
        A table of sample annotation (path of a TSV/CSV file, first column the sample names, or
        a DataFrame indexed by sample name) joined into ``obs``, see :func:`annotate`.
    **kwargs
        Passed to the reader, e.g. ``genes=`` and ``header=False`` for :func:`read_table`.

    Returns
    -------
    AnnData as the reader returns it, with the annotation columns in ``obs``.

    Examples
    --------
    The medulloblastoma data of Brunet et al. (2004), a headerless matrix with its gene names in
    a separate file::

        adata = bionmf.io.read("Medulloblastoma_data.txt", header=False,
                               genes="Medulloblastoma_genes.txt",
                               annotation="Medulloblastoma_sample_labels.tsv")
    """
    path = as_path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    if format is None:
        format = detect_format(path)
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}, got {format!r}")
    if transpose is not None and format != "table":
        raise ValueError(f"transpose= applies to tables; a {format} file has a fixed orientation")
    if format == "gct":
        adata = read_gct(path, **kwargs)
    elif format == "table":
        adata = read_table(path, transpose=transpose, **kwargs)
    elif format == "h5ad":
        adata = read_h5ad(path, **kwargs)
    else:
        if format == "10x_mtx" and not path.is_dir():
            raise ValueError(f"format='10x_mtx' needs a directory, got the file {path}")
        adata = read_10x(path, **kwargs)
    if annotation is not None:
        annotate(adata, annotation)
    return adata


def read_h5ad(path, *, backed: bool = False) -> ad.AnnData:
    """Read an ``.h5ad`` file (anndata's :func:`~anndata.read_h5ad`), checking it has a matrix.

    Parameters
    ----------
    path
        The file, as written by scanpy or anndata (obs = cells/samples, var = genes).
    backed
        Leave ``X`` on disk (read-only), for files larger than memory.

    Returns
    -------
    The AnnData.
    """
    path = as_path(path)
    require_file(path)
    try:
        adata = ad.read_h5ad(path, backed="r" if backed else None)
    except OSError as error:
        raise ValueError(f"{path} is not a readable h5ad file ({error})") from None
    if adata.X is None and not adata.layers:
        raise ValueError(f"h5ad file {path} holds no matrix (X is empty and there are no layers)")
    return adata


def _read_annotation(annotation, index_col) -> pd.DataFrame:
    if isinstance(annotation, pd.DataFrame):
        frame = annotation.copy()
        frame.index = frame.index.astype(str)
        return frame
    path = as_path(annotation)
    require_file(path)
    sep = default_sep(path)
    with open_text(path) as handle:
        frame = pd.read_csv(handle, sep=sep, dtype=str, keep_default_na=False, na_values=["", "NaN", "nan"],
                            index_col=index_col, quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL)
    frame.index = frame.index.astype(str).str.strip()
    frame.index.name = None
    return frame


def _generated(names: pd.Index) -> bool:
    return names.equals(pd.Index([f"sample_{i + 1}" for i in range(len(names))]))


def annotate(
    adata: ad.AnnData,
    annotation,
    *,
    index_col: int | str = 0,
    by: Literal["auto", "name", "order"] = "auto",
    categorical: bool = True,
) -> None:
    """Join a sample annotation table into ``adata.obs``, in place.

    Parameters
    ----------
    adata
        Samples x genes.
    annotation
        Path of a TSV/CSV file whose ``index_col`` column names the samples, or a DataFrame
        indexed by sample name.
    index_col
        Column of the file holding the sample names.
    by
        ``'name'``: match rows by sample name (samples missing from the table get NaN, with a
        warning naming them; extra rows are ignored); ``'order'``: the table lists the samples in
        data order, and its names replace ``obs_names`` (for matrices without sample names);
        ``'auto'``: by name, or by order when the data's samples are unnamed (``sample_1``, ...)
        and the table has one row per sample.
    categorical
        Store text columns as categorical (compact, and what scanpy's plots colour by).
        Columns whose every entry is a number become numeric.

    Returns
    -------
    None. Adds the annotation columns to ``adata.obs`` (replacing columns of the same name),
    and with ``by='order'`` sets ``adata.obs_names``.
    """
    if by not in ("auto", "name", "order"):
        raise ValueError(f"by must be 'auto', 'name' or 'order', got {by!r}")
    source = "the annotation table" if isinstance(annotation, pd.DataFrame) else f"annotation {annotation}"
    frame = _read_annotation(annotation, index_col)
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()].unique()
        verb = "appears" if len(dup) == 1 else "appear"
        raise ValueError(f"{source}: {plural(len(dup), 'sample name')} {verb} more than once ({name_some(dup)})")
    overlap = adata.obs_names.isin(frame.index)
    if by == "auto":
        by = "order" if (not overlap.any() and _generated(adata.obs_names) and len(frame) == adata.n_obs) else "name"
    if by == "order":
        if len(frame) != adata.n_obs:
            raise ValueError(f"{source} has {plural(len(frame), 'row')} but the data has {plural(adata.n_obs, 'sample')}; "
                             "by='order' needs one row per sample")
        names = check_names(pd.Index(frame.index), "sample", source, make_unique=False)
        logger.info("annotate: samples named in order from %s", source)
        adata.obs_names = names
        aligned = frame.set_axis(names)
    else:
        if not overlap.any():
            raise ValueError(f"{source}: none of the {plural(adata.n_obs, 'sample name')} of the data "
                             f"({name_some(adata.obs_names, limit=3)}) is in its column {index_col!r} "
                             f"({name_some(frame.index, limit=3)})")
        if not overlap.all():
            import warnings

            warnings.warn(f"{source} has no row for {plural(int((~overlap).sum()), 'sample')} "
                          f"({name_some(adata.obs_names, ~overlap)}); their annotation is missing (NaN)",
                          UserWarning, stacklevel=2)
        extra = ~frame.index.isin(adata.obs_names)
        if extra.any():
            logger.info("annotate: ignored %s of %s not in the data (%s)", plural(int(extra.sum()), "row"), source,
                        name_some(frame.index, extra))
        aligned = frame.reindex(adata.obs_names)
    for column in aligned.columns:
        values = aligned[column]
        if values.dtype == object:
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().sum() == values.notna().sum() and values.notna().any():
                values = numbers  # a column of numbers (a score, an age) stays numeric
        if categorical and values.dtype == object:
            values = pd.Categorical(values)
        adata.obs[str(column)] = np.asarray(values) if not isinstance(values, pd.Categorical) else values
