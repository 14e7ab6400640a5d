"""``tl.program_genes``: the genes of each program, as cNMF users read them (z-scores, expression units, top genes)."""

from __future__ import annotations

import numbers

import anndata as ad
import numpy as np
import pandas as pd

from .._logging import logger
from ..core.gene_scores import expression_programs, gene_products, normalize_usages, zscore_coefficients
from .._matrix import get_matrix
from .._survey_record import survey_rank


def program_genes(
    adata: ad.AnnData,
    *,
    key: str = "nmf",
    rank: int | None = None,
    layer: str | None = None,
    n_top: int = 50,
    normalize: bool = True,
    unscale: bool = True,
    chunk_cells: int | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Score every gene in every program: z-score coefficients, programs in expression units, top genes.

    The programs' usages (``obsm['X_<key>']`` at the chosen rank, or the stored coefficients of
    ``rank``) are held fixed and the expression of **all** genes, not only those the survey
    fitted, is regressed on them (Kotliar et al. 2019, eLife 8:e43803, Methods):

    - **z-scores**: ordinary least squares of each gene's z-scored expression (centred, divided
      by its standard deviation over the cells, ``ddof=1``) on the usages. Coefficient (g, a):
      the expected z-score of gene g in a cell that uses program a alone. It ranks the genes
      that mark a program whatever their expression level; a gene constant over the cells
      scores 0.
    - **expression units**: non-negative least squares of the expression itself on the usages,
      the programs as expression profiles over all genes (cNMF fits them the same way, with its
      NMF solver, and calls them "spectra in TPM units"). Column a is the expected expression of
      a cell that uses program a alone. With ``normalize`` each column sums to about the
      library size of the cells that use program a alone (on counts, as the single-cell preset
      leaves them) or the common ``target_sum`` (on depth-normalized data); divide it by its
      sum and multiply by 1e6 for cNMF's per-million scale.

    With ``normalize`` (default) each cell's usages are first scaled to sum to 1, which gives both
    fits the "cell that uses program a alone" reading and puts an intercept in the regression
    (the usage columns sum to 1). ``normalize=False`` regresses on the usages as stored, as cNMF
    does for its z-scores.

    The data are read once, a chunk of cells at a time: a sparse matrix is never densified, so
    this runs on any data set the survey ran on (memory: genes x k plus one chunk).

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran; its ``X`` (or ``layer``) the normalized
        expression (e.g. :func:`bionmf.pp.normalize` output, or normalize_total counts). Any
        monotone per-gene scaling leaves the z-scores unchanged.
    key
        ``key_added`` of the survey.
    rank
        A surveyed rank; default the chosen one (``obsm['X_<key>']``).
    layer
        Regress ``adata.layers[layer]`` instead of ``adata.X``.
    n_top
        Genes per program in the top-genes table (the highest z-scores).
    normalize
        Scale each cell's usages to sum to 1 first.
    unscale
        When ``var['scale_sd']`` is present (genes divided by their standard deviation by
        :func:`bionmf.pp.normalize`'s single-cell preset), multiply the expression-unit programs
        back by it, so they are in the units before scaling (counts, or normalized counts).
        Exact: the non-negative fit of a gene scales with the gene.
    chunk_cells
        Cells read at a time (default: 20,000 for sparse data, about 160 MB of float64 for dense).
    key_added
        Base name of the fields written; default ``f"{key}_genes"``.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the new AnnData when ``copy=True``. Written (default base ``nmf_genes``):

    ``varm['nmf_genes_zscore']``
        genes x k z-score coefficients (float64), programs in the order of ``obsm['X_<key>']``.
    ``varm['nmf_genes_expression']``
        genes x k non-negative programs in expression units (the units before the gene scaling
        with ``unscale``, else those of the regressed matrix).
    ``uns['nmf_genes']``
        ``top_genes``: DataFrame, ``n_top`` rows per program: ``program`` ('0'..'k-1'), ``order``
        (1 = highest z-score), ``gene``, ``zscore``, ``expression``; ``params``: ``key``,
        ``rank``, ``layer``, ``n_top``, ``normalize``, ``unscaled`` (whether ``scale_sd`` was
        undone), ``ddof``.
    """
    survey, rank = survey_rank(adata, key, rank)
    if isinstance(n_top, bool) or not isinstance(n_top, numbers.Integral) or n_top < 1:
        raise ValueError(f"n_top must be a positive int, got {n_top!r}")
    usages = np.asarray(survey["coefficients"][str(rank)], dtype=np.float64)
    if usages.shape[0] != adata.n_obs:
        raise ValueError(f"uns[{key!r}]['coefficients'][{str(rank)!r}] has {usages.shape[0]} rows for "
                         f"{adata.n_obs} samples; was adata subset after the survey?")
    X = get_matrix(adata, layer)

    U = normalize_usages(usages) if normalize else usages
    empty = int(np.count_nonzero(U.sum(axis=1) == 0))
    if empty:
        logger.info("program_genes: %d samples use no program; they enter the fits with zero usage", empty)
    products = gene_products(X, U, chunk_cells=chunk_cells, var_names=adata.var_names)
    zscores = zscore_coefficients(products).T
    expression = expression_programs(products).T
    unscaled = bool(unscale and "scale_sd" in adata.var.columns)
    if unscaled:
        expression = expression * adata.var["scale_sd"].to_numpy(dtype=np.float64)[:, None]

    top = top_genes_table(zscores, expression, adata.var_names, n_top)
    adata = adata.copy() if copy else adata
    base = key_added or f"{key}_genes"
    adata.varm[f"{base}_zscore"] = zscores
    adata.varm[f"{base}_expression"] = expression
    adata.uns[base] = {
        "top_genes": top,
        "params": {"key": key, "rank": int(rank), "layer": "X" if layer is None else layer, "n_top": int(n_top),
                   "normalize": bool(normalize), "unscaled": unscaled, "ddof": 1},
    }
    return adata if copy else None


def top_genes_table(zscores: np.ndarray, expression: np.ndarray, genes: pd.Index, n_top: int) -> pd.DataFrame:
    """The ``n_top`` genes of highest z-score per program, one row each (ties: gene order)."""
    n_top = min(int(n_top), zscores.shape[0])
    parts = []
    for a in range(zscores.shape[1]):
        order = np.argsort(-zscores[:, a], kind="stable")[:n_top]
        parts.append(pd.DataFrame({
            "program": str(a),
            "order": np.arange(1, n_top + 1),
            "gene": np.asarray(genes[order], dtype=str),
            "zscore": zscores[order, a],
            "expression": expression[order, a],
        }))
    return pd.concat(parts, ignore_index=True)
