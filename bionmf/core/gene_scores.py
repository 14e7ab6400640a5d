"""Every gene's association with every program, from the usages: z-score coefficients and programs
in expression units (Kotliar et al. 2019, eLife 8:e43803, cNMF's "gene spectra scores" and
"spectra in TPM units").

Both come from least squares of the expression of every gene on the cells' program usages U
(cells x k), with U fixed:

- z-score units: ordinary least squares of Z, each gene's expression centred and divided by its
  standard deviation over cells, on U. beta_ag says by how many standard deviations gene g rises
  with the usage of program a; it ranks the genes that mark a program, whatever their level.
- expression units: non-negative least squares of the expression itself on U: the program as an
  expression profile over all genes, like an NMF basis fitted with the usages fixed.

Only three products of the data are needed, U^T X (k x genes), the column sums and the column
sums of squares of X, since U^T Z = (U^T X - (U^T 1) mean^T) / sd. They are accumulated over
chunks of cells, reading X once: a sparse X is never densified, and a dense one is converted to
float64 a chunk at a time. Memory: O(genes k + chunk genes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .linalg import nnls_gram

#: cells per chunk for a dense X: with 20,000 genes a float64 chunk is 160 MB at most
DENSE_CHUNK_BYTES = 160 * 2**20
SPARSE_CHUNK_CELLS = 20_000


@dataclass
class GeneProducts:
    """What the fits need from the data, accumulated in one pass.

    Attributes
    ----------
    UtX : (k, genes) U^T X
    sums : (genes,) column sums of X
    sumsq : (genes,) column sums of squares of X
    gram : (k, k) U^T U
    usage_sums : (k,) U^T 1
    n_cells : rows of X
    """

    UtX: np.ndarray
    sums: np.ndarray
    sumsq: np.ndarray
    gram: np.ndarray
    usage_sums: np.ndarray
    n_cells: int


def normalize_usages(usages: np.ndarray) -> np.ndarray:
    """Each cell's usages scaled to sum to 1 (float64); a cell with no usage keeps zeros."""
    U = np.asarray(usages, dtype=np.float64)
    totals = U.sum(axis=1, keepdims=True)
    return np.divide(U, totals, out=np.zeros_like(U), where=totals > 0)


def gene_products(X, usages: np.ndarray, *, chunk_cells: int | None = None, var_names=None) -> GeneProducts:
    """Accumulate :class:`GeneProducts` over chunks of cells of X (cells x genes, dense, CSR/CSC or
    anything whose row slices are arrays or scipy matrices, such as a backed h5ad matrix).

    ``var_names`` names the genes in the error raised for non-finite values.
    """
    U = np.asarray(usages, dtype=np.float64)
    n, m = X.shape
    if U.ndim != 2 or U.shape[0] != n:
        raise ValueError(f"usages must be cells x programs with {n} rows, got shape {U.shape}")
    if not np.isfinite(U).all():
        raise ValueError("usages hold NaN or infinite values")
    if sp.issparse(X) and X.format != "csr":
        X = X.tocsr()  # row chunks of CSR are slices; of other layouts, copies
    if chunk_cells is None:
        chunk_cells = SPARSE_CHUNK_CELLS if sp.issparse(X) else max(1, DENSE_CHUNK_BYTES // (8 * max(m, 1)))
    k = U.shape[1]
    UtX = np.zeros((k, m))
    sums = np.zeros(m)
    sumsq = np.zeros(m)
    for start in range(0, n, int(chunk_cells)):
        stop = min(start + int(chunk_cells), n)
        block = X[start:stop]
        Uc = U[start:stop]
        if sp.issparse(block):
            block = sp.csr_matrix(block)
            values = block.data.astype(np.float64, copy=False)
            _check_finite(values, block.indices, var_names)
            UtX += np.asarray(block.T @ Uc).T
            sums += np.bincount(block.indices, weights=values, minlength=m)
            sumsq += np.bincount(block.indices, weights=values * values, minlength=m)
        else:
            block = np.asarray(block, dtype=np.float64)
            if not np.isfinite(block).all():
                _check_finite(block.ravel(), np.tile(np.arange(m), stop - start), var_names)
            UtX += Uc.T @ block
            sums += block.sum(axis=0)
            sumsq += np.einsum("ij,ij->j", block, block)
    return GeneProducts(UtX=UtX, sums=sums, sumsq=sumsq, gram=U.T @ U, usage_sums=U.sum(axis=0), n_cells=n)


def _check_finite(values: np.ndarray, genes: np.ndarray, var_names) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        idx = np.unique(genes[bad])
        names = [str(var_names[i]) for i in idx[:5]] if var_names is not None else idx[:5].tolist()
        raise ValueError(f"the expression holds NaN or infinite values in {idx.size} genes (e.g. {names}); "
                         "remove or fix them first (bionmf.pp.normalize(..., nonfinite='drop_genes'))")


def gene_mean_sd(products: GeneProducts, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (``ddof``) of every gene over the cells."""
    n = products.n_cells
    mean = products.sums / n
    ss = np.maximum(products.sumsq - n * mean * mean, 0.0)  # sum of squared deviations
    return mean, np.sqrt(ss / max(n - ddof, 1))


def zscore_coefficients(products: GeneProducts, *, ddof: int = 1) -> np.ndarray:
    """OLS coefficients (k x genes) of the z-scored expression of every gene on the usages.

    Genes constant over the cells have no z-score; their coefficients are 0.
    """
    G = products.gram
    _check_gram(G)
    mean, sd = gene_mean_sd(products, ddof)
    rhs = products.UtX - np.outer(products.usage_sums, mean)
    live = sd > 0
    rhs[:, live] /= sd[live]
    rhs[:, ~live] = 0.0
    return np.linalg.solve(G, rhs)


def expression_programs(products: GeneProducts, *, max_iter: int = 1000, tol: float = 1e-10) -> np.ndarray:
    """Non-negative least-squares programs (k x genes): min ||X - U P|| over P >= 0, U fixed."""
    _check_gram(products.gram)
    return nnls_gram(products.gram, products.UtX.T, max_iter=max_iter, tol=tol).T


def _check_gram(G: np.ndarray) -> None:
    dead = np.flatnonzero(np.diag(G) <= 0)
    if dead.size:
        raise ValueError(f"programs {dead.tolist()} have zero usage in every cell; they cannot be fitted")
    if np.linalg.cond(G) > 1e12:
        raise ValueError("the usages of the programs are linearly dependent (some program is a combination of "
                         "others in every cell); the gene scores are not defined")
