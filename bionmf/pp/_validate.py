"""Checks that a matrix can be factorized: numeric, finite, non-negative, no empty rows/columns.

:func:`validate_matrix` is the single gate that :func:`bionmf.tl.nmf` passes its input through
before fitting; the preprocessing steps use the same wording in their own errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._utils import RECORD_KEY, get_matrix, name_some, plural, use_mask

NEGATIVE_FIXES = (
    "NMF needs a non-negative matrix; choose how to make it so with "
    "bionmf.pp.make_nonnegative(adata, method=...) or bionmf.pp.normalize(adata, negative=...): "
    "'clip' (set negative values to 0), 'shift' (subtract the minimum from every value) or "
    "'posneg' (split each gene into its positive and negative parts, Kim & Tidor 2003)"
)
#: The largest value of a matrix the solvers fit reliably. They compute in float32 by default,
#: floor the factors and denominators at its machine epsilon (1.2e-7) and overflow near 3.4e38:
#: measured on the Golub data scaled by powers of ten, the multiplicative Frobenius updates (the
#: narrowest of the three algorithms) keep their consensus for a largest value from 6e-4 to 6e10
#: and lose it (every run alike, cophenetic 1.0) at 6e-5 and at 6e12. The bounds leave a margin.
SCALE_RANGE = (1e-2, 1e10)

NONFINITE_FIXES = (
    "remove them before NMF, e.g. bionmf.pp.handle_nonfinite(adata, policy='drop_genes') or "
    "policy='drop_samples' (or bionmf.pp.normalize(adata, nonfinite=...))"
)


def validate_matrix(
    X,
    *,
    obs_names: Sequence[str] | pd.Index,
    var_names: Sequence[str] | pd.Index,
    what: str = "input",
    min_samples: int = 3,
) -> None:
    """Raise a clear error unless ``X`` (samples x genes) is a valid NMF input.

    Checked in this order, each check vectorized and, for a sparse matrix, done on its stored
    values (``.data``) without copying the matrix:

    1. a dense ndarray or scipy.sparse matrix of a numeric dtype (else :class:`TypeError`);
    2. shape agrees with the names, names unique, at least one gene and ``min_samples`` samples;
    3. no NaN or infinite value (the error names where);
    4. no negative value (the error gives how many, the first few genes and samples, and the
       options that fix it: ``clip``, ``shift``, ``posneg``);
    5. the largest value between 1e-2 and 1e10 (``SCALE_RANGE``): far outside, the float32
       solvers overflow or fall below their floor and every run agrees on meaningless clusters;
       the error gives the power of ten to rescale by (the results do not depend on the scale);
    6. no sample and no gene whose values are all zero (the error names them).

    Parameters
    ----------
    X
        Samples x genes, as AnnData orients it.
    obs_names, var_names
        Names of the samples (rows) and genes (columns), used in the messages.
    what
        How the messages call the matrix, e.g. ``"input"`` or ``"adata.layers['counts']"``.
    min_samples
        Fewest samples accepted; consensus clustering needs at least 3.

    Returns
    -------
    None; raises :class:`ValueError` or :class:`TypeError` on the first problem found.
    """
    if isinstance(X, np.matrix):
        X = np.asarray(X)
    if not (isinstance(X, np.ndarray) or sp.issparse(X)):
        raise TypeError(f"{what}: expected a numpy array or scipy.sparse matrix, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{what}: expected a 2-dimensional samples x genes matrix, got {X.ndim} dimensions")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{what}: values must be numeric, got dtype {X.dtype}; "
                        "convert non-numeric cells (text, empty strings) before NMF")
    obs_names = pd.Index(obs_names)
    var_names = pd.Index(var_names)
    n_obs, n_var = X.shape
    if len(obs_names) != n_obs or len(var_names) != n_var:
        raise ValueError(f"{what}: matrix is {n_obs} x {n_var} but {len(obs_names)} sample names and "
                         f"{len(var_names)} gene names were given")
    check_unique(obs_names, "sample", what)
    check_unique(var_names, "gene", what)
    if n_obs == 0 or n_var == 0:
        raise ValueError(f"{what}: the matrix is empty ({plural(n_obs, 'sample')} x {plural(n_var, 'gene')}); "
                         "check the filters that removed the rest")
    if n_obs < min_samples:
        raise ValueError(f"{what}: {plural(n_obs, 'sample')} ({name_some(obs_names)}); consensus NMF needs "
                         f"at least {min_samples} samples")

    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        raise ValueError(f"{what}: every value is zero; there is nothing to factorize")
    lo, hi = values.min(), values.max()
    if X.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{what}: {describe_nonfinite(X, obs_names, var_names)}; {NONFINITE_FIXES}")
    if lo < 0:
        raise ValueError(f"{what}: {describe_negative(X, obs_names, var_names)}. {NEGATIVE_FIXES}")
    check_scale(float(hi), what)

    # With no negative value, a zero sum means every value is zero.
    gene_sums = np.asarray(X.sum(axis=0)).ravel()
    sample_sums = np.asarray(X.sum(axis=1)).ravel()
    empty_samples = sample_sums == 0
    empty_genes = gene_sums == 0
    if empty_samples.any() or empty_genes.any():
        parts = []
        if empty_samples.any():
            parts.append(f"{plural(int(empty_samples.sum()), 'sample')} ({name_some(obs_names, empty_samples)})")
        if empty_genes.any():
            parts.append(f"{plural(int(empty_genes.sum()), 'gene')} ({name_some(var_names, empty_genes)})")
        raise ValueError(f"{what}: all values are zero in {' and '.join(parts)}; NMF cannot fit them; "
                         "remove them with bionmf.pp.remove_empty(adata)")


def check_scale(largest: float, what: str) -> None:
    """Refuse a matrix whose largest value lies outside :data:`SCALE_RANGE`, giving the factor
    that brings it inside (NMF's consensus, clusters and chosen rank do not depend on the scale)."""
    low, high = SCALE_RANGE
    if low <= largest <= high:
        return
    # A power of ten that brings the largest value to between 1e4 and 1e5, like array intensities.
    exponent = 4 - int(np.floor(np.log10(largest)))
    factor = f"1e{exponent}" if exponent > 0 else f"1e{-exponent}"
    operator = "*=" if exponent > 0 else "/="
    direction = "small" if largest < low else "large"
    consequence = ("underflow below the solvers' floor near 1e-7" if largest < low else
                   "overflow float32 in the solvers' products")
    raise ValueError(f"{what}: the largest value is {largest:.3g}, too {direction} for reliable NMF (values "
                     f"{consequence}, and every run then gives the same clusters); keep the largest value between "
                     f"{low:g} and {high:g} by rescaling first, e.g. adata.X {operator} {factor} (the consensus, "
                     "clusters and chosen rank do not depend on the scale; for counts, "
                     "bionmf.pp.normalize(adata, preset='counts') rescales to counts per million)")


def check_unique(names: pd.Index, kind: str, what: str) -> None:
    if not names.is_unique:
        dup = names[names.duplicated()].unique()
        raise ValueError(f"{what}: {plural(len(dup), f'duplicate {kind} name')} ({name_some(dup)}); "
                         f"{kind} names must be unique (e.g. adata.{'obs' if kind == 'sample' else 'var'}"
                         "_names_make_unique())")


def _entry_positions(X, mask_on_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the stored values where ``mask_on_values`` holds."""
    if not sp.issparse(X):
        return np.nonzero(mask_on_values)
    if X.format == "csr":
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[mask_on_values]
        return rows, X.indices[mask_on_values]
    if X.format == "csc":
        cols = np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))[mask_on_values]
        return X.indices[mask_on_values], cols
    coo = X.tocoo()
    return coo.row[mask_on_values], coo.col[mask_on_values]


def _where(X, mask_on_values, obs_names, var_names) -> tuple[int, str]:
    rows, cols = _entry_positions(X, mask_on_values)
    genes = np.unique(cols)
    samples = np.unique(rows)
    text = (f"in {plural(len(genes), 'gene')} ({name_some(var_names[genes])}) and "
            f"{plural(len(samples), 'sample')} ({name_some(obs_names[samples])})")
    return len(rows), text


def describe_negative(X, obs_names, var_names) -> str:
    """How many values of X (observations x genes, dense or sparse) are negative, the smallest, and
    where (which observations and genes): the phrase the error messages of pp and tl quote."""
    values = X.data if sp.issparse(X) else X
    mask = values < 0
    count, where = _where(X, mask, pd.Index(obs_names), pd.Index(var_names))
    return f"{plural(count, 'negative value')} (minimum {values[mask].min():.4g}) {where}"


def describe_nonfinite(X, obs_names, var_names) -> str:
    """How many values of X are NaN or infinite, and where (which observations and genes)."""
    values = X.data if sp.issparse(X) else X
    nan = np.isnan(values)
    inf = np.isinf(values)
    kinds = []
    if nan.any():
        kinds.append(plural(int(nan.sum()), "NaN value"))
    if inf.any():
        kinds.append(plural(int(inf.sum()), "infinite value"))
    _, where = _where(X, nan | inf, pd.Index(obs_names), pd.Index(var_names))
    return f"{' and '.join(kinds)} {where}"


def validate(adata: ad.AnnData, *, layer: str | None = None, use_key: str | None = "nmf_use",
             min_samples: int = 3) -> None:
    """Check that ``adata`` (the genes marked in ``var[use_key]``) can be factorized.

    The AnnData-level form of :func:`validate_matrix`, for checking data before a long run.

    Parameters
    ----------
    adata
        Samples x genes.
    layer
        Check ``adata.layers[layer]`` instead of ``adata.X``.
    use_key
        Boolean column of ``adata.var`` naming the genes to check; all genes when the column is
        absent or ``use_key=None``.
    min_samples
        Fewest samples accepted.

    Returns
    -------
    None; raises :class:`ValueError`/:class:`TypeError` naming the problem.
    """
    X = get_matrix(adata, layer)
    what = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    var_names = adata.var_names
    if use_key is not None and use_key in adata.var.columns:
        mask = use_mask(adata, use_key)
        if not mask.all():
            X = X[:, mask]
            var_names = var_names[mask]
            what += f" (genes with var[{use_key!r}])"
    validate_matrix(X, obs_names=adata.obs_names, var_names=var_names, what=what, min_samples=min_samples)


def looks_logged(adata: ad.AnnData, X) -> str | None:
    """Why ``X`` seems log-transformed already, or ``None``.

    Evidence: a log step in this package's record or scanpy's ``uns['log1p']``; otherwise
    non-integer values with a maximum below 32 (log2 expression seldom exceeds 20, raw array
    intensities and counts run into the thousands).
    """
    record = adata.uns.get(RECORD_KEY, {})
    for entry in (record.values() if isinstance(record, dict) else []):
        if isinstance(entry, dict) and entry.get("step") in ("log2", "log1p"):
            return f"adata.uns[{RECORD_KEY!r}] records a {entry['step']} step"
    if "log1p" in adata.uns:
        return "adata.uns['log1p'] is set (scanpy.pp.log1p was run)"
    values = X.data if sp.issparse(X) else X
    if values.size == 0 or values.dtype.kind != "f":
        return None
    hi = np.nanmax(values)
    if hi < 32:
        sample = values.ravel()[:: max(1, values.size // 100_000)]
        if np.any(sample != np.round(sample)):
            return f"its values are non-integer with maximum {hi:.3g}"
    return None


def warn_if_logged(adata: ad.AnnData, X, step: str, *,
                   fix: str = "pass log=False (or start from unlogged values)", stacklevel: int = 3) -> None:
    """The one check for logging data twice, shared by the log steps and the presets that log."""
    reason = looks_logged(adata, X)
    if reason is not None:
        warnings.warn(f"the data look log-transformed already ({reason}) and {step} logs them again; {fix}",
                      UserWarning, stacklevel=stacklevel)
