"""The README's promise that a survey gives the same numbers however its runs are spread over cores
(issue 13): the Frobenius solvers' fit metrics used to differ in the 7th digit between n_jobs=1 and
2, because a multi-threaded BLAS splits each product's sums by thread count."""

from __future__ import annotations

import anndata as ad
import numba
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import bionmf
from bionmf.core.solvers import _products


def _data(sparse: bool) -> ad.AnnData:
    rng = np.random.default_rng(7)
    X = rng.gamma(2.0, 50.0, size=(120, 900))
    if sparse:
        X[X < 60] = 0
        X = sp.csr_matrix(X)
    adata = ad.AnnData(X)
    adata.obs_names = [f"s{i}" for i in range(adata.n_obs)]
    adata.var_names = [f"g{j}" for j in range(adata.n_vars)]
    return adata


@pytest.mark.parametrize("algorithm", ["lee", "hals", "brunet"])
@pytest.mark.parametrize("sparse", [False, True])
def test_fit_metrics_identical_for_any_number_of_threads(monkeypatch, algorithm, sparse):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two numba threads")
    # Every product on threads, however small, so that the threaded paths are the ones compared.
    monkeypatch.setattr(_products, "PARALLEL_MIN_WORK", 0)
    results = {}
    for n_jobs in (1, 2):
        adata = _data(sparse)
        bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=4, solver={"max_iter": 60}, random_state=5, algorithm=algorithm,
                      n_jobs=n_jobs)
        results[n_jobs] = adata
    one, two = results[1].uns["nmf"], results[2].uns["nmf"]
    pd.testing.assert_frame_equal(one["metrics"], two["metrics"], check_exact=True)
    np.testing.assert_array_equal(results[1].obsm["X_nmf"], results[2].obsm["X_nmf"])
    np.testing.assert_array_equal(results[1].varm["nmf"], results[2].varm["nmf"])
