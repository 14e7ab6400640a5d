"""10x Genomics Cell Ranger output, read through scanpy's readers."""

from __future__ import annotations

import gzip
import logging
import warnings
import zlib
from typing import Literal

import anndata as ad

from ._common import as_path, describe_not_hdf5, text_errors

logger = logging.getLogger("bionmf")

MTX_NAMES = ("matrix.mtx", "matrix.mtx.gz")


def is_10x_mtx_dir(path) -> bool:
    path = as_path(path)
    return path.is_dir() and any((path / name).exists() for name in MTX_NAMES)


def read_10x(
    path,
    *,
    var_names: Literal["gene_symbols", "gene_ids"] = "gene_symbols",
    make_unique: bool = True,
    genome: str | None = None,
    gex_only: bool = True,
) -> ad.AnnData:
    """Read a Cell Ranger matrix: an ``.h5`` file or a directory with ``matrix.mtx(.gz)``.

    A directory holds ``matrix.mtx`` with ``genes.tsv`` (Cell Ranger 2) or ``matrix.mtx.gz`` with
    ``features.tsv.gz`` (Cell Ranger 3 and later), and ``barcodes.tsv(.gz)``.

    Parameters
    ----------
    path
        The ``.h5`` file (``filtered_feature_bc_matrix.h5``) or the matrix directory.
    var_names
        Name genes by symbol (``'gene_symbols'``) or by Ensembl id (``'gene_ids'``).
    make_unique
        Append ``-1``, ``-2``, ... to repeated gene symbols (several Ensembl genes share one);
        with ``False`` a repeat is an error.
    genome
        For ``.h5`` files holding several genomes, the one to read.
    gex_only
        Keep only 'Gene Expression' features (drop antibody capture, CRISPR guides, ...).

    Returns
    -------
    AnnData with ``X`` cells x genes (float32 CSR, the UMI counts), ``obs_names`` the
    barcodes, ``var['gene_ids']`` and ``var['feature_types']`` (Cell Ranger 3+).
    """
    path = as_path(path)
    if var_names not in ("gene_symbols", "gene_ids"):
        raise ValueError(f"var_names must be 'gene_symbols' or 'gene_ids', got {var_names!r}")
    with warnings.catch_warnings():
        # Repeated gene symbols are dealt with below, as make_unique says.
        warnings.filterwarnings("ignore", message="Variable names are not unique")
        adata = _read(path, var_names=var_names, genome=genome, gex_only=gex_only)
    if not adata.var_names.is_unique:
        if not make_unique:
            dup = adata.var_names[adata.var_names.duplicated()].unique()
            raise ValueError(f"10x matrix {path}: {len(dup)} repeated gene names ({', '.join(dup[:5])}); pass "
                             "make_unique=True or var_names='gene_ids'")
        adata.var_names_make_unique()
    if not adata.obs_names.is_unique:
        raise ValueError(f"10x matrix {path}: repeated cell barcodes")
    return adata


def _read(path, *, var_names, genome, gex_only) -> ad.AnnData:
    import scanpy as sc

    if path.is_dir():
        if not is_10x_mtx_dir(path):
            raise FileNotFoundError(f"{path} holds no matrix.mtx or matrix.mtx.gz; not a 10x matrix directory")
        if genome is not None:
            raise ValueError("genome= applies to .h5 files; a matrix directory holds one genome")
        _check_mtx_dir(path)
        try:
            with text_errors(path):
                return sc.read_10x_mtx(path, var_names=var_names, make_unique=False, gex_only=gex_only)
        except (ValueError, IndexError, KeyError, EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise ValueError(f"10x matrix directory {path}: its files cannot be read together ({type(error).__name__}: "
                             f"{str(error)[:300]}); check that matrix, barcodes and features come from the same "
                             "Cell Ranger run and were copied completely") from None
    if not path.is_file():
        raise FileNotFoundError(f"no such file or directory: {path}")
    _check_h5(path)
    try:
        adata = sc.read_10x_h5(path, genome=genome, gex_only=gex_only)
    except OSError as error:
        raise ValueError(f"{path} is not a readable 10x .h5 file ({describe_not_hdf5(path) or error})") from None
    except Exception as error:  # scanpy's reader fails in many ways on a damaged or foreign layout
        if "genome" in str(error).lower() and genome is not None:
            raise ValueError(f"{path}: {error}") from None
        raise ValueError(f"{path} is an HDF5 file but not a readable Cell Ranger matrix ({type(error).__name__}: "
                         f"{str(error)[:200]})") from None
    if var_names == "gene_ids":
        adata.var["gene_symbols"] = adata.var_names.to_numpy()
        adata.var_names = adata.var["gene_ids"].astype(str).to_numpy()
        del adata.var["gene_ids"]
    return adata


def _check_mtx_dir(path) -> None:
    """The files a matrix directory needs, all there and non-empty, named when one is missing."""
    if (path / "matrix.mtx.gz").exists():
        needed = ("matrix.mtx.gz", "barcodes.tsv.gz", "features.tsv.gz")
        layout = "Cell Ranger 3 or later (gzipped)"
    else:
        needed = ("matrix.mtx", "barcodes.tsv", "genes.tsv")
        layout = "Cell Ranger 2 (plain text)"
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        raise ValueError(f"10x matrix directory {path} lacks {', '.join(missing)}: a {layout} directory holds "
                         f"{', '.join(needed)}; copy the missing file(s) from the Cell Ranger output")
    empty = [name for name in needed if (path / name).stat().st_size == 0]
    if empty:
        raise ValueError(f"10x matrix directory {path}: {', '.join(empty)} is empty; copy it again from the "
                         "Cell Ranger output")


_H5_MATRIX = ("data", "indices", "indptr", "shape", "barcodes")


def _check_h5(path) -> None:
    """An HDF5 file with a Cell Ranger matrix: ``matrix/`` (Cell Ranger 3+) or one group per
    genome (Cell Ranger 2), each holding the sparse matrix and its barcodes."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            groups = [handle[k] for k in handle if isinstance(handle[k], h5py.Group)]
            matrices = [g for g in groups if all(k in g for k in _H5_MATRIX)]
            anndata_like = "X" in handle and "obs" in handle
    except OSError as error:
        raise ValueError(f"{path} is not a readable 10x .h5 file ({describe_not_hdf5(path) or error})") from None
    if not matrices:
        hint = "; it looks like an AnnData file: read it with format='h5ad'" if anndata_like else ""
        raise ValueError(f"{path} is an HDF5 file but not a Cell Ranger matrix (no group holds "
                         f"{', '.join(_H5_MATRIX)}){hint}")
