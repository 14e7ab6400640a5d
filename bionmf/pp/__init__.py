"""Preprocessing: from an expression matrix to a valid non-negative NMF input.

Every step takes an AnnData (samples x genes) first, works in place unless ``copy=True``, can
work on a layer, and records itself in ``adata.uns['bionmf_preprocessing']``.
:func:`normalize` chains them in the presets ``'bulk'``, ``'counts'`` and ``'singlecell'``;
:func:`validate_matrix` is the check that :func:`bionmf.tl.nmf` runs before fitting.
"""

from ._filter import filter_variation, handle_nonfinite, highly_variable_genes, remove_empty, select_genes, threshold
from ._nonnegative import make_nonnegative
from ._normalize import PRESET_OPTIONS, normalize
from ._transform import log1p, log2, normalize_library, scale_genes
from ._utils import preprocessing_steps
from ._validate import describe_negative, describe_nonfinite, looks_logged, validate, validate_matrix

__all__ = [
    "describe_negative",
    "describe_nonfinite",
    "filter_variation",
    "handle_nonfinite",
    "highly_variable_genes",
    "log1p",
    "log2",
    "looks_logged",
    "make_nonnegative",
    "normalize",
    "normalize_library",
    "preprocessing_steps",
    "remove_empty",
    "scale_genes",
    "select_genes",
    "threshold",
    "validate",
    "validate_matrix",
]
