"""``bionmf.pp.normalize``: the preprocessing presets for arrays, bulk counts and single cells."""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._filter import (
    HVG_FLAVORS,
    filter_variation,
    handle_nonfinite,
    highly_variable_genes,
    remove_empty,
    select_genes,
    threshold,
)
from ._nonnegative import METHODS, make_nonnegative
from ._transform import log1p, log2, normalize_library, scale_genes
from ._utils import RECORD_KEY, USE_KEY, float_matrix, get_matrix, name_some, plural, record_step, set_matrix
from ._validate import NEGATIVE_FIXES, describe_negative, looks_logged, validate, warn_if_logged

logger = logging.getLogger("bionmf")

PRESETS = ("bulk", "counts", "singlecell")

#: Options each preset accepts, with the preset's default; an option given to a preset that does
#: not use it is an error rather than silently ignored.
PRESET_OPTIONS: dict[str, dict[str, Any]] = {
    "bulk": {"floor": None, "ceiling": None, "min_fold": None, "min_delta": None, "n_top_genes": None,
             "rank_by": "cv", "log": False},
    "counts": {"library": "cpm", "target_sum": None, "log": True, "n_top_genes": 5000, "rank_by": "variance"},
    "singlecell": {"library": None, "target_sum": None, "n_top_genes": 2000, "hvg_flavor": "cnmf", "scale": True},
}
_UNSET: Any = object()


def normalize(
    adata: ad.AnnData,
    *,
    preset: Literal["bulk", "counts", "singlecell"] = "bulk",
    layer: str | None = None,
    copy: bool = False,
    negative: Literal["error", "clip", "shift", "posneg"] = "error",
    nonfinite: Literal["error", "drop_genes", "drop_samples"] = "error",
    remove_constant: bool = True,
    min_samples: int = 3,
    floor: float | None = _UNSET,
    ceiling: float | None = _UNSET,
    min_fold: float | None = _UNSET,
    min_delta: float | None = _UNSET,
    n_top_genes: int | None = _UNSET,
    rank_by: Literal["cv", "variance", "mean"] = _UNSET,
    log: bool = _UNSET,
    library: Literal["cpm", "total"] | None = _UNSET,
    target_sum: float | None = _UNSET,
    hvg_flavor: Literal["cnmf", "cell_ranger", "seurat"] = _UNSET,
    scale: bool = _UNSET,
) -> ad.AnnData | None:
    """Turn an expression matrix into a valid non-negative NMF input, recording every step.

    Presets (each step is also a function of :mod:`bionmf.pp`):

    ``'bulk'`` (microarrays, Brunet et al. 2004 and GenePattern practice)
        :func:`threshold` to ``[floor, ceiling]``, :func:`filter_variation` (``min_fold``,
        ``min_delta``), :func:`select_genes` (the ``n_top_genes`` with the highest
        coefficient of variation, ``rank_by``), and :func:`log2` when ``log=True``. Every step is
        off unless its option is given, so files already prepared as Brunet's (the Golub and
        medulloblastoma data) go through unchanged; the medulloblastoma data were prepared
        with ``floor=20, ceiling=16000``.
    ``'counts'`` (bulk RNA-seq counts)
        :func:`normalize_library` (``library='cpm'``, or ``'total'`` for scanpy's
        normalize_total), :func:`log1p`, :func:`select_genes` (top ``n_top_genes=5000`` by
        variance).
    ``'singlecell'`` (UMI counts, cNMF practice, Kotliar et al. 2019)
        :func:`highly_variable_genes` (``n_top_genes=2000`` by cNMF's overdispersion criterion,
        judged on depth-normalized counts), :func:`scale_genes` (unit variance, no centering).
        The values factorized stay counts, as cNMF's are (a cell's depth goes into its usages);
        ``library='total'`` normalizes each cell's total first (:func:`normalize_library`). On
        pbmc3k, against the Seurat labels at k = 9, cNMF's criterion on counts gave an adjusted
        Rand index of 0.50, scanpy's cell_ranger flavor on depth-normalized values 0.38
        (``benchmarks/SINGLECELL.md``). A sparse matrix stays sparse throughout.

    Before the preset: :func:`handle_nonfinite` (``nonfinite``), a check for negative values
    (``negative``), :func:`remove_empty` (all-zero genes and samples, and constant ones with
    ``remove_constant``). After it: samples left with no signal in the chosen genes are
    removed (as cNMF drops such cells; with a warning naming them for the bulk and counts
    presets) and the result passes :func:`validate`. On any error ``adata`` is left unchanged.

    Parameters
    ----------
    adata
        Samples (cells) x genes.
    preset
        ``'bulk'``, ``'counts'`` or ``'singlecell'``.
    layer
        Normalize ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a normalized copy instead of changing ``adata``.
    negative
        What to do with negative values (after thresholding): ``'error'`` (default),
        ``'clip'``, ``'shift'`` or ``'posneg'``, see :func:`make_nonnegative`.
    nonfinite
        What to do with NaN/infinite values: ``'error'`` (default), ``'drop_genes'`` or
        ``'drop_samples'``.
    remove_constant
        Also remove constant (not only all-zero) genes and samples.
    min_samples
        Fewest samples accepted.
    floor, ceiling, min_fold, min_delta, rank_by
        Bulk preset: thresholds, variation filter and gene ranking (``'cv'``).
    n_top_genes
        Number of genes marked for the fit; ``None`` keeps all that pass the filters. Defaults:
        bulk ``None``, counts 5000, singlecell 2000.
    log
        Log-transform: bulk ``False`` (log2(x + 1) when ``True``), counts ``True`` (log1p).
        A warning is given when the data look logged already.
    library, target_sum
        Library-size normalization: ``library`` ``'cpm'`` or ``'total'`` (counts preset);
        ``None`` (default) or ``'total'`` (singlecell preset); ``target_sum`` for ``'total'``
        (default: median library size).
    hvg_flavor
        Singlecell preset: how the variable genes are chosen, see :func:`highly_variable_genes`
        (``'cnmf'``; or scanpy's ``'cell_ranger'``, ``'seurat'``).
    scale
        Singlecell preset: scale genes to unit variance (``True``).

    Returns
    -------
    ``None``, or the normalized copy when ``copy=True``. Writes

    ``X`` (or ``layers[layer]``)
        The normalized, non-negative matrix (float); samples and genes removed by the checks
        are removed from the whole object.
    ``var['nmf_use']``
        ``True`` for the genes the factorization uses (bool).
    ``var`` statistics
        As written by the steps run: ``fold_change``, ``delta``, ``mean``, ``variance``,
        ``cv``, ``means``, ``dispersions``, ``dispersions_norm``, ``highly_variable``,
        ``scale_sd``; ``posneg`` and ``source_gene`` with ``negative='posneg'``.
    ``uns['bionmf_preprocessing']``
        One entry per step with its parameters (see :func:`preprocessing_steps`), the first
        ``{'step': 'normalize', 'preset': ...}``.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"expected an AnnData object, got {type(adata).__name__}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(map(repr, PRESETS))}, got {preset!r}")
    if negative not in ("error", *METHODS):
        raise ValueError(f"negative must be 'error', 'clip', 'shift' or 'posneg', got {negative!r}")
    given = {"floor": floor, "ceiling": ceiling, "min_fold": min_fold, "min_delta": min_delta,
             "n_top_genes": n_top_genes, "rank_by": rank_by, "log": log, "library": library,
             "target_sum": target_sum, "hvg_flavor": hvg_flavor, "scale": scale}
    allowed = PRESET_OPTIONS[preset]
    wrong = [name for name, value in given.items() if value is not _UNSET and name not in allowed]
    if wrong:
        raise ValueError(f"preset={preset!r} does not use {', '.join(wrong)}; its options are "
                         f"{', '.join(allowed)}")
    opts = {name: (allowed[name] if given[name] is _UNSET else given[name]) for name in allowed}
    _check_combinations(preset, opts)

    X = get_matrix(adata, layer)
    what = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {X.dtype}")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(f"{what} is empty ({plural(adata.n_obs, 'sample')} x {plural(adata.n_vars, 'gene')})")
    if adata.n_obs < min_samples:
        raise ValueError(f"{plural(adata.n_obs, 'sample')} ({name_some(adata.obs_names)}); consensus NMF needs at "
                         f"least {min_samples}")
    for names, kind in ((adata.obs_names, "sample"), (adata.var_names, "gene")):
        if not names.is_unique:
            dup = names[names.duplicated()].unique()
            raise ValueError(f"{plural(len(dup), f'duplicate {kind} name')} ({name_some(dup)}); make them unique "
                             f"first (adata.{'obs' if kind == 'sample' else 'var'}_names_make_unique())")

    # Whether the data are logged already is judged on the values as given: after the counts
    # preset's library normalization, logged values no longer look logged.
    if opts.get("log"):
        if preset == "counts":
            warn_if_logged(adata, X, "preset='counts' (library normalization, then log1p)", stacklevel=3,
                           fix="start from the raw counts, or pass log=False, or use preset='bulk' for "
                               "logged array data")
        else:
            warn_if_logged(adata, X, f"preset={preset!r} with log=True (log2)", stacklevel=3)
    elif preset == "singlecell":
        reason = looks_logged(adata, X)
        if reason is not None:
            # cNMF's gene criterion and its factorization are defined on counts
            warnings.warn(f"preset='singlecell' takes UMI counts, but the data look log-transformed ({reason}); "
                          "start from the raw counts (e.g. adata.raw or a counts layer, layer=...)",
                          UserWarning, stacklevel=2)

    # All steps run on a working object that owns a float copy of the matrix; adata is touched
    # only once everything has passed, so that an error leaves it as it was. For integer counts
    # the float conversion is that copy, so it costs no extra memory.
    work_X = float_matrix(X)
    if np.may_share_memory(work_X.data if sp.issparse(work_X) else work_X, X.data if sp.issparse(X) else X):
        work_X = work_X.copy()
    work = ad.AnnData(X=work_X, obs=pd.DataFrame(index=adata.obs_names.copy()), var=adata.var.copy())
    del work_X, X  # the steps replace work.X; a reference here would keep the old one alive
    for key in (RECORD_KEY, "log1p"):
        if key in adata.uns:
            work.uns[key] = dict(adata.uns[key]) if isinstance(adata.uns[key], dict) else adata.uns[key]
    work.var[USE_KEY] = True
    record_step(work, "normalize", preset=preset, layer=layer, negative=negative, nonfinite=nonfinite,
                **{k: v for k, v in opts.items()})

    handle_nonfinite(work, policy=nonfinite)
    if preset == "bulk" and (opts["floor"] is not None or opts["ceiling"] is not None):
        threshold(work, floor=opts["floor"], ceiling=opts["ceiling"])
    _nonnegative(work, negative, preset, what)
    remove_empty(work, constant=remove_constant, min_samples=min_samples)

    if preset == "bulk":
        if opts["min_fold"] is not None or opts["min_delta"] is not None:
            filter_variation(work, min_fold=opts["min_fold"], min_delta=opts["min_delta"])
        if opts["n_top_genes"] is not None:
            select_genes(work, n_top=opts["n_top_genes"], by=opts["rank_by"])
        if opts["log"]:
            _log_checked(log2, work, pseudocount=1.0)
    elif preset == "counts":
        normalize_library(work, method=opts["library"],
                          target_sum=opts["target_sum"] if opts["library"] == "total" else None)
        if opts["log"]:
            _log_checked(log1p, work)
        if opts["n_top_genes"] is not None:
            select_genes(work, n_top=opts["n_top_genes"], by=opts["rank_by"])
    else:
        if opts["library"] == "total":
            normalize_library(work, method="total", target_sum=opts["target_sum"])
        if opts["n_top_genes"] is not None:
            highly_variable_genes(work, n_top=opts["n_top_genes"], flavor=opts["hvg_flavor"])
        if opts["scale"]:
            scale_genes(work)

    # A sample can be all zero in the chosen genes (a cell with no counts in any variable gene).
    # cNMF drops such cells; a bulk sample lost this way deserves more than a log line.
    n_before = work.n_obs
    kept_names = work.obs_names
    remove_empty(work, constant=False, use_key=USE_KEY, min_samples=min_samples)
    if preset != "singlecell" and work.n_obs < n_before:
        lost = ~kept_names.isin(work.obs_names)
        warnings.warn(f"normalize removed {plural(int(lost.sum()), 'sample')} ({name_some(kept_names, lost)}) whose "
                      f"values are all zero in the {plural(int(work.var[USE_KEY].sum()), 'gene')} chosen; choose more genes "
                      "(n_top_genes) or another ranking to keep them", UserWarning, stacklevel=2)
    validate(work, use_key=USE_KEY, min_samples=min_samples)
    logger.info("normalize (%s): %s x %s, %d genes marked in var[%r]", preset, plural(work.n_obs, "sample"),
                plural(work.n_vars, "gene"), int(work.var[USE_KEY].sum()), USE_KEY)

    result = adata.copy() if copy else adata
    _commit(result, work, layer)
    return result if copy else None


def _check_combinations(preset: str, opts: dict[str, Any]) -> None:
    """Reject option values a preset cannot use together, naming the option."""
    if preset == "singlecell":
        if opts["library"] not in (None, "total"):
            raise ValueError(f"preset='singlecell' takes library=None (counts, as cNMF) or 'total', got "
                             f"{opts['library']!r}")
        if opts["target_sum"] is not None and opts["library"] != "total":
            raise ValueError("target_sum applies with library='total'; preset='singlecell' leaves the counts "
                             "unscaled by default")
        if opts["hvg_flavor"] not in HVG_FLAVORS:
            raise ValueError(f"hvg_flavor must be one of {', '.join(map(repr, HVG_FLAVORS))}, got "
                             f"{opts['hvg_flavor']!r}")


def _log_checked(step, work: ad.AnnData, **kwargs) -> None:
    """Run a log step whose check for logged data normalize has already made on the input."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the data look log-transformed already", category=UserWarning)
        step(work, **kwargs)


def _nonnegative(work: ad.AnnData, negative: str, preset: str, what: str) -> None:
    values = work.X.data if sp.issparse(work.X) else work.X
    if values.size == 0 or values.min() >= 0:
        return
    if negative == "error":
        hint = " (or a floor, e.g. floor=20 for array intensities)" if preset == "bulk" else ""
        raise ValueError(f"{what}: {describe_negative(work.X, work.obs_names, work.var_names)}. "
                         f"{NEGATIVE_FIXES}{hint}")
    make_nonnegative(work, method=negative)


def _commit(result: ad.AnnData, work: ad.AnnData, layer: str | None) -> None:
    """Move the working object's matrix, var and record into ``result``."""
    if result.is_view:
        result._init_as_actual(result.copy())
    keep_obs = result.obs_names.isin(work.obs_names)
    # Drop the old matrix before subsetting, so that it is not copied only to be replaced.
    if layer is None:
        result.X = None
    else:
        del result.layers[layer]
    if not keep_obs.all():
        result._inplace_subset_obs(keep_obs)
    if not work.var_names.isin(result.var_names).all():  # posneg split the genes
        dropped = [f"layers[{k!r}]" for k in result.layers.keys()] + [f"varm[{k!r}]" for k in result.varm.keys()]
        if layer is not None and result.X is not None:
            dropped.append("X")
        if dropped:
            logger.info("normalize: dropped %s, which do not match the split genes", ", ".join(dropped))
        uns = dict(result.uns)
        uns[RECORD_KEY] = work.uns[RECORD_KEY]
        new = ad.AnnData(X=work.X if layer is None else None, obs=result.obs, var=work.var, uns=uns,
                         obsm=dict(result.obsm), obsp=dict(result.obsp),
                         layers={layer: work.X} if layer is not None else None)
        result._init_as_actual(new)
        return
    keep_var = result.var_names.isin(work.var_names)
    if not keep_var.all():
        result._inplace_subset_var(keep_var)
    set_matrix(result, layer, work.X)
    result.var = work.var
    result.uns[RECORD_KEY] = work.uns[RECORD_KEY]
