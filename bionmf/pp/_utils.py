"""Helpers shared by the preprocessing steps: float conversion, the step record, chunked reductions.

Matrix access, gene masks and message pieces are the ground floor's (``bionmf._matrix``,
``bionmf._messages``), imported here for the steps."""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

# re-exported for the steps, which import them from here
from .._matrix import USE_KEY, get_matrix, set_matrix, use_mask  # noqa: F401
from .._messages import name_some, plural  # noqa: F401

RECORD_KEY = "bionmf_preprocessing"
# Stored values handled at a time by the chunked sparse reductions: bounds their temporaries
# to a few MB whatever the size of the matrix.
_CHUNK = 1 << 18


def float_matrix(X, dtype=None):
    """``X`` as a floating-point array or CSR/CSC matrix (a copy only when the dtype changes).

    Integer counts become float32, which holds every count below 2**24 exactly and halves the
    memory of float64; floating input keeps its precision.
    """
    if sp.issparse(X):
        if X.format not in ("csr", "csc"):
            X = X.tocsr()
        elif type(X).__module__.startswith("anndata"):
            # anndata's view classes carry a link to their parent; a plain matrix sharing the
            # same arrays does not.
            X = (sp.csr_matrix if X.format == "csr" else sp.csc_matrix)(X, copy=False)
    else:
        X = np.asarray(X)  # np.matrix and anndata's ArrayView to a plain ndarray, no copy
    if dtype is None:
        dtype = X.dtype if X.dtype.kind == "f" else np.float32
    return X.astype(dtype, copy=False)


def as_plain(value: Any) -> Any:
    """A value that h5ad can store: numpy scalars to Python, tuples to lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, range)):
        return [as_plain(v) for v in value]
    return value


def record_step(adata: ad.AnnData, step: str, **params: Any) -> None:
    """Append one step to ``adata.uns['bionmf_preprocessing']``.

    anndata cannot write a list of dicts to h5ad, so the record is a dict of dicts with
    zero-padded keys (``'00_threshold'``, ``'01_log2'``, ...) that sort in step order;
    :func:`bionmf.pp.preprocessing_steps` returns it as a list. ``None`` values are left out.
    """
    record = adata.uns.get(RECORD_KEY)
    if not isinstance(record, dict):
        record = {}
    entry = {"step": step}
    entry.update({k: as_plain(v) for k, v in params.items() if v is not None})
    record[f"{len(record):02d}_{step}"] = entry
    adata.uns[RECORD_KEY] = record


def preprocessing_steps(adata: ad.AnnData) -> list[dict[str, Any]]:
    """The preprocessing steps recorded in ``adata.uns['bionmf_preprocessing']``, in order.

    Parameters
    ----------
    adata
        An AnnData object processed by :mod:`bionmf.pp`.

    Returns
    -------
    A list with one dict per step: ``'step'`` (the function name) and its parameters.
    """
    record = adata.uns.get(RECORD_KEY, {})
    return [dict(record[key]) for key in sorted(record)]


def column_min_max(X) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene (column) minimum and maximum, implicit zeros of a sparse matrix included."""
    if sp.issparse(X):
        if X.format != "csr":
            return (np.asarray(X.min(axis=0).todense()).ravel(),
                    np.asarray(X.max(axis=0).todense()).ravel())
        # scipy converts CSR to CSC for a column reduction (a full copy); reduce blocks of rows of
        # about _CHUNK stored values instead, so only one block is ever copied. A block's
        # reduction counts its implicit zeros, as the whole matrix's would.
        n_rows, n_cols = X.shape
        hi = np.full(n_cols, -np.inf)
        lo = np.full(n_cols, np.inf)
        step = max(1, int(_CHUNK * n_rows // max(X.nnz, 1)))
        for begin in range(0, n_rows, step):
            block = X[begin:begin + step]
            np.maximum(hi, block.max(axis=0).toarray().ravel(), out=hi)
            np.minimum(lo, block.min(axis=0).toarray().ravel(), out=lo)
        dtype = X.dtype if X.dtype.kind == "f" else np.float64
        return lo.astype(dtype, copy=False), hi.astype(dtype, copy=False)
    return np.asarray(X.min(axis=0)).ravel(), np.asarray(X.max(axis=0)).ravel()


def row_min_max(X) -> tuple[np.ndarray, np.ndarray]:
    if sp.issparse(X):
        return (np.asarray(X.min(axis=1).todense()).ravel(),
                np.asarray(X.max(axis=1).todense()).ravel())
    return np.asarray(X.min(axis=1)).ravel(), np.asarray(X.max(axis=1)).ravel()


def column_mean_var(X, *, row_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and variance (ddof=1) in float64, without copying a sparse matrix.

    With ``row_weights`` those of ``diag(row_weights) @ X`` (e.g. depth-normalized counts), still
    without making that matrix.
    """
    n = X.shape[0]
    if sp.issparse(X):
        total, sumsq = _sparse_column_sums(X, row_weights)
    else:
        total = np.zeros(X.shape[1], dtype=np.float64)
        sumsq = np.zeros(X.shape[1], dtype=np.float64)
        step = max(1, _CHUNK // max(X.shape[1], 1))
        for begin in range(0, n, step):
            block = np.asarray(X[begin:begin + step], dtype=np.float64)
            if row_weights is not None:
                block = block * row_weights[begin:begin + step, None]
            total += block.sum(axis=0)
            sumsq += np.einsum("ij,ij->j", block, block)
    mean = total / n
    ddof = 1 if n > 1 else 0
    var = (sumsq - n * mean**2) / (n - ddof)
    # The one-pass formula can go slightly negative through rounding for constant genes.
    np.maximum(var, 0.0, out=var)
    return mean, var


def _sparse_column_sums(X, row_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-column sum and sum of squares in float64, in chunks of the stored values."""
    if X.format not in ("csr", "csc"):
        X = X.tocsr()
    total = np.zeros(X.shape[1], dtype=np.float64)
    sumsq = np.zeros(X.shape[1], dtype=np.float64)
    for begin in range(0, X.nnz, _CHUNK):
        stop = min(begin + _CHUNK, X.nnz)
        block = X.data[begin:stop].astype(np.float64)
        if X.format == "csr":
            columns = X.indices[begin:stop]
            if row_weights is not None:
                block *= row_weights[np.searchsorted(X.indptr, np.arange(begin, stop), side="right") - 1]
        else:
            columns = np.searchsorted(X.indptr, np.arange(begin, stop), side="right") - 1
            if row_weights is not None:
                block *= row_weights[X.indices[begin:stop]]
        total += np.bincount(columns, weights=block, minlength=X.shape[1])
        block *= block
        sumsq += np.bincount(columns, weights=block, minlength=X.shape[1])
    return total, sumsq


def start(adata: ad.AnnData, copy: bool) -> ad.AnnData:
    """The object a step writes to: a copy, or ``adata`` itself made actual if it is a view.

    Called only after every check has passed, so that an error leaves the input unchanged.
    """
    if copy:
        return adata.copy()
    if adata.is_view:
        # Writing through a view could reach the parent's arrays; make it an AnnData of its own.
        adata._init_as_actual(adata.copy())
    return adata


def subset_inplace(adata: ad.AnnData, *, obs: np.ndarray | None = None, var: np.ndarray | None = None) -> None:
    """Keep the samples ``obs`` and genes ``var`` (boolean masks) of ``adata``, in place.

    anndata's own in-place subsetting builds a view and copies it, holding the matrix three times
    at its peak; an AnnData with nothing but ``X``, ``obs``, ``var`` and ``uns`` (the working
    object of :func:`bionmf.pp.normalize`) is cut here with a single copy of the matrix.
    """
    others = (len(adata.layers), len(adata.obsm), len(adata.varm), len(adata.obsp), len(adata.varp))
    if any(others) or adata.raw is not None or adata.X is None or adata.is_view:
        if obs is not None:
            adata._inplace_subset_obs(obs)
        if var is not None:
            adata._inplace_subset_var(var)
        return
    X = adata.X
    if obs is not None:
        X = X[obs]
    if var is not None:
        X = X[:, var]
    new = ad.AnnData(
        X=X,
        obs=adata.obs[obs] if obs is not None else adata.obs,
        var=adata.var[var] if var is not None else adata.var,
        uns=adata.uns,
    )
    adata._init_as_actual(new)
