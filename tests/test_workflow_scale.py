"""Sizing the workflow's jobs for large sparse data (issue 12: a million cells)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp

import bionmf.workflow as wf
from bionmf.io import read_stored


def test_stored_values_of_sparse_files_from_their_headers(tmp_path):
    X = sp.random(50, 30, density=0.2, format="csr", random_state=0, dtype=np.float32)
    ad.AnnData(X).write_h5ad(tmp_path / "sparse.h5ad")
    ad.AnnData(X.toarray()).write_h5ad(tmp_path / "dense.h5ad")
    assert read_stored(tmp_path / "sparse.h5ad") == X.nnz
    assert read_stored(tmp_path / "dense.h5ad") is None
    assert wf.data_stored({"path": "sparse.h5ad"}, workdir=tmp_path) == X.nnz
    assert wf.data_stored({"path": "dense.h5ad"}, workdir=tmp_path) is None
    assert wf.data_stored({"path": "bundled:golub"}) is None


def test_a_million_sparse_cells_ask_for_memory_a_node_has():
    """1,000,000 cells x 2000 genes, 9 % stored, component consensus: every job's request stays
    within a common node (the first attempt; retries double it), where sizing as a dense matrix
    with samples x samples consensus matrices would ask for terabytes."""
    shape, stored = (1_000_000, 2000), 180_000_000
    requests = {step: wf.job_resources(step, shape, rank=10, runs=5, stored=stored, pairwise=False)["mem_mb"]
                for step in ("prepare", "factorize", "consensus", "annotate", "plots", "convergence")}
    assert all(mb < 16_000 for mb in requests.values()), requests
    # at least the matrix as read (12 bytes per stored value as float64 CSR)
    assert all(mb > stored * 12 / 1e6 for mb in requests.values()), requests
    dense = wf.job_resources("consensus", shape, rank=10, runs=5)["mem_mb"]
    assert dense > 1000 * requests["consensus"]


def test_outputs_write_into_an_anndata_sharing_the_matrix():
    """What the output functions write into is a new AnnData holding the same X (no copy of a
    matrix that is gigabytes at a million cells), and what they write leaves the original as it was."""
    adata = ad.AnnData(sp.random(40, 12, density=0.3, format="csr", random_state=0, dtype=np.float32),
                       obsm={"X_u": np.ones((40, 2))}, varm={"w": np.ones((12, 2))}, uns={"nmf": {"rank": 2}})
    result = wf.jobs.sharing_matrices(adata)
    assert result.X is adata.X and result.obsm["X_u"] is adata.obsm["X_u"] and result.varm["w"] is adata.varm["w"]
    result.uns["nmf_signatures"] = {}
    result.var["nmf_signatures_kim_score"] = 1.0
    result.varm["nmf_genes_zscore"] = np.zeros((12, 2))
    assert "nmf_signatures" not in adata.uns and "nmf_signatures_kim_score" not in adata.var
    assert "nmf_genes_zscore" not in adata.varm
