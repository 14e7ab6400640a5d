"""tl.nmf: the AnnData contract, reproducibility, chunking, and bad input."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import bionmf
from bionmf.core import RankRuns, run_rank, run_ranks, summarize_rank
from bionmf.core.seeding import run_seed
from bionmf.core.solvers import SolverOptions, factorize_batch, prepare_matrix


@pytest.fixture(scope="module")
def golub():
    return bionmf.datasets.golub()


@pytest.fixture(scope="module")
def golub_survey(golub):
    return bionmf.tl.nmf(golub, ranks=[2, 3, 4], n_runs=20, random_state=0, verbose=False, copy=True)


def misassigned(clusters, truth) -> int:
    """Samples outside the majority true class of their cluster (clusters vs known classes)."""
    table = pd.crosstab(np.asarray(clusters), np.asarray(truth))
    return int(table.to_numpy().sum() - table.max(axis=1).sum())


def test_writes_every_field_of_the_contract(golub, golub_survey):
    a = golub_survey
    k = a.uns["nmf"]["rank"]
    assert k in (2, 3, 4)
    assert a.obsm["X_nmf"].shape == (38, k)
    assert a.varm["nmf"].shape == (5000, k)
    assert isinstance(a.obs["nmf_cluster"].dtype, pd.CategoricalDtype)
    assert list(a.obs["nmf_cluster"].cat.categories) == [str(i) for i in range(k)]
    uns = a.uns["nmf"]
    assert set(uns) >= {"params", "rank", "rank_rules", "metrics", "consensus", "clusters", "basis", "coefficients"}
    m = uns["metrics"]
    assert list(m.index) == [2, 3, 4]
    for column in ["cophenetic", "dispersion", "silhouette", "pac", "rss", "evar",
                   "sparseness_basis", "sparseness_coef", "objective", "n_iter"]:
        assert column in m.columns and m[column].notna().all()
    assert set(uns["consensus"]) == {"2", "3", "4"}
    assert uns["consensus"]["3"].shape == (38, 38)
    assert np.allclose(np.diag(uns["consensus"]["3"]), 1.0)
    assert uns["params"]["random_state"] == 0 and uns["params"]["algorithm"] == "brunet"
    assert set(uns["rank_rules"]) >= {"cophenetic_drop", "max_cophenetic", "min_pac"}
    assert uns["rank_rules"][uns["params"]["rank_rule"]] == k
    # the input was not touched (copy=True)
    assert "nmf" not in golub.uns and "X_nmf" not in golub.obsm


def test_golub_reproduces_brunet_2004(golub_survey):
    """Rank 2 splits ALL from AML (<= 2 misassigned); rank 3 ALL-B/ALL-T/AML (<= 3)."""
    a = golub_survey
    assert misassigned(a.uns["nmf"]["clusters"]["2"], a.obs["ALL_AML"]) <= 2
    assert misassigned(a.uns["nmf"]["clusters"]["3"], a.obs["class3"]) <= 3
    assert a.uns["nmf"]["metrics"].loc[2, "cophenetic"] > 0.98


def test_h5ad_round_trip(golub_survey, tmp_path):
    path = tmp_path / "golub.h5ad"
    golub_survey.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(back.uns["nmf"]["metrics"], golub_survey.uns["nmf"]["metrics"], check_index_type=False)
    np.testing.assert_array_equal(back.uns["nmf"]["consensus"]["3"], golub_survey.uns["nmf"]["consensus"]["3"])
    np.testing.assert_array_equal(back.obsm["X_nmf"], golub_survey.obsm["X_nmf"])
    assert back.uns["nmf"]["rank"] == golub_survey.uns["nmf"]["rank"]


def test_same_seed_same_survey_and_key_added(golub):
    kw = dict(ranks=[2, 3], n_runs=6, verbose=False, copy=True)
    a = bionmf.tl.nmf(golub, random_state=7, **kw)
    b = bionmf.tl.nmf(golub, random_state=7, key_added="again", **kw)
    pd.testing.assert_frame_equal(a.uns["nmf"]["metrics"], b.uns["again"]["metrics"])
    np.testing.assert_array_equal(a.obsm["X_nmf"], b.obsm["X_again"])
    assert "again_cluster" in b.obs and "again" in b.varm
    c = bionmf.tl.nmf(golub, random_state=8, **kw)
    assert not np.array_equal(a.obsm["X_nmf"], c.obsm["X_nmf"])


def test_batch_size_does_not_change_the_survey(golub):
    kw = dict(ranks=[2, 3], n_runs=8, random_state=3, verbose=False, copy=True)
    whole = bionmf.tl.nmf(golub, **kw)
    chunked = bionmf.tl.nmf(golub, solver={"batch_size": 3}, **kw)
    pd.testing.assert_frame_equal(whole.uns["nmf"]["metrics"], chunked.uns["nmf"]["metrics"])
    for k in ("2", "3"):
        np.testing.assert_array_equal(whole.uns["nmf"]["consensus"][k], chunked.uns["nmf"]["consensus"][k])


def test_chunks_computed_apart_merge_into_the_whole(golub, tmp_path):
    options = SolverOptions()
    X = prepare_matrix(golub.X, options.np_dtype)
    whole = run_rank(X, 3, range(8), random_state=1, options=options)
    parts = [run_rank(X, 3, runs, random_state=1, options=options) for runs in (range(5, 8), range(0, 5))]
    for i, part in enumerate(parts):
        part.save(tmp_path / f"part{i}.npz")
    merged = RankRuns.merge([RankRuns.load(tmp_path / f"part{i}.npz") for i in range(2)])
    np.testing.assert_array_equal(merged.labels, whole.labels)
    np.testing.assert_array_equal(merged.best_W, whole.best_W)
    assert merged.best_run == whole.best_run
    assert summarize_rank(X, merged).metrics == summarize_rank(X, whole).metrics
    with pytest.raises(ValueError, match="overlap"):
        RankRuns.merge([parts[0], parts[0]])


def test_runs_pooled_across_ranks_equal_the_rank_by_rank_survey(golub):
    # brunet runs go through one thread pool across ranks; each run must still depend on its seed alone
    options = SolverOptions(max_iter=300)
    X = prepare_matrix(golub.X, options.np_dtype)
    kw = dict(random_state=2, options=options)
    pooled = list(run_ranks(X, [2, 3, 4], range(5), n_jobs=3, **kw))
    alone = list(run_ranks(X, [2, 3, 4], range(5), n_jobs=1, **kw))
    assert [r.rank for r in pooled] == [2, 3, 4]
    for p, a in zip(pooled, alone):
        np.testing.assert_array_equal(p.runs, a.runs)
        np.testing.assert_array_equal(p.labels, a.labels)
        np.testing.assert_array_equal(p.objective, a.objective)
        np.testing.assert_array_equal(p.n_iter, a.n_iter)
        np.testing.assert_array_equal(p.best_W, a.best_W)
        assert p.best_run == a.best_run


def test_single_thread_batches_only_for_runs_computed_alone(golub):
    X = prepare_matrix(golub.X, np.float32)
    with pytest.raises(ValueError, match="threads=False needs runs computed alone"):
        factorize_batch(X, 2, [run_seed(0, 2, 0)], SolverOptions(algorithm="hals"), threads=False)


def test_unsorted_sparse_input_is_left_unchanged_and_gives_the_same_survey_twice(golub):
    # a CSR with unsorted column indices, as scipy's products return them; converting it to the
    # solver's float32 may share its index arrays, which must then not be sorted in place
    X = sp.csr_matrix(golub.X.astype(np.float64))
    order = np.random.default_rng(0).permutation(X.shape[1])
    unsorted = sp.csr_matrix(X[:, order] @ sp.eye(X.shape[1], format="csr")[order.argsort()])
    assert not unsorted.has_sorted_indices
    adata = ad.AnnData(unsorted, obs=golub.obs, var=golub.var)
    before = adata.X.copy()
    kw = dict(ranks=[2], n_runs=4, random_state=0, verbose=False, copy=True, algorithm="hals")
    first = bionmf.tl.nmf(adata, **kw)
    assert (adata.X != before).nnz == 0
    second = bionmf.tl.nmf(adata, **kw)
    np.testing.assert_array_equal(first.obsm["X_nmf"], second.obsm["X_nmf"])


def test_gene_subset_leaves_zero_loadings(golub):
    a = golub.copy()
    a.var["nmf_use"] = False
    a.var.iloc[:500, a.var.columns.get_loc("nmf_use")] = True
    bionmf.tl.nmf(a, ranks=[2], n_runs=4, verbose=False)
    assert a.uns["nmf"]["params"]["use_genes"] == "nmf_use"
    assert a.uns["nmf"]["params"]["n_genes_used"] == 500
    assert (a.varm["nmf"][500:] == 0).all() and (a.varm["nmf"][:500] > 0).all()


def test_sparse_input_gives_the_dense_clusters(golub):
    dense = bionmf.tl.nmf(golub, ranks=[2], n_runs=5, verbose=False, copy=True)
    sparse = golub.copy()
    sparse.X = sp.csr_matrix(sparse.X)
    bionmf.tl.nmf(sparse, ranks=[2], n_runs=5, verbose=False)
    np.testing.assert_array_equal(sparse.uns["nmf"]["clusters"]["2"], dense.uns["nmf"]["clusters"]["2"])


def test_frobenius_algorithms_agree_and_split_all_from_aml(golub):
    """HALS reaches at least the Frobenius fit of Lee's updates in far fewer iterations.

    On raw intensities the Frobenius loss weighs the brightest genes most, and its optimum puts a
    few more samples across the ALL/AML line than Brunet's KL fit does (4 here), so the bound is
    looser than for ``brunet``.
    """
    kw = dict(ranks=[2], n_runs=10, verbose=False, copy=True)
    lee = bionmf.tl.nmf(golub, algorithm="lee", **kw).uns["nmf"]
    hals = bionmf.tl.nmf(golub, algorithm="hals", **kw).uns["nmf"]
    assert hals["metrics"].loc[2, "objective"] <= lee["metrics"].loc[2, "objective"] * (1 + 1e-6)
    assert hals["metrics"].loc[2, "n_iter"] < lee["metrics"].loc[2, "n_iter"] / 4
    for survey in (lee, hals):
        assert misassigned(survey["clusters"]["2"], golub.obs["ALL_AML"]) <= 4


def test_default_rule_recovers_a_planted_rank():
    a = bionmf.datasets.simulate(n_samples=40, n_genes=400, rank=3, random_state=0)
    bionmf.tl.nmf(a, ranks=range(2, 6), n_runs=10, verbose=False)
    assert a.uns["nmf"]["rank"] == 3
    truth = a.obs["group"]
    assert misassigned(a.obs["nmf_cluster"], truth) == 0


def test_progress_is_logged_per_rank(golub, caplog):
    with caplog.at_level("INFO", logger="bionmf"):
        bionmf.tl.nmf(golub, ranks=[2, 3], n_runs=2, copy=True)
    assert sum("cophenetic" in r.getMessage() for r in caplog.records) == 2
    caplog.clear()
    with caplog.at_level("INFO", logger="bionmf"):
        bionmf.tl.nmf(golub, ranks=[2, 3], n_runs=2, copy=True, verbose=False)
    assert not [r for r in caplog.records if r.name == "bionmf"]


# --- bad input -----------------------------------------------------------------------------


def small(values=None):
    rng = np.random.default_rng(0)
    X = rng.random((6, 10)) + 0.1 if values is None else values
    return ad.AnnData(X=X, obs=pd.DataFrame(index=[f"s{i}" for i in range(X.shape[0])]),
                      var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X: X.__setitem__((1, 3), -2.0), r"negative.*g3"),
        (lambda X: X.__setitem__((2, 4), np.nan), r"(?i)nan.*g4|g4.*nan"),
        (lambda X: X.__setitem__((slice(None), 5), 0.0), r"(?i)zero.*g5|g5.*zero"),
        (lambda X: X.__setitem__((4, slice(None)), 0.0), r"(?i)zero.*s4|s4.*zero"),
    ],
)
def test_bad_values_are_named_and_input_unchanged(change, message):
    a = small()
    change(a.X)
    before = a.copy()
    with pytest.raises(ValueError, match=message):
        bionmf.tl.nmf(a, ranks=[2], n_runs=2, verbose=False)
    assert "nmf" not in a.uns and "X_nmf" not in a.obsm
    np.testing.assert_array_equal(a.X, before.X)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(ranks=[1, 2]), ValueError, r"ranks \[1\] below 2"),
        (dict(ranks=[2, 6]), ValueError, r"ranks \[6\] too large for 6 samples x 10 genes"),
        (dict(ranks=[]), ValueError, "ranks is empty"),
        (dict(ranks=[2.5]), TypeError, "ranks must be ints"),
        (dict(n_runs=0), ValueError, "n_runs must be a positive int"),
        (dict(random_state=-1), ValueError, "random_state"),
        (dict(algorithm="nope"), ValueError, "algorithm must be one of"),
        (dict(rank_rule="elbow"), ValueError, "rank_rule must be one of"),
        (dict(layer="counts"), ValueError, "layer 'counts' not found"),
        (dict(use_genes="missing"), ValueError, "no column 'missing'"),
        (dict(n_jobs=0), ValueError, "n_jobs must be"),
    ],
)
def test_bad_options_are_named(kwargs, error, message):
    a = small()
    with pytest.raises(error, match=message):
        bionmf.tl.nmf(a, **{"n_runs": 2, "verbose": False, **kwargs})
    assert "nmf" not in a.uns
