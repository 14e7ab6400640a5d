"""Access to the matrix and the genes a step works on, with one error type for a missing matrix."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

#: ``var`` column that marks the genes to fit (written by :func:`bionmf.pp.normalize`)
USE_KEY = "nmf_use"


class MatrixNotFound(ValueError, KeyError):
    """The matrix a step was asked to use is not there (no ``adata.X``, or no such layer).

    A ValueError (the package's error for a bad input) that callers written for a missing
    mapping key (KeyError) still catch.
    """

    __str__ = Exception.__str__  # KeyError would quote the message


def check_anndata(adata) -> None:
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"adata must be an AnnData object, got {type(adata).__name__}")


def get_matrix(adata: ad.AnnData, layer: str | None):
    """The matrix a step works on: ``adata.X`` or ``adata.layers[layer]``."""
    check_anndata(adata)
    if layer is None:
        if adata.X is None:
            raise MatrixNotFound("adata.X is None; pass layer= to name the matrix to use")
        return adata.X
    if layer not in adata.layers:
        available = ", ".join(map(repr, adata.layers.keys())) or "none"
        raise MatrixNotFound(f"layer {layer!r} not found in adata.layers (available: {available})")
    return adata.layers[layer]


def matrix_name(layer: str | None) -> str:
    """How messages name the matrix of ``layer``."""
    return "adata.X" if layer is None else f"adata.layers[{layer!r}]"


def set_matrix(adata: ad.AnnData, layer: str | None, X) -> None:
    if layer is None:
        adata.X = X
    else:
        adata.layers[layer] = X


def use_mask(adata: ad.AnnData, key: str = USE_KEY) -> np.ndarray:
    """The genes marked for the fit, all genes when nothing is marked yet."""
    if key in adata.var.columns:
        mask = adata.var[key].to_numpy()
        if mask.dtype != bool:
            raise TypeError(f"adata.var[{key!r}] must be boolean, got dtype {mask.dtype}")
        return mask
    return np.ones(adata.n_vars, dtype=bool)


def gene_mask(adata: ad.AnnData, use_genes: str | np.ndarray | None) -> tuple[np.ndarray, str]:
    """The genes to fit and how they were chosen (``"all"``, a ``var`` column name, or ``"mask"``).

    ``use_genes``: the name of a boolean ``var`` column, a boolean mask, or None (the
    :data:`USE_KEY` column when present, else all genes).
    """
    if use_genes is None:
        use_genes = USE_KEY if USE_KEY in adata.var.columns else None
    if use_genes is None:
        genes, gene_key = np.ones(adata.n_vars, dtype=bool), "all"
    elif isinstance(use_genes, str):
        if use_genes not in adata.var.columns:
            raise ValueError(f"use_genes: adata.var has no column {use_genes!r}")
        column = adata.var[use_genes]
        if column.dtype != bool:
            raise TypeError(f"use_genes: adata.var[{use_genes!r}] must be boolean, got {column.dtype}")
        genes, gene_key = column.to_numpy(), use_genes
    else:
        genes = np.asarray(use_genes)
        if genes.dtype != bool or genes.shape != (adata.n_vars,):
            raise ValueError(f"use_genes must be a boolean mask of length n_vars={adata.n_vars}")
        gene_key = "mask"
    if not genes.any():
        raise ValueError(f"use_genes ({gene_key}) selects no gene")
    return genes, gene_key


def class_column(adata: ad.AnnData, classes: str) -> pd.Series:
    """``adata.obs[classes]``, checked: a ValueError naming the column (and the samples without a class)."""
    if not isinstance(classes, str) or classes not in adata.obs.columns:
        raise ValueError(f"classes={classes!r} is not a column of adata.obs; its columns: {list(adata.obs.columns)}")
    column = adata.obs[classes]
    missing = column.isna().to_numpy()
    if missing.any():
        raise ValueError(f"adata.obs[{classes!r}] has no class for {int(missing.sum())} samples "
                         f"(e.g. {list(adata.obs_names[missing][:3])}); give every sample a class")
    return column
