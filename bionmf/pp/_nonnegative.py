"""Making a matrix with negative values fit for NMF: clip, shift or split into positive/negative parts."""

from __future__ import annotations

import logging
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._utils import USE_KEY, float_matrix, get_matrix, plural, record_step, set_matrix, start
from ._validate import describe_negative, describe_nonfinite

logger = logging.getLogger("bionmf")

METHODS = ("clip", "shift", "posneg")


def make_nonnegative(
    adata: ad.AnnData,
    *,
    method: Literal["clip", "shift", "posneg"],
    layer: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Remove negative values so that NMF can factorize the matrix.

    Parameters
    ----------
    adata
        Samples x genes.
    method
        ``'clip'``: set negative values to 0 (right when negatives are noise around zero, e.g.
        background-subtracted intensities). ``'shift'``: subtract the global minimum from every
        value, keeping all differences (dense matrices only: it fills the zeros of a sparse one).
        ``'posneg'``: replace each gene g by two non-negative genes ``g_pos`` = max(x, 0) and
        ``g_neg`` = max(-x, 0), as Kim & Tidor (2003, Genome Res 13:1706) did for log ratios;
        the number of genes doubles.
    layer
        Work on ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes

    ``X`` (or ``layers[layer]``)
        The non-negative matrix (floating point).
    ``var['posneg']``, ``var['source_gene']``
        With ``'posneg'``: ``'pos'``/``'neg'`` and the original gene name. ``posneg`` drops the
        other layers and ``varm``, which no longer match the genes; ``var`` columns are repeated.
    ``uns['bionmf_preprocessing']``
        Appends ``{'step': 'make_nonnegative', 'method': ..., 'n_negative': ...}``
        (and ``'shift'``, the value added, for ``'shift'``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    X = get_matrix(adata, layer)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"values must be numeric, got dtype {X.dtype}")
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{describe_nonfinite(X, adata.obs_names, adata.var_names)}; handle them first "
                         "with bionmf.pp.handle_nonfinite")
    n_negative = int((values < 0).sum())
    if method == "shift" and sp.issparse(X) and n_negative:
        raise ValueError("method='shift' would turn every zero of this sparse matrix into a positive value "
                         "and make it dense; use method='clip' or 'posneg', or densify it first "
                         "(adata.X = adata.X.toarray())")
    adata = start(adata, copy)
    if n_negative == 0:
        logger.info("make_nonnegative: no negative values, nothing to do")
        record_step(adata, "make_nonnegative", method=method, layer=layer, n_negative=0)
        return adata if copy else None
    logger.info("make_nonnegative (%s): %s", method, describe_negative(X, adata.obs_names, adata.var_names))

    if method == "clip":
        X = float_matrix(get_matrix(adata, layer))
        if sp.issparse(X):
            X.data[X.data < 0] = 0
            X.eliminate_zeros()
        else:
            X[X < 0] = 0
        set_matrix(adata, layer, X)
        record_step(adata, "make_nonnegative", method=method, layer=layer, n_negative=n_negative)
    elif method == "shift":
        X = float_matrix(get_matrix(adata, layer))
        minimum = float(X.min())
        X -= minimum
        set_matrix(adata, layer, X)
        record_step(adata, "make_nonnegative", method=method, layer=layer, n_negative=n_negative,
                    shift=-minimum)
    else:
        _posneg_inplace(adata, float_matrix(get_matrix(adata, layer)), layer)
        record_step(adata, "make_nonnegative", method=method, layer=layer, n_negative=n_negative)
    return adata if copy else None


def _posneg_inplace(adata: ad.AnnData, X, layer: str | None) -> None:
    if sp.issparse(X):
        X = X.tocsr()
        positive = X.maximum(0)
        negative = (-X).maximum(0)
        doubled = sp.hstack([positive, negative], format="csr")
    else:
        doubled = np.hstack([np.maximum(X, 0), np.maximum(-X, 0)])
    # Interleave so that g_pos and g_neg sit side by side, as in Kim & Tidor's table.
    n = X.shape[1]
    order = np.empty(2 * n, dtype=np.intp)
    order[0::2] = np.arange(n)
    order[1::2] = np.arange(n, 2 * n)
    doubled = doubled[:, order]
    var = adata.var.iloc[np.repeat(np.arange(n), 2)].copy()
    var["source_gene"] = np.repeat(adata.var_names.to_numpy(), 2)
    var["posneg"] = pd.Categorical(np.tile(["pos", "neg"], n), categories=["pos", "neg"])
    var.index = pd.Index([f"{g}_{part}" for g, part in zip(var["source_gene"], var["posneg"])])
    dropped = [f"layers[{k!r}]" for k in adata.layers.keys() if k != layer] + \
              [f"varm[{k!r}]" for k in adata.varm.keys()]
    if layer is not None:
        dropped.append("X")
    if dropped:
        logger.info("make_nonnegative (posneg): dropped %s, which no longer match the doubled genes",
                    ", ".join(dropped))
    if USE_KEY in var.columns:
        var[USE_KEY] = var[USE_KEY].astype(bool)
    new = ad.AnnData(
        X=doubled if layer is None else None,
        obs=adata.obs,
        var=var,
        uns=adata.uns,
        obsm=dict(adata.obsm),
        obsp=dict(adata.obsp),
        layers={layer: doubled} if layer is not None else None,
    )
    adata._init_as_actual(new)
    logger.info("make_nonnegative (posneg): %s -> %s", plural(n, "gene"), plural(2 * n, "gene"))
