"""Value transformations: library-size normalization, logarithms, scaling genes to unit variance.

Each keeps a sparse matrix sparse and works on its stored values in place, so that a
single-cell matrix is never densified.
"""

from __future__ import annotations

import logging
from typing import Literal

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ._utils import column_mean_var, float_matrix, get_matrix, name_some, plural, record_step, set_matrix, start
from ._validate import describe_negative, describe_nonfinite, warn_if_logged

logger = logging.getLogger("bionmf")

_CHUNK = 1 << 18  # stored values per chunk: bounds the temporaries of in-place updates


def _check_for_log(adata: ad.AnnData, X, step: str, *, pseudocount: float) -> None:
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"values must be numeric, got dtype {values.dtype}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{step}: {describe_nonfinite(X, adata.obs_names, adata.var_names)}; "
                         "handle them first with bionmf.pp.handle_nonfinite")
    if values.size and values.min() < 0:
        raise ValueError(f"{step}: cannot take the logarithm of "
                         f"{describe_negative(X, adata.obs_names, adata.var_names)}; threshold them first "
                         "(bionmf.pp.threshold(adata, floor=...)) or use bionmf.pp.make_nonnegative")
    if pseudocount == 0 and (sp.issparse(X) and X.nnz < X.shape[0] * X.shape[1] or
                             values.size and values.min() == 0):
        raise ValueError(f"{step}: the matrix holds zeros and pseudocount=0 would make them -inf; "
                         "use a positive pseudocount or a floor")


def log2(
    adata: ad.AnnData,
    *,
    pseudocount: float = 1.0,
    layer: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Replace each value x by log2(x + pseudocount).

    With values >= 0 and ``pseudocount >= 1`` the result is non-negative, as NMF needs.
    Brunet et al. (2004) factorized microarray data on the linear scale, so the bulk preset
    leaves this step off unless asked.

    Parameters
    ----------
    adata
        Samples x genes, non-negative.
    pseudocount
        Added before the logarithm. A sparse matrix needs ``pseudocount=1`` (zeros stay zeros).
    layer
        Work on ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes the logged matrix and appends
    ``{'step': 'log2', 'pseudocount': ...}`` to ``uns['bionmf_preprocessing']``.
    """
    X = get_matrix(adata, layer)
    _check_for_log(adata, X, "log2", pseudocount=pseudocount)
    if sp.issparse(X) and pseudocount != 1:
        raise ValueError(f"pseudocount={pseudocount} would turn the zeros of this sparse matrix into "
                         f"log2({pseudocount}); use pseudocount=1")
    warn_if_logged(adata, X, "log2")
    adata = start(adata, copy)
    X = float_matrix(get_matrix(adata, layer))
    values = X.data if sp.issparse(X) else X
    if pseudocount == 1:
        np.log1p(values, out=values)
        values /= np.log(2.0)
    else:
        values += pseudocount
        np.log2(values, out=values)
    set_matrix(adata, layer, X)
    record_step(adata, "log2", pseudocount=float(pseudocount), layer=layer)
    return adata if copy else None


def log1p(adata: ad.AnnData, *, layer: str | None = None, copy: bool = False) -> ad.AnnData | None:
    """Replace each value x by ln(1 + x), in place on the stored values of a sparse matrix.

    Parameters
    ----------
    adata
        Samples x genes, non-negative (e.g. normalized counts).
    layer
        Work on ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes the logged matrix and appends
    ``{'step': 'log1p'}`` to ``uns['bionmf_preprocessing']``.
    """
    X = get_matrix(adata, layer)
    _check_for_log(adata, X, "log1p", pseudocount=1.0)
    warn_if_logged(adata, X, "log1p")
    adata = start(adata, copy)
    X = float_matrix(get_matrix(adata, layer))
    values = X.data if sp.issparse(X) else X
    np.log1p(values, out=values)
    set_matrix(adata, layer, X)
    record_step(adata, "log1p", layer=layer)
    return adata if copy else None


def normalize_library(
    adata: ad.AnnData,
    *,
    method: Literal["cpm", "total"] = "cpm",
    target_sum: float | None = None,
    layer: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Scale each sample to a common library size, as scanpy's :func:`~scanpy.pp.normalize_total`.

    The stored values are scaled in place (scanpy's function copies the matrix), so a sparse
    matrix costs no extra memory.

    Parameters
    ----------
    adata
        Samples x genes, counts.
    method
        ``'cpm'``: counts per million (``target_sum=1e6``); ``'total'``: scanpy's default, the
        median library size, or ``target_sum`` when given.
    target_sum
        Library size after normalization (``method='total'`` only).
    layer
        Work on ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes the normalized matrix (float) and appends
    ``{'step': 'normalize_library', 'method': ..., 'target_sum': ...}`` to
    ``uns['bionmf_preprocessing']``.
    """
    if method not in ("cpm", "total"):
        raise ValueError(f"method must be 'cpm' or 'total', got {method!r}")
    if method == "cpm" and target_sum is not None:
        raise ValueError("target_sum applies to method='total'; 'cpm' always scales to 1e6")
    X = get_matrix(adata, layer)
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"values must be numeric, got dtype {values.dtype}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"normalize_library: {describe_nonfinite(X, adata.obs_names, adata.var_names)}")
    if values.size and values.min() < 0:
        raise ValueError(f"normalize_library: counts cannot be negative; "
                         f"{describe_negative(X, adata.obs_names, adata.var_names)}")
    totals = np.asarray(X.sum(axis=1)).ravel()
    if (totals == 0).any():
        raise ValueError(f"normalize_library: {plural(int((totals == 0).sum()), 'sample')} without counts "
                         f"({name_some(adata.obs_names, totals == 0)}); remove them with "
                         "bionmf.pp.remove_empty(adata)")
    adata = start(adata, copy)
    X = float_matrix(get_matrix(adata, layer))
    # As scanpy's normalize_total (each sample scaled to target_sum, by default the median library
    # size), but scaling the stored values in place: scanpy's version copies the matrix.
    target = 1e6 if method == "cpm" else (float(np.median(totals)) if target_sum is None else float(target_sum))
    factors = (target / totals).astype(X.dtype)
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        for begin in range(0, X.nnz, _CHUNK):
            stop = min(begin + _CHUNK, X.nnz)
            rows = np.searchsorted(X.indptr, np.arange(begin, stop), side="right") - 1
            X.data[begin:stop] *= factors[rows]
    else:
        X *= factors[:, None]
    set_matrix(adata, layer, X)
    logger.info("normalize_library: %s, each sample scaled to %.4g", method, target)
    record_step(adata, "normalize_library", method=method, target_sum=float(target), layer=layer)
    return adata if copy else None


def scale_genes(adata: ad.AnnData, *, layer: str | None = None, copy: bool = False) -> ad.AnnData | None:
    """Divide each gene by its standard deviation, without centering (values stay >= 0).

    As cNMF does (Kotliar et al. 2019), so that highly expressed genes do not dominate the
    factorization; without centering a sparse matrix stays sparse. Genes with zero variance are
    left as they are.

    Parameters
    ----------
    adata
        Samples x genes, non-negative.
    layer
        Work on ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes

    ``X`` (or the layer)
        The scaled matrix.
    ``var['scale_sd']``
        The standard deviation each gene was divided by (1 for zero-variance genes).
    ``uns['bionmf_preprocessing']``
        Appends ``{'step': 'scale_genes'}``.
    """
    X = get_matrix(adata, layer)
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"values must be numeric, got dtype {values.dtype}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"scale_genes: {describe_nonfinite(X, adata.obs_names, adata.var_names)}")
    adata = start(adata, copy)
    X = float_matrix(get_matrix(adata, layer))
    _, var = column_mean_var(X)
    sd = np.sqrt(var)
    sd[sd == 0] = 1.0
    inverse = (1.0 / sd).astype(X.dtype)
    if sp.issparse(X):
        if X.format == "csr":
            for begin in range(0, X.nnz, _CHUNK):
                stop = min(begin + _CHUNK, X.nnz)
                X.data[begin:stop] *= inverse[X.indices[begin:stop]]
        else:
            X = X.tocsc()
            X.data *= np.repeat(inverse, np.diff(X.indptr))
    else:
        X *= inverse
    set_matrix(adata, layer, X)
    adata.var["scale_sd"] = sd
    record_step(adata, "scale_genes", layer=layer)
    return adata if copy else None
