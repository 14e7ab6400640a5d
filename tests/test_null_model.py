"""Null model of rank choice: the survey on data permuted within each gene (tl.nmf n_permutations)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import bionmf
from bionmf.core import METRIC_COLUMNS, RankRuns, SurveyOptions, summarize_rank
from bionmf.core.permutation import permutation_seed, permute_within_genes


def test_dense_permutation_shuffles_each_gene():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 40)).astype(np.float32)
    P = permute_within_genes(X, permutation_seed(0, 0))
    assert P.dtype == X.dtype and P.flags.c_contiguous
    np.testing.assert_array_equal(np.sort(P, axis=0), np.sort(X, axis=0))  # same values per gene
    assert (P != X).mean() > 0.9
    # genes are shuffled independently: no shared row permutation
    order = [tuple(np.argsort(P[:, j]) == np.argsort(X[:, j])) for j in range(3)]
    assert len(set(order)) > 1
    np.testing.assert_array_equal(permute_within_genes(X, permutation_seed(0, 0)), P)
    assert not np.array_equal(permute_within_genes(X, permutation_seed(0, 1)), P)
    assert not np.array_equal(permute_within_genes(X, permutation_seed(1, 0)), P)


def test_sparse_permutation_shuffles_each_gene():
    X = sp.random(50, 20, density=0.2, format="csr", random_state=1, dtype=np.float32)
    P = permute_within_genes(X, permutation_seed(3, 2))
    assert sp.isspmatrix_csr(P) and P.dtype == X.dtype and P.nnz == X.nnz
    dense, pdense = X.toarray(), P.toarray()
    np.testing.assert_array_equal(np.sort(pdense, axis=0), np.sort(dense, axis=0))
    assert not np.array_equal(pdense, dense)
    P.check_format(full_check=True)


@pytest.fixture(scope="module")
def golub_null():
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=6, random_state=0, verbose=False, solver={"max_iter": 400}, n_permutations=2)
    return adata


def test_null_metrics_stored(golub_null):
    survey = golub_null.uns["nmf"]
    assert survey["params"]["n_permutations"] == 2
    mean, long = survey["null_metrics"], survey["null_metrics_permutations"]
    assert list(mean.index) == [2, 3] and list(mean.columns) == list(METRIC_COLUMNS)
    assert list(long.columns) == ["permutation", "rank", *METRIC_COLUMNS]
    assert sorted(zip(long["permutation"], long["rank"])) == [(0, 2), (0, 3), (1, 2), (1, 3)]
    np.testing.assert_allclose(mean["cophenetic"].to_numpy(), long.groupby("rank")["cophenetic"].mean().to_numpy())
    assert (mean["n_runs"] == 6).all()


def test_permuted_data_is_less_stable_and_fits_worse(golub_null):
    """Golub's ALL/AML split is real: the permuted data's consensus is far less stable."""
    real, null = golub_null.uns["nmf"]["metrics"], golub_null.uns["nmf"]["null_metrics"]
    assert real.loc[2, "cophenetic"] > 0.99
    assert (null["cophenetic"] < real["cophenetic"] - 0.1).all()
    assert (null["dispersion"] < real["dispersion"]).all()
    assert (null["evar"] < real["evar"]).all()


def test_null_real_results_unchanged_and_reproducible(golub_null):
    """Adding permutations leaves the real survey as it was; the null depends on random_state only."""
    plain = bionmf.datasets.golub()
    bionmf.tl.nmf(plain, ranks=[2, 3], n_runs=6, random_state=0, verbose=False, solver={"max_iter": 400})
    pd.testing.assert_frame_equal(plain.uns["nmf"]["metrics"], golub_null.uns["nmf"]["metrics"])
    assert "null_metrics" not in plain.uns["nmf"]
    again = bionmf.datasets.golub()
    bionmf.tl.nmf(again, ranks=[2], n_runs=6, random_state=0, verbose=False, solver={"max_iter": 400}, n_permutations=1)
    long = golub_null.uns["nmf"]["null_metrics_permutations"]
    first = long[(long["permutation"] == 0) & (long["rank"] == 2)].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.uns["nmf"]["null_metrics_permutations"], first)


def test_null_h5ad_round_trip(golub_null, tmp_path):
    golub_null.write_h5ad(tmp_path / "null.h5ad")
    back = ad.read_h5ad(tmp_path / "null.h5ad")
    for name in ("null_metrics", "null_metrics_permutations", "metrics"):
        pd.testing.assert_frame_equal(back.uns["nmf"][name], golub_null.uns["nmf"][name], check_index_type=False)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_n_permutations(bad):
    adata = bionmf.datasets.golub()
    with pytest.raises(ValueError, match="n_permutations"):
        bionmf.tl.nmf(adata, ranks=[2], n_runs=2, n_permutations=bad)
    assert "nmf" not in adata.uns


def test_sparse_null_survey():
    rng = np.random.default_rng(0)
    X = sp.random(40, 60, density=0.3, format="csr", random_state=rng, dtype=np.float64) * 10
    adata = ad.AnnData(X)
    bionmf.tl.nmf(adata, ranks=[2], n_runs=3, algorithm="hals", random_state=1, verbose=False, solver={"max_iter": 100},
                  n_permutations=1)
    assert np.isfinite(adata.uns["nmf"]["null_metrics"].to_numpy(dtype=float)).all()


def test_store_survey_rejects_bad_null_table_before_writing():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(10, 8))
    rr = RankRuns(rank=2, runs=np.arange(3), labels=rng.integers(0, 2, size=(3, 10)).astype(np.int16),
                  objective=np.ones(3), n_iter=np.ones(3), best_W=rng.uniform(size=(8, 2)),
                  best_H=rng.uniform(size=(2, 10)), best_run=0)
    adata = ad.AnnData(X)
    with pytest.raises(ValueError, match="lacks the columns"):
        survey = bionmf.tl.Survey(adata, options=SurveyOptions(ranks=[2], n_runs=3, rank_rule="largest_drop"))
        summary = summarize_rank(X, rr)
        survey.write(adata, [rr], [summary], choice=survey.choose([summary])[1], null=pd.DataFrame({"rank": [2]}))
    assert "nmf" not in adata.uns and "X_nmf" not in adata.obsm and "nmf_cluster" not in adata.obs
