"""Program gene scores (z-score OLS, expression-unit NNLS, top genes) on pbmc3k and Golub."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

import bionmf
from bionmf.core.gene_scores import (
    expression_programs,
    gene_products,
    normalize_usages,
    zscore_coefficients,
)
from conftest import require_shared_data


def rank_of(scores, var_names, gene, program):
    column = scores[:, program]
    return int((column > column[var_names.get_loc(gene)]).sum()) + 1


def program_of(adata, usages, cell_type):
    """The program the cells of a type use most (usages normalized per cell)."""
    mask = (adata.obs["seurat_annotation"] == cell_type).to_numpy()
    return int(normalize_usages(usages)[mask].mean(axis=0).argmax())


@pytest.fixture(scope="module")
def pbmc():
    import scanpy as sc

    adata = sc.read_h5ad(require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad"))
    adata = adata[adata.obs["seurat_annotation"].notna()].copy()
    sc.pp.filter_genes(adata, min_cells=3)
    bionmf.pp.normalize(adata, preset="singlecell")  # 2000 overdispersed genes, unit variance
    bionmf.tl.nmf(adata, ranks=[7], n_runs=10, algorithm="hals", consensus="components", random_state=0,
                  verbose=False)
    return adata


def test_markers_top_their_programs_on_pbmc3k(pbmc):
    assert sp.issparse(pbmc.X)
    tracemalloc.start()
    bionmf.tl.program_genes(pbmc, n_top=20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    dense = pbmc.n_obs * pbmc.n_vars * 8
    assert peak < dense / 3, f"peak {peak / 2**20:.0f} MB against {dense / 2**20:.0f} MB dense"

    Z = pbmc.varm["nmf_genes_zscore"]
    E = pbmc.varm["nmf_genes_expression"]
    assert Z.shape == E.shape == (pbmc.n_vars, 7) and (E >= 0).all()
    usages = pbmc.obsm["X_nmf"]
    b, mono, nk = (program_of(pbmc, usages, t) for t in ("B", "CD14+ Mono", "NK"))
    assert len({b, mono, nk}) == 3
    names = pbmc.var_names
    assert rank_of(Z, names, "MS4A1", b) <= 5
    assert rank_of(Z, names, "CD79A", b) <= 10
    assert rank_of(Z, names, "LYZ", mono) <= 5
    assert rank_of(Z, names, "NKG7", nk) <= 3
    assert rank_of(Z, names, "GNLY", nk) <= 10

    top = pbmc.uns["nmf_genes"]["top_genes"]
    assert list(top.columns) == ["program", "order", "gene", "zscore", "expression"]
    assert len(top) == 7 * 20 and "MS4A1" in set(top.loc[top["program"] == str(b), "gene"])
    first = top.query("program == '0'")
    assert first["order"].tolist() == list(range(1, 21)) and first["zscore"].is_monotonic_decreasing
    params = pbmc.uns["nmf_genes"]["params"]
    assert params["unscaled"] and params["rank"] == 7 and params["normalize"]
    # count units (the preset leaves the counts unnormalized): each program is the profile of a
    # cell using it alone, so it sums to about the library size of the cells that mostly use it
    # (measured: within 15 % for the 5 programs with >= 100 such cells)
    library = np.asarray(pbmc.X.multiply(pbmc.var["scale_sd"].to_numpy()).sum(axis=1)).ravel()
    share = normalize_usages(usages)
    checked = 0
    for a in range(7):
        alone = share[:, a] > 0.7
        if alone.sum() >= 50:
            assert abs(E[:, a].sum() / library[alone].mean() - 1) < 0.2, (a, E[:, a].sum(), library[alone].mean())
            checked += 1
    assert checked >= 3


def test_streamed_fits_equal_dense_least_squares(pbmc):
    rng = np.random.default_rng(0)
    genes = np.sort(rng.choice(pbmc.n_vars, 60, replace=False))
    X = pbmc.X[:, genes]
    U = normalize_usages(pbmc.obsm["X_nmf"])
    chunked = gene_products(X, U, chunk_cells=377)  # chunks of cells, sparse throughout
    whole = gene_products(X.toarray(), U)
    np.testing.assert_allclose(chunked.UtX, whole.UtX, rtol=1e-9)

    D = X.toarray().astype(np.float64)
    sd = D.std(axis=0, ddof=1)
    Zd = (D - D.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    ols = np.linalg.lstsq(U, Zd, rcond=None)[0]
    np.testing.assert_allclose(zscore_coefficients(chunked), ols, atol=1e-8)
    ref = np.stack([nnls(U, D[:, j])[0] for j in range(D.shape[1])], axis=1)
    np.testing.assert_allclose(expression_programs(chunked), ref, rtol=1e-5, atol=1e-8 * np.abs(ref).max())


def test_golub_markers_in_sample_survey():
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=[2], n_runs=10, random_state=0, verbose=False)
    bionmf.tl.program_genes(adata, key_added="golub_genes")
    Z = adata.varm["golub_genes_zscore"]
    H = normalize_usages(adata.obsm["X_nmf"])
    aml = int(H[(adata.obs["ALL_AML"] == "AML").to_numpy()].mean(axis=0).argmax())
    names = adata.var_names
    # Golub et al. (1999) class predictors: zyxin for AML; c-myb, proteasome iota, cyclin D3 for ALL
    assert rank_of(Z, names, "X95735_at", aml) <= 5
    for probe in ("U22376_cds2_s_at", "X59417_at", "M92287_at"):
        assert rank_of(Z, names, probe, 1 - aml) <= 10, probe
    assert adata.uns["golub_genes"]["params"]["unscaled"] is False  # bulk data: nothing to undo


def test_program_genes_errors(pbmc):
    with pytest.raises(ValueError, match=r"rank 3 was not surveyed"):
        bionmf.tl.program_genes(pbmc, rank=3)
    with pytest.raises(ValueError, match="layer 'counts' not found"):
        bionmf.tl.program_genes(pbmc, layer="counts")
    with pytest.raises(ValueError, match="n_top must be a positive int"):
        bionmf.tl.program_genes(pbmc, n_top=0)
    with pytest.raises(ValueError, match="was adata subset after the survey"):
        bionmf.tl.program_genes(pbmc[:100].copy())
    bad = pbmc[:, :50].copy()
    bad.X = bad.X.toarray()
    bad.X[3, 7] = np.nan
    bad.uns["nmf"] = pbmc.uns["nmf"]
    with pytest.raises(ValueError, match=f"NaN or infinite values in 1 genes .*{bad.var_names[7]}"):
        bionmf.tl.program_genes(bad)
    with pytest.raises(ValueError, match=r"programs \[1\] have zero usage"):
        gene_products_zero = gene_products(np.ones((4, 3)), np.array([[1.0, 0], [2, 0], [1, 0], [3, 0]]))
        zscore_coefficients(gene_products_zero)
