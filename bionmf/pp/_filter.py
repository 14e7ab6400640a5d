"""Steps that decide which samples and genes take part: missing values, empty or constant rows and
columns, thresholds, the variation filter and the choice of the top genes.

Samples and genes that cannot be factorized (missing values, all zero) are removed from the
AnnData; genes that are merely uninformative (variation filter, top-N) are only marked, as
``var['nmf_use'] = False``, so that :func:`bionmf.tl.nmf` can still report loadings for them.
"""

from __future__ import annotations

import logging
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._utils import (
    USE_KEY,
    column_mean_var,
    column_min_max,
    float_matrix,
    get_matrix,
    name_some,
    plural,
    record_step,
    row_min_max,
    set_matrix,
    start,
    subset_inplace,
    use_mask,
)
from ._validate import NONFINITE_FIXES, describe_negative, describe_nonfinite

logger = logging.getLogger("bionmf")


def _require_numeric(X, what: str = "values") -> None:
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {X.dtype}; "
                        "bionmf.io readers name the non-numeric cells of a file")


def handle_nonfinite(
    adata: ad.AnnData,
    *,
    policy: Literal["error", "drop_genes", "drop_samples"] = "error",
    layer: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Deal with NaN and infinite values (missing measurements) before NMF.

    Parameters
    ----------
    adata
        Samples x genes.
    policy
        ``'error'`` raises a :class:`ValueError` naming the genes and samples that hold them;
        ``'drop_genes'`` removes every gene with such a value; ``'drop_samples'`` removes every
        sample with one.
    layer
        Look at ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Removes genes or samples (all layers) and appends
    ``{'step': 'handle_nonfinite', 'policy': ..., 'n_removed': ...}`` to
    ``uns['bionmf_preprocessing']``.
    """
    policies = ("error", "drop_genes", "drop_samples")
    if policy not in policies:
        raise ValueError(f"policy must be one of {', '.join(map(repr, policies))}, got {policy!r}")
    X = get_matrix(adata, layer)
    _require_numeric(X)
    values = X.data if sp.issparse(X) else np.asarray(X)
    bad = ~np.isfinite(values) if values.dtype.kind == "f" else None
    if bad is None or not bad.any():
        if copy:
            adata = adata.copy()
        record_step(adata, "handle_nonfinite", policy=policy, layer=layer, n_removed=0)
        return adata if copy else None
    description = describe_nonfinite(X, adata.obs_names, adata.var_names)
    if policy == "error":
        raise ValueError(f"{description}; {NONFINITE_FIXES}")
    if sp.issparse(X):
        coo = X.tocoo()
        rows, cols = coo.row[bad], coo.col[bad]
    else:
        rows, cols = np.nonzero(bad)
    axis_is_genes = policy == "drop_genes"
    drop = np.zeros(adata.n_vars if axis_is_genes else adata.n_obs, dtype=bool)
    drop[cols if axis_is_genes else rows] = True
    kind = "gene" if axis_is_genes else "sample"
    names = adata.var_names if axis_is_genes else adata.obs_names
    if drop.all():
        raise ValueError(f"{description}; policy={policy!r} would remove every {kind}")
    adata = start(adata, copy)
    logger.info("handle_nonfinite: removed %s with NaN/infinite values (%s)",
                plural(int(drop.sum()), kind), name_some(names, drop))
    if axis_is_genes:
        subset_inplace(adata, var=~drop)
    else:
        subset_inplace(adata, obs=~drop)
    record_step(adata, "handle_nonfinite", policy=policy, layer=layer, n_removed=int(drop.sum()))
    return adata if copy else None


def remove_empty(
    adata: ad.AnnData,
    *,
    constant: bool = True,
    use_key: str | None = None,
    min_samples: int = 3,
    layer: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Remove samples and genes whose values are all zero (or all equal).

    NMF cannot fit an all-zero row or column (the R package NMF stops with an obscure error on
    them), and a constant gene carries no pattern. Each removal is logged with how many and
    which.

    Parameters
    ----------
    adata
        Samples x genes.
    constant
        Also remove genes, and samples, whose values are all equal but not zero.
    use_key
        When given, a sample counts as empty when it is zero in every gene marked in
        ``var[use_key]`` (e.g. a cell with no counts in the selected highly variable genes).
    min_samples
        Raise a :class:`ValueError`, leaving ``adata`` unchanged, when fewer samples would remain.
    layer
        Look at ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Removes samples and genes (all layers) and appends
    ``{'step': 'remove_empty', 'n_samples_removed': ..., 'n_genes_removed': ...}`` to
    ``uns['bionmf_preprocessing']``.
    """
    X = get_matrix(adata, layer)
    _require_numeric(X)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"the matrix is empty ({plural(X.shape[0], 'sample')} x {plural(X.shape[1], 'gene')})")
    if use_key is not None:
        mask = use_mask(adata, use_key)
        sample_min, sample_max = row_min_max(X[:, mask]) if mask.any() else (np.zeros(X.shape[0]),) * 2
    else:
        sample_min, sample_max = row_min_max(X)
    zero_samples = (sample_min == 0) & (sample_max == 0)
    constant_samples = ((sample_min == sample_max) & ~zero_samples
                        if constant and use_key is None and X.shape[1] > 1 else np.zeros_like(zero_samples))
    # Genes are judged on the samples that stay: one that is 0 only in a removed sample is constant.
    kept = ~(zero_samples | constant_samples)
    if kept.sum() < min_samples:
        raise ValueError(f"only {plural(int(kept.sum()), 'sample')} would remain after removing all-zero/constant "
                         f"samples ({name_some(adata.obs_names, ~kept)}); consensus NMF needs at least "
                         f"{min_samples}")
    gene_min, gene_max = column_min_max(X if kept.all() else X[kept])
    zero_genes = (gene_min == 0) & (gene_max == 0)
    constant_genes = (gene_min == gene_max) & ~zero_genes if constant else np.zeros_like(zero_genes)
    drop_genes = zero_genes | constant_genes
    drop_samples = zero_samples | constant_samples
    if drop_genes.all():
        raise ValueError(f"every gene is all zero or constant ({plural(X.shape[1], 'gene')}); nothing is left to "
                         "factorize")
    adata = start(adata, copy)
    for mask, kind, names, why in (
        (zero_genes, "gene", adata.var_names, "all-zero"),
        (constant_genes, "gene", adata.var_names, "constant"),
        (zero_samples, "sample", adata.obs_names,
         "all-zero" if use_key is None else f"all-zero (in the genes of var[{use_key!r}])"),
        (constant_samples, "sample", adata.obs_names, "constant"),
    ):
        if mask.any():
            logger.info("remove_empty: removed %d %s %s%s (%s)", int(mask.sum()), why, kind,
                        "" if mask.sum() == 1 else "s", name_some(names, mask))
    if drop_samples.any() or drop_genes.any():
        subset_inplace(adata, obs=~drop_samples if drop_samples.any() else None,
                       var=~drop_genes if drop_genes.any() else None)
    record_step(adata, "remove_empty", constant=constant, use_key=use_key, layer=layer,
                n_samples_removed=int(drop_samples.sum()), n_genes_removed=int(drop_genes.sum()))
    return adata if copy else None


def threshold(
    adata: ad.AnnData,
    *,
    floor: float | None = None,
    ceiling: float | None = None,
    layer: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Clip values to ``[floor, ceiling]``, as microarray intensities are before NMF.

    Low intensities of expression arrays are unreliable and high ones saturate; the data of
    Brunet et al. (2004) were prepared so: the medulloblastoma set thresholded to 20..16000, the
    Golub set floored at 20.

    Parameters
    ----------
    adata
        Samples x genes.
    floor, ceiling
        Smallest and largest value kept; ``None`` leaves that side alone. A positive floor is
        refused on a sparse matrix (it would fill the zeros).
    layer
        Work on ``adata.layers[layer]`` instead of ``adata.X``.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes the clipped matrix to ``X`` (or the layer)
    and appends ``{'step': 'threshold', 'floor': ..., 'ceiling': ..., 'n_floored': ...,
    'n_ceiled': ...}`` to ``uns['bionmf_preprocessing']``.
    """
    X = get_matrix(adata, layer)
    _require_numeric(X)
    if floor is not None and ceiling is not None and floor > ceiling:
        raise ValueError(f"floor ({floor}) is above ceiling ({ceiling})")
    if sp.issparse(X) and floor is not None and floor > 0:
        raise ValueError(f"floor={floor} would replace every zero of this sparse matrix and make it dense; "
                         "densify it first (adata.X = adata.X.toarray()) or leave floor=None")
    adata = start(adata, copy)
    X = float_matrix(get_matrix(adata, layer))
    values = X.data if sp.issparse(X) else X
    n_floored = int((values < floor).sum()) if floor is not None else 0
    n_ceiled = int((values > ceiling).sum()) if ceiling is not None else 0
    np.clip(values, floor, ceiling, out=values)
    set_matrix(adata, layer, X)
    logger.info("threshold: %d values raised to the floor %s, %d lowered to the ceiling %s",
                n_floored, floor, n_ceiled, ceiling)
    record_step(adata, "threshold", floor=floor, ceiling=ceiling, layer=layer, n_floored=n_floored,
                n_ceiled=n_ceiled)
    return adata if copy else None


def filter_variation(
    adata: ad.AnnData,
    *,
    min_fold: float | None = None,
    min_delta: float | None = None,
    layer: str | None = None,
    key_added: str = USE_KEY,
    copy: bool = False,
) -> ad.AnnData | None:
    """Mark genes that vary too little across samples as not used for NMF.

    The variation filter of GenePattern's preprocessing: a gene is kept when its max/min fold
    change is at least ``min_fold`` and its max - min difference is at least ``min_delta``.

    Parameters
    ----------
    adata
        Samples x genes (values on the linear scale, usually thresholded first).
    min_fold
        Least max/min ratio; a gene whose minimum is 0 and maximum positive passes.
    min_delta
        Least max - min difference.
    layer
        Look at ``adata.layers[layer]`` instead of ``adata.X``.
    key_added
        Boolean ``var`` column of the genes used; genes already marked ``False`` stay so.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes

    ``var[key_added]``
        ``False`` for genes failing the filter.
    ``var['fold_change']``, ``var['delta']``
        max/min and max - min of each gene.
    ``uns['bionmf_preprocessing']``
        Appends ``{'step': 'filter_variation', 'min_fold': ..., 'min_delta': ..., 'n_kept': ...}``.
    """
    X = get_matrix(adata, layer)
    _require_numeric(X)
    current = use_mask(adata, key_added)
    lo, hi = column_min_max(X)
    lo = lo.astype(np.float64)
    hi = hi.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        fold = np.where(lo > 0, hi / np.where(lo > 0, lo, 1), np.where(hi > 0, np.inf, 1.0))
    delta = hi - lo
    keep = current.copy()
    if min_fold is not None:
        keep &= fold >= min_fold
    if min_delta is not None:
        keep &= delta >= min_delta
    if not keep.any():
        raise ValueError(f"the variation filter (min_fold={min_fold}, min_delta={min_delta}) leaves no gene "
                         f"of {plural(int(current.sum()), 'gene')}; the largest fold change is "
                         f"{np.max(fold):.4g} and the largest difference {np.max(delta):.4g}")
    adata = start(adata, copy)
    adata.var["fold_change"] = fold
    adata.var["delta"] = delta
    adata.var[key_added] = keep
    logger.info("filter_variation: %d of %d genes pass (min_fold=%s, min_delta=%s)",
                int(keep.sum()), int(current.sum()), min_fold, min_delta)
    record_step(adata, "filter_variation", min_fold=min_fold, min_delta=min_delta, layer=layer,
                key_added=key_added, n_kept=int(keep.sum()))
    return adata if copy else None


def select_genes(
    adata: ad.AnnData,
    *,
    n_top: int,
    by: Literal["cv", "variance", "mean"] = "cv",
    layer: str | None = None,
    key_added: str = USE_KEY,
    copy: bool = False,
) -> ad.AnnData | None:
    """Mark the ``n_top`` most variable genes (among those still marked) as used for NMF.

    Parameters
    ----------
    adata
        Samples x genes.
    n_top
        Number of genes to keep; all are kept when fewer are marked.
    by
        Ranking: ``'cv'`` (standard deviation / mean, the coefficient of variation, for linear
        scale arrays), ``'variance'`` (for log-scale data) or ``'mean'`` (expression level).
        Ties keep the earlier gene.
    layer
        Look at ``adata.layers[layer]`` instead of ``adata.X``.
    key_added
        Boolean ``var`` column of the genes used; genes already marked ``False`` stay so.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes

    ``var[key_added]``
        ``True`` for the selected genes.
    ``var['mean']``, ``var['variance']``, and ``var['cv']`` for ``by='cv'``
        The statistics of each gene (variance with ddof=1).
    ``uns['bionmf_preprocessing']``
        Appends ``{'step': 'select_genes', 'n_top': ..., 'by': ..., 'n_kept': ...}``.
    """
    if by not in ("cv", "variance", "mean"):
        raise ValueError(f"by must be 'cv', 'variance' or 'mean', got {by!r}")
    if int(n_top) != n_top or n_top < 1:
        raise ValueError(f"n_top must be a positive integer, got {n_top!r}")
    X = get_matrix(adata, layer)
    _require_numeric(X)
    current = use_mask(adata, key_added)
    mean, var = column_mean_var(X)
    stats = {"mean": mean, "variance": var}
    if by == "cv":
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(mean > 0, np.sqrt(var) / np.where(mean > 0, mean, 1), 0.0)
        stats["cv"] = cv
    score = np.where(current, stats[by], -np.inf)
    n_marked = int(current.sum())
    keep = current.copy()
    if n_top < n_marked:
        order = np.argsort(-score, kind="stable")
        keep = np.zeros_like(current)
        keep[order[:int(n_top)]] = True
    adata = start(adata, copy)
    for name, values in stats.items():
        adata.var[name] = values
    adata.var[key_added] = keep
    logger.info("select_genes: %d of %d genes kept by %s", int(keep.sum()), n_marked, by)
    record_step(adata, "select_genes", n_top=int(n_top), by=by, layer=layer, key_added=key_added,
                n_kept=int(keep.sum()))
    return adata if copy else None


#: the flavors of :func:`highly_variable_genes` and the ``var`` statistics each writes
HVG_FLAVORS = {
    "cnmf": ("means", "variances", "fano", "expected_fano", "fano_ratio"),
    "cell_ranger": ("means", "dispersions", "dispersions_norm"),
    "seurat": ("means", "dispersions", "dispersions_norm"),
}
#: the highest-mean genes whose smallest coefficient of variation sets the Poisson-like part of
#: the expected Fano factor (Kotliar et al. 2019, cNMF)
FANO_TOP_MEAN_GENES = 20
#: scanpy's flavors see each cell scaled to this many counts (its tutorials' choice); the cnmf
#: and cell_ranger statistics do not depend on it
HVG_TARGET_SUM = 1e4


def highly_variable_genes(
    adata: ad.AnnData,
    *,
    n_top: int = 2000,
    flavor: Literal["cnmf", "cell_ranger", "seurat"] = "cnmf",
    layer: str | None = None,
    key_added: str = USE_KEY,
    copy: bool = False,
) -> ad.AnnData | None:
    """Mark the ``n_top`` most overdispersed genes as used, judged on depth-normalized counts.

    The statistics are computed on each cell scaled to a common total (in passing: the matrix is
    not changed), so raw counts and depth-normalized counts give the same genes; logged values
    are not valid input. Flavors:

    ``'cnmf'`` (default; Kotliar et al. 2019, eLife 8:e43803, after Klein et al. 2015)
        The Fano factor (variance / mean) of each gene against the one expected of technical
        noise, ``A**2 * mean + B**2``: ``A`` is the smallest coefficient of variation among the
        20 highest-mean genes, ``B**2`` the median Fano factor of the genes between the 10th
        and 90th percentiles of both the mean and the Fano factor. Genes are ranked by the
        ratio, the criterion cNMF selects its genes by. No scanpy call, no copy of the matrix.
    ``'cell_ranger'``
        scanpy's :func:`~scanpy.pp.highly_variable_genes` with that flavor: the dispersion
        normalized within bins of mean expression (Zheng et al. 2017).
    ``'seurat'``
        scanpy's Seurat flavor, on log1p of the cells scaled to 10,000 counts (as scanpy's
        tutorials prepare it).

    Parameters
    ----------
    adata
        Cells x genes: counts, or depth-normalized counts (not logged).
    n_top
        Number of genes to keep.
    flavor
        ``'cnmf'``, ``'cell_ranger'`` or ``'seurat'``.
    layer
        Look at ``adata.layers[layer]`` instead of ``adata.X``.
    key_added
        Boolean ``var`` column of the genes used; genes already marked ``False`` are not chosen.
    copy
        Return a modified copy instead of changing ``adata``.

    Returns
    -------
    ``None``, or the copy when ``copy=True``. Writes

    ``var[key_added]`` and ``var['highly_variable']``
        ``True`` for the ``n_top`` genes ranked highest (ties in gene order; scanpy itself would
        keep every gene tied at the cut-off).
    ``var['means']``, ``var['variances']``, ``var['fano']``, ``var['expected_fano']``, ``var['fano_ratio']``
        ``'cnmf'``: the statistics of the cells scaled to 10,000 counts (NaN for genes not
        considered).
    ``var['means']``, ``var['dispersions']``, ``var['dispersions_norm']``
        ``'cell_ranger'`` and ``'seurat'``: scanpy's statistics.
    ``uns['bionmf_preprocessing']``
        Appends ``{'step': 'highly_variable_genes', 'n_top': ..., 'flavor': ..., 'n_kept': ...}``.
    """
    if flavor not in HVG_FLAVORS:
        raise ValueError(f"flavor must be one of {', '.join(map(repr, HVG_FLAVORS))}, got {flavor!r}")
    if int(n_top) < 1:
        raise ValueError(f"n_top must be at least 1, got {n_top!r}")
    X = get_matrix(adata, layer)
    _require_numeric(X)
    current = use_mask(adata, key_added)
    n_marked = int(current.sum())
    if n_marked == 0:
        raise ValueError(f"no gene is marked in var[{key_added!r}]")
    values = X.data if sp.issparse(X) else np.asarray(X)
    if values.size and values.min() < 0:
        raise ValueError("highly_variable_genes takes counts or depth-normalized counts, which cannot be negative; "
                         f"{describe_negative(X, adata.obs_names, adata.var_names)}")
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    if (totals == 0).any():
        raise ValueError(f"highly_variable_genes: {plural(int((totals == 0).sum()), 'cell')} without counts "
                         f"({name_some(adata.obs_names, totals == 0)}); remove them with "
                         "bionmf.pp.remove_empty(adata)")
    n_keep = min(int(n_top), n_marked)
    marked = X[:, current] if not current.all() else X
    if flavor == "cnmf":
        table = _fano_ratio_table(marked, HVG_TARGET_SUM / totals)
        score = table["fano_ratio"].to_numpy()
    else:
        table = _scanpy_dispersion_table(marked, HVG_TARGET_SUM / totals, flavor, n_keep)
        score = table["dispersions_norm"].to_numpy(dtype=np.float64)
    score = np.nan_to_num(score, nan=-np.inf)
    # a gene without counts in these cells has no statistic and is never chosen
    chosen = np.argsort(-score, kind="stable")[:min(n_keep, int(np.isfinite(score).sum()))]
    keep = np.zeros(adata.n_vars, dtype=bool)
    keep[np.flatnonzero(current)[chosen]] = True
    adata = start(adata, copy)
    for column in HVG_FLAVORS[flavor]:
        full = np.full(adata.n_vars, np.nan)
        full[current] = table[column].to_numpy()
        adata.var[column] = full
    adata.var["highly_variable"] = keep
    adata.var[key_added] = keep
    logger.info("highly_variable_genes: %d of %d genes kept (%s)", int(keep.sum()), n_marked, flavor)
    record_step(adata, "highly_variable_genes", n_top=int(n_top), flavor=flavor, layer=layer,
                key_added=key_added, n_kept=int(keep.sum()))
    return adata if copy else None


def _fano_ratio_table(X, row_weights: np.ndarray) -> pd.DataFrame:
    """cNMF's overdispersion statistics of ``diag(row_weights) @ X`` (Kotliar et al. 2019, Methods)."""
    mean, var = column_mean_var(X, row_weights=row_weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        fano = np.where(mean > 0, var / mean, np.nan)
        cv = np.where(mean > 0, np.sqrt(var) / mean, np.nan)
    expressed = np.flatnonzero(mean > 0)
    if expressed.size == 0:
        raise ValueError("highly_variable_genes: no gene has counts in these cells")
    top_mean = expressed[np.argsort(-mean[expressed], kind="stable")[:FANO_TOP_MEAN_GENES]]
    a = float(np.min(cv[top_mean]))
    # over the genes with counts, as cNMF's input holds no others
    m_lo, m_hi = np.quantile(mean[expressed], [0.1, 0.9])
    f_lo, f_hi = np.quantile(fano[expressed], [0.1, 0.9])
    with np.errstate(invalid="ignore"):
        box = (mean > m_lo) & (mean < m_hi) & (fano > f_lo) & (fano < f_hi)
    # on very few genes the box can be empty: the median of all expressed genes then stands in
    b2 = float(np.median(fano[box])) if box.any() else float(np.median(fano[expressed]))
    expected = a * a * mean + b2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = fano / expected
    return pd.DataFrame({"means": mean, "variances": var, "fano": fano, "expected_fano": expected,
                         "fano_ratio": ratio})


def _scanpy_dispersion_table(X, row_weights: np.ndarray, flavor: str, n_keep: int) -> pd.DataFrame:
    """scanpy's dispersion table of the genes of ``X``, on a copy of ``diag(row_weights) @ X``
    (logged for the Seurat flavor)."""
    import scanpy as sc

    # scanpy's binning fails on many genes without counts (repeated bin edges): they get no
    # statistic (NaN) and are never chosen
    seen = np.asarray(X.sum(axis=0)).ravel() > 0
    columns = list(HVG_FLAVORS[flavor])
    values = np.full((X.shape[1], len(columns)), np.nan)
    sub = X[:, seen] if not seen.all() else X
    sub = sp.csr_matrix(sp.csr_matrix(sub, dtype=np.float64).multiply(row_weights[:, None])) if sp.issparse(sub) \
        else np.asarray(sub, dtype=np.float64) * row_weights[:, None]
    if flavor == "seurat":
        stored = sub.data if sp.issparse(sub) else sub
        np.log1p(stored, out=stored)
    result = sc.pp.highly_variable_genes(ad.AnnData(X=sub), n_top_genes=min(n_keep, int(seen.sum())),
                                         flavor=flavor, inplace=False)
    values[seen] = result[columns].to_numpy(dtype=np.float64)
    return pd.DataFrame(values, columns=columns)
