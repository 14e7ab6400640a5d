"""10x Genomics Cell Ranger output, read through scanpy's readers."""

from __future__ import annotations

import logging
import warnings
from typing import Literal

import anndata as ad

from ._common import as_path

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
        return sc.read_10x_mtx(path, var_names=var_names, make_unique=False, gex_only=gex_only)
    if not path.is_file():
        raise FileNotFoundError(f"no such file or directory: {path}")
    adata = sc.read_10x_h5(path, genome=genome, gex_only=gex_only)
    if var_names == "gene_ids":
        adata.var["gene_symbols"] = adata.var_names.to_numpy()
        adata.var_names = adata.var["gene_ids"].astype(str).to_numpy()
        del adata.var["gene_ids"]
    return adata
