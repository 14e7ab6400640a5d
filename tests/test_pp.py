"""bionmf.pp: validation, each bad input's error or policy, the steps and the presets."""

from __future__ import annotations

import logging
import tracemalloc

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import bionmf
from bionmf import pp
from tests.conftest import require_shared_data


def _bulk(seed=0, n_obs=8, n_vars=30) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 100.0, size=(n_obs, n_vars)) + 1.0
    return ad.AnnData(X=X, obs=pd.DataFrame(index=[f"S{i}" for i in range(n_obs)]),
                      var=pd.DataFrame(index=[f"G{j}" for j in range(n_vars)]))


def _snapshot(adata: ad.AnnData):
    X = adata.X.toarray() if sp.issparse(adata.X) else np.array(adata.X, copy=True)
    return (X, adata.X.dtype, list(adata.obs_names), list(adata.var_names), list(adata.var.columns),
            sorted(adata.uns.keys()), dict(adata.layers))


def _assert_unchanged(adata, snapshot):
    X, dtype, obs_names, var_names, var_columns, uns_keys, _ = snapshot
    now = adata.X.toarray() if sp.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(now, X)
    assert adata.X.dtype == dtype
    assert list(adata.obs_names) == obs_names and list(adata.var_names) == var_names
    assert list(adata.var.columns) == var_columns and sorted(adata.uns.keys()) == uns_keys


# --- validate_matrix -----------------------------------------------------------------------------

def _names(n, prefix):
    return pd.Index([f"{prefix}{i}" for i in range(n)])


@pytest.mark.parametrize("sparse", [False, True])
def test_validate_negative_message(sparse):
    X = _bulk().X
    X[2, 5] = -1.5
    X[4, 5] = -0.5
    X[6, 9] = -3.0
    M = sp.csr_matrix(X) if sparse else X
    with pytest.raises(ValueError) as error:
        pp.validate_matrix(M, obs_names=_names(8, "S"), var_names=_names(30, "G"))
    text = str(error.value)
    assert "3 negative values (minimum -3)" in text
    assert "2 genes (G5, G9)" in text and "3 samples (S2, S4, S6)" in text
    for option in ("'clip'", "'shift'", "'posneg'", "make_nonnegative"):
        assert option in text


@pytest.mark.parametrize("sparse", [False, True])
def test_validate_nonfinite_message(sparse):
    X = _bulk().X
    X[1, 3] = np.nan
    X[7, 3] = np.inf
    M = sp.csr_matrix(X) if sparse else X
    with pytest.raises(ValueError, match=r"1 NaN value and 1 infinite value in 1 gene \(G3\) and 2 samples "
                                         r"\(S1, S7\).*drop_genes"):
        pp.validate_matrix(M, obs_names=_names(8, "S"), var_names=_names(30, "G"), what="adata.X")


@pytest.mark.parametrize("sparse", [False, True])
def test_validate_all_zero(sparse):
    X = _bulk().X
    X[3] = 0
    X[:, [4, 11]] = 0
    M = sp.csr_matrix(X) if sparse else X
    with pytest.raises(ValueError, match=r"all values are zero in 1 sample \(S3\) and 2 genes \(G4, G11\)"):
        pp.validate_matrix(M, obs_names=_names(8, "S"), var_names=_names(30, "G"))


def test_validate_shape_names_dtype():
    X = _bulk().X
    with pytest.raises(TypeError, match="numeric"):
        pp.validate_matrix(X.astype(str), obs_names=_names(8, "S"), var_names=_names(30, "G"))
    with pytest.raises(TypeError, match="numpy array or scipy.sparse"):
        pp.validate_matrix(X.tolist(), obs_names=_names(8, "S"), var_names=_names(30, "G"))
    with pytest.raises(ValueError, match="2 sample names"):
        pp.validate_matrix(X, obs_names=["a", "b"], var_names=_names(30, "G"))
    with pytest.raises(ValueError, match=r"1 duplicate gene name \(G1\)"):
        pp.validate_matrix(X, obs_names=_names(8, "S"), var_names=["G1"] * 2 + [f"x{i}" for i in range(28)])
    with pytest.raises(ValueError, match="empty"):
        pp.validate_matrix(X[:, :0], obs_names=_names(8, "S"), var_names=[])
    with pytest.raises(ValueError, match=r"2 samples \(S0, S1\); consensus NMF needs at least 3"):
        pp.validate_matrix(X[:2], obs_names=_names(2, "S"), var_names=_names(30, "G"))
    pp.validate_matrix(X, obs_names=_names(8, "S"), var_names=_names(30, "G"))  # valid: no error


def test_validate_sparse_does_not_copy():
    rng = np.random.default_rng(0)
    X = sp.random(4000, 3000, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    obs, var = _names(4000, "c"), _names(3000, "g")
    X.data += 0.1
    pp.validate_matrix(X, obs_names=obs, var_names=var)  # warm up
    tracemalloc.start()
    pp.validate_matrix(X, obs_names=obs, var_names=var)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The stored values alone take X.data.nbytes (2.4 MB); a copy of them would exceed it.
    assert peak < X.data.nbytes / 2


# --- the AnnData-level steps ---------------------------------------------------------------------

def test_make_nonnegative_methods():
    base = _bulk(n_obs=4, n_vars=3)
    base.X = np.array([[1.0, -2.0, 3.0], [-1.0, 2.0, 0.5], [4.0, 1.0, -0.5], [2.0, 2.0, 2.0]])
    clipped = pp.make_nonnegative(base, method="clip", copy=True)
    np.testing.assert_array_equal(clipped.X, np.maximum(base.X, 0))
    shifted = pp.make_nonnegative(base, method="shift", copy=True)
    np.testing.assert_array_equal(shifted.X, base.X + 2.0)
    assert pp.preprocessing_steps(shifted)[-1] == {"step": "make_nonnegative", "method": "shift",
                                                   "n_negative": 3, "shift": 2.0}
    split = pp.make_nonnegative(base, method="posneg", copy=True)
    assert list(split.var_names) == ["G0_pos", "G0_neg", "G1_pos", "G1_neg", "G2_pos", "G2_neg"]
    np.testing.assert_array_equal(split.X[:, 0::2] - split.X[:, 1::2], base.X)
    assert split.X.min() == 0
    assert list(split.var["source_gene"][:2]) == ["G0", "G0"]
    assert (base.X < 0).sum() == 3  # copy=True left the input alone


def test_make_nonnegative_sparse():
    X = sp.csr_matrix(np.array([[1.0, -2.0, 0.0], [0.0, 2.0, -1.0], [3.0, 0.0, 1.0]]))
    adata = ad.AnnData(X=X)
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match="make it dense"):
        pp.make_nonnegative(adata, method="shift")
    _assert_unchanged(adata, snapshot)
    split = pp.make_nonnegative(adata, method="posneg", copy=True)
    assert sp.issparse(split.X)
    np.testing.assert_array_equal(split.X.toarray()[:, 2:4], [[0, 2], [2, 0], [0, 0]])  # G1_pos, G1_neg
    pp.make_nonnegative(adata, method="clip")
    assert sp.issparse(adata.X) and adata.X.nnz == 4 and adata.X.min() == 0


def test_handle_nonfinite_policies():
    adata = _bulk()
    adata.X[2, 7] = np.nan
    adata.X[5, 7] = np.inf
    adata.X[5, 9] = -np.inf
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match=r"1 NaN value and 2 infinite values in 2 genes \(G7, G9\)"):
        pp.handle_nonfinite(adata)
    _assert_unchanged(adata, snapshot)
    dropped = pp.handle_nonfinite(adata, policy="drop_genes", copy=True)
    assert dropped.n_vars == 28 and "G7" not in dropped.var_names
    dropped = pp.handle_nonfinite(adata, policy="drop_samples", copy=True)
    assert list(dropped.obs_names) == ["S0", "S1", "S3", "S4", "S6", "S7"]


def test_remove_empty_logs_and_removes(caplog):
    adata = _bulk()
    adata.X[:, 3] = 0
    adata.X[:, 4] = 20.0
    adata.X[6] = 0
    with caplog.at_level(logging.INFO, logger="bionmf"):
        pp.remove_empty(adata)
    assert "removed 1 all-zero gene (G3)" in caplog.text
    assert "removed 1 constant gene (G4)" in caplog.text
    assert "removed 1 all-zero sample (S6)" in caplog.text
    assert adata.shape == (7, 28)
    step = pp.preprocessing_steps(adata)[-1]
    assert step["n_genes_removed"] == 2 and step["n_samples_removed"] == 1


def test_remove_empty_refuses_to_leave_too_few_samples():
    adata = _bulk(n_obs=4)
    adata.X[1:3] = 0
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match=r"only 2 samples would remain .*\(S1, S2\)"):
        pp.remove_empty(adata)
    _assert_unchanged(adata, snapshot)


def test_threshold_filter_and_select_match_numpy():
    adata = bionmf.datasets.golub()
    X0 = adata.X.copy()
    pp.threshold(adata, floor=100, ceiling=16000)
    np.testing.assert_array_equal(adata.X, np.clip(X0, 100, 16000))
    pp.filter_variation(adata, min_fold=5, min_delta=500)
    lo, hi = adata.X.min(0), adata.X.max(0)
    expected = (hi / lo >= 5) & (hi - lo >= 500)
    np.testing.assert_array_equal(adata.var["nmf_use"].to_numpy(), expected)
    pp.select_genes(adata, n_top=300, by="cv")
    cv = adata.X.std(0, ddof=1) / adata.X.mean(0)
    ranked = np.argsort(-np.where(expected, cv, -np.inf), kind="stable")[:300]
    assert set(np.flatnonzero(adata.var["nmf_use"])) == set(ranked)
    np.testing.assert_allclose(adata.var["cv"], cv, rtol=1e-10)
    assert [s["step"] for s in pp.preprocessing_steps(adata)] == ["threshold", "filter_variation", "select_genes"]


def test_filter_variation_leaving_nothing_is_an_error():
    adata = _bulk()
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match="leaves no gene"):
        pp.filter_variation(adata, min_fold=1e6)
    _assert_unchanged(adata, snapshot)


def test_log2_and_negative_input():
    adata = _bulk()
    expected = np.log2(adata.X + 1)
    pp.log2(adata)
    np.testing.assert_allclose(adata.X, expected, rtol=1e-12)
    negative = _bulk()
    negative.X[0, 0] = -5
    with pytest.raises(ValueError, match="cannot take the logarithm of 1 negative value"):
        pp.log2(negative)


def test_steps_on_a_view_do_not_touch_the_parent():
    parent = _bulk()
    before = parent.X.copy()
    view = parent[:4]
    pp.log2(view)
    np.testing.assert_array_equal(parent.X, before)
    np.testing.assert_allclose(view.X, np.log2(before[:4] + 1))


@pytest.mark.parametrize("sparse", [False, True])
def test_normalize_a_view_leaves_the_parent_alone(sparse):
    parent = _bulk(n_obs=10)
    if sparse:
        parent.X = sp.csr_matrix(parent.X)
    before = _snapshot(parent)
    view = parent[2:8, 5:25]
    result = pp.normalize(view, log=True, copy=True)
    assert type(result.X) in (np.ndarray, sp.csr_matrix)
    pp.normalize(view, log=True)
    _assert_unchanged(parent, before)
    np.testing.assert_allclose(view.X.toarray() if sparse else view.X,
                               np.log2(before[0][2:8, 5:25] + 1), rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_scale_genes_unit_variance(sparse):
    rng = np.random.default_rng(1)
    X = rng.poisson(1.0, size=(50, 20)).astype(np.float64)
    X[:, 3] = 0
    adata = ad.AnnData(X=sp.csr_matrix(X) if sparse else X.copy())
    pp.scale_genes(adata)
    scaled = adata.X.toarray() if sparse else adata.X
    sd = X.std(0, ddof=1)
    np.testing.assert_allclose(scaled.std(0, ddof=1)[sd > 0], 1.0, rtol=1e-10)
    np.testing.assert_array_equal(scaled[:, 3], 0)
    assert sp.issparse(adata.X) == sparse


# --- normalize: one test per bad input, input unchanged ------------------------------------------

def test_normalize_negative_values_error_then_options():
    adata = _bulk()
    adata.X[[1, 3], 2] = -4.0
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError) as error:
        pp.normalize(adata)
    text = str(error.value)
    assert "2 negative values" in text and "G2" in text and "S1, S3" in text
    assert "'clip'" in text and "'shift'" in text and "'posneg'" in text and "floor" in text
    _assert_unchanged(adata, snapshot)
    clipped = pp.normalize(adata, negative="clip", copy=True)
    assert clipped.X.min() >= 0 and clipped.X[1, 2] == 0
    split = pp.normalize(adata, negative="posneg", copy=True)
    assert "G2_neg" in split.var_names and split.var["nmf_use"].all()
    floored = pp.normalize(adata, floor=20, copy=True)
    assert floored.X.min() == 20
    _assert_unchanged(adata, snapshot)


def test_normalize_nonfinite_error_and_policies():
    adata = _bulk()
    adata.X[4, 6] = np.nan
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match=r"1 NaN value in 1 gene \(G6\) and 1 sample \(S4\)"):
        pp.normalize(adata)
    _assert_unchanged(adata, snapshot)
    assert pp.normalize(adata, nonfinite="drop_genes", copy=True).n_vars == 29
    assert pp.normalize(adata, nonfinite="drop_samples", copy=True).n_obs == 7


def test_normalize_removes_zero_and_constant(caplog):
    adata = _bulk()
    adata.X[:, 0] = 0
    adata.X[:, 1] = 7.0
    adata.X[2] = 0
    adata.layers["raw"] = adata.X.copy()
    with caplog.at_level(logging.INFO, logger="bionmf"):
        pp.normalize(adata)
    assert "removed 1 all-zero gene (G0)" in caplog.text and "removed 1 constant gene (G1)" in caplog.text
    assert "removed 1 all-zero sample (S2)" in caplog.text
    assert adata.shape == (7, 28) and adata.layers["raw"].shape == (7, 28)
    kept = pp.normalize(_bulk(), remove_constant=False, copy=True)
    assert kept.n_vars == 30


def test_normalize_non_numeric():
    adata = ad.AnnData(X=np.array([["1", "2"], ["3", "x"], ["4", "5"]], dtype=object))
    with pytest.raises(TypeError, match="must be numeric, got dtype object"):
        pp.normalize(adata)


def test_normalize_duplicate_names():
    adata = _bulk()
    adata.var_names = ["G1"] + [f"G{j}" for j in range(1, 30)]
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match=r"1 duplicate gene name \(G1\).*var_names_make_unique"):
        pp.normalize(adata)
    _assert_unchanged(adata, snapshot)
    adata = _bulk()
    adata.obs_names = ["S0"] * 8
    with pytest.raises(ValueError, match=r"1 duplicate sample name \(S0\)"):
        pp.normalize(adata)


def test_normalize_empty_after_filtering():
    adata = _bulk()
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match="leaves no gene"):
        pp.normalize(adata, min_fold=1e9)
    _assert_unchanged(adata, snapshot)
    adata = _bulk()
    adata.X[:] = 5.0
    with pytest.raises(ValueError, match="only 0 samples would remain after removing all-zero/constant"):
        pp.normalize(adata)
    adata.X[:, 0] = np.arange(8)  # samples now differ, every gene but G0 is constant, G0 is kept
    with pytest.warns(UserWarning, match=r"removed 1 sample \(S0\) whose values are all zero in the 1 gene chosen"):
        pp.normalize(adata)
    assert list(adata.var_names) == ["G0"] and adata.n_obs == 6  # S5 was constant (all 5), S0 zero in G0
    adata = _bulk()
    adata.X[:, :] = np.arange(30)  # every gene constant
    with pytest.raises(ValueError, match="every gene is all zero or constant"):
        pp.normalize(adata)


def test_normalize_too_few_samples():
    adata = _bulk(n_obs=2)
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match=r"2 samples \(S0, S1\); consensus NMF needs at least 3"):
        pp.normalize(adata)
    _assert_unchanged(adata, snapshot)
    adata = _bulk(n_obs=4)
    adata.X[[0, 1]] = 0
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match=r"only 2 samples would remain .*\(S0, S1\)"):
        pp.normalize(adata)
    _assert_unchanged(adata, snapshot)


def test_singlecell_preset_sparse_errors_leave_input_alone():
    rng = np.random.default_rng(2)
    X = sp.random(50, 40, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    X.data = np.ceil(X.data * 10)
    X.data[5] = -1
    adata = ad.AnnData(X=X)
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match="1 negative value"):
        pp.normalize(adata, preset="singlecell", n_top_genes=10)
    _assert_unchanged(adata, snapshot)
    assert "nmf_use" not in adata.var.columns and "bionmf_preprocessing" not in adata.uns
    pp.normalize(adata, preset="singlecell", n_top_genes=10, negative="clip")
    assert sp.issparse(adata.X) and adata.var["nmf_use"].sum() == 10


def test_normalize_warns_on_logged_input():
    logged = _bulk()
    logged.X = np.log2(logged.X + 1)
    with pytest.warns(UserWarning, match="look log-transformed already .*non-integer with maximum"):
        pp.normalize(logged, log=True, copy=True)
    counts = _bulk()
    counts.X = np.round(counts.X)
    pp.normalize(counts, preset="counts", n_top_genes=10)
    with pytest.warns(UserWarning, match="records a log1p step"):
        pp.normalize(counts, preset="counts", n_top_genes=10, copy=True)


def test_normalize_warns_when_bulk_samples_drop_out():
    adata = _bulk(n_obs=6, n_vars=10)
    adata.X[:, :2] *= 50  # the two genes of highest CV below
    adata.X[:, :2] = np.where(np.arange(6)[:, None] < 4, adata.X[:, :2], 0)
    with pytest.warns(UserWarning, match=r"removed 2 samples \(S4, S5\) whose values are all zero in the 2 genes chosen"):
        result = pp.normalize(adata, n_top_genes=2, copy=True)
    assert result.n_obs == 4


def test_normalize_option_of_another_preset():
    with pytest.raises(ValueError, match="preset='singlecell' does not use floor"):
        pp.normalize(_bulk(), preset="singlecell", floor=20)
    with pytest.raises(ValueError, match="preset must be one of"):
        pp.normalize(_bulk(), preset="rnaseq")


# --- the presets on real data --------------------------------------------------------------------

def test_bulk_preset_on_golub_keeps_values(tmp_path):
    adata = bionmf.datasets.golub()
    raw = adata.X.copy()
    pp.normalize(adata)
    constant = raw.min(0) == raw.max(0)
    assert constant.sum() == 188  # probes at the floor of 20 in every sample
    np.testing.assert_array_equal(adata.X, raw[:, ~constant])
    assert adata.var["nmf_use"].dtype == bool and adata.var["nmf_use"].all()
    path = tmp_path / "golub.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert pp.preprocessing_steps(back) == pp.preprocessing_steps(adata)
    assert pp.preprocessing_steps(back)[0] == {"step": "normalize", "preset": "bulk", "negative": "error",
                                               "nonfinite": "error", "rank_by": "cv", "log": False}


def test_bulk_preset_gene_selection_on_medulloblastoma():
    folder = require_shared_data("medulloblastoma")
    adata = bionmf.io.read(folder / "Medulloblastoma_data.txt", header=False, index_col=None,
                           genes=folder / "Medulloblastoma_genes.txt")
    pp.normalize(adata, floor=20, ceiling=16000, min_fold=3, min_delta=100, n_top_genes=1000, log=True)
    assert adata.var["nmf_use"].sum() == 1000
    assert adata.X.min() >= np.log2(21) - 1e-12 and adata.X.max() <= np.log2(16001) + 1e-12
    steps = [s["step"] for s in pp.preprocessing_steps(adata)]
    assert steps == ["normalize", "handle_nonfinite", "threshold", "remove_empty", "filter_variation",
                     "select_genes", "log2", "remove_empty"]
    pp.validate(adata)


def test_bulk_preset_on_cns_layer():
    adata = bionmf.io.read(require_shared_data("cns", "CNS34_genes_x_samples.tsv"))
    adata.layers["intensity"] = adata.X.copy()
    X0 = adata.X.copy()
    pp.normalize(adata, layer="intensity", n_top_genes=500)
    np.testing.assert_array_equal(adata.X, X0[:, adata.var_names.get_indexer(adata.var_names)])
    assert adata.var["nmf_use"].sum() == 500
    assert pp.preprocessing_steps(adata)[0]["layer"] == "intensity"


def test_counts_preset_on_paul15():
    adata = ad.read_h5ad(require_shared_data("paul15", "paul15_subset_counts.h5ad"))
    raw = adata.X.copy()
    result = pp.normalize(adata, preset="counts", copy=True)
    assert adata.X.dtype == np.int32 and (adata.X != raw).nnz == 0  # copy=True left the input alone
    cpm = np.expm1(result.X.toarray().astype(np.float64))
    np.testing.assert_allclose(cpm.sum(1), 1e6, rtol=1e-4)
    assert result.var["nmf_use"].sum() == min(5000, result.n_vars)
    pp.validate(result)


def _overdispersed_counts(seed=0, n_cells=800, n_genes=300, n_over=40):
    """UMI-like counts: every gene Poisson around its mean times the cell's depth, except the
    first ``n_over``, which are negative binomial (overdispersed, shape 0.5) at the same means."""
    rng = np.random.default_rng(seed)
    depth = rng.lognormal(0.0, 0.5, size=n_cells)
    means = rng.lognormal(0.0, 1.2, size=n_genes)
    rate = depth[:, None] * means[None, :]
    X = rng.poisson(rate).astype(np.float64)
    shape = 0.5
    X[:, :n_over] = rng.poisson(rng.gamma(shape, rate[:, :n_over] / shape))
    X[:, -1] += 1  # no cell without counts
    return ad.AnnData(X=sp.csr_matrix(X.astype(np.float32)),
                      obs=pd.DataFrame(index=[f"c{i}" for i in range(n_cells)]),
                      var=pd.DataFrame(index=[f"g{j}" for j in range(n_genes)]))


def test_cnmf_flavor_finds_overdispersed_genes_from_counts_or_normalized():
    adata = _overdispersed_counts()
    pp.highly_variable_genes(adata, n_top=40)
    chosen = adata.var["nmf_use"].to_numpy()
    assert chosen.sum() == 40 and chosen[:40].sum() >= 36, chosen[:40].sum()
    # the statistics are taken on depth-normalized values: normalizing first changes nothing
    normalized = adata.copy()
    normalized.var["nmf_use"] = True
    pp.normalize_library(normalized, method="total")
    pp.highly_variable_genes(normalized, n_top=40)
    assert (normalized.var["nmf_use"].to_numpy() == chosen).all()
    np.testing.assert_allclose(normalized.var["fano_ratio"], adata.var["fano_ratio"], rtol=1e-6)
    assert pp.preprocessing_steps(adata)[-1] == {"step": "highly_variable_genes", "n_top": 40, "flavor": "cnmf",
                                                  "key_added": "nmf_use", "n_kept": 40}


def test_highly_variable_genes_never_choose_genes_without_counts():
    adata = _overdispersed_counts(n_genes=60, n_over=5)
    X = adata.X.toarray()
    X[:, 10:20] = 0.0  # ten genes never seen
    adata.X = sp.csr_matrix(X)
    for flavor in ("cnmf", "cell_ranger"):
        a = adata.copy()
        pp.highly_variable_genes(a, n_top=200, flavor=flavor)
        chosen = a.var["nmf_use"].to_numpy()
        assert chosen.sum() == 50 and not chosen[10:20].any(), flavor
    with pytest.raises(ValueError, match="n_top must be at least 1"):
        pp.highly_variable_genes(adata, n_top=0)


def test_cnmf_flavor_statistics_follow_the_published_formula():
    """Kotliar et al. 2019 (Methods): Fano factor of depth-normalized counts against
    A^2 mean + B^2; computed here densely in plain numpy, apart from the library's chunked sums."""
    adata = _overdispersed_counts(seed=1, n_cells=300, n_genes=120, n_over=15)
    X = adata.X.toarray().astype(np.float64)
    Y = X / X.sum(1, keepdims=True) * 1e4
    mean, var = Y.mean(0), Y.var(0, ddof=1)
    fano = var / mean
    a = (np.sqrt(var) / mean)[np.argsort(-mean)[:20]].min()
    box = ((mean > np.quantile(mean, 0.1)) & (mean < np.quantile(mean, 0.9))
           & (fano > np.quantile(fano, 0.1)) & (fano < np.quantile(fano, 0.9)))
    expected = a**2 * mean + np.median(fano[box])
    pp.highly_variable_genes(adata, n_top=15)
    np.testing.assert_allclose(adata.var["means"], mean, rtol=1e-9)
    np.testing.assert_allclose(adata.var["fano"], fano, rtol=1e-9)
    np.testing.assert_allclose(adata.var["expected_fano"], expected, rtol=1e-9)
    top = np.argsort(-(fano / expected), kind="stable")[:15]
    assert set(np.flatnonzero(adata.var["nmf_use"])) == set(top)


def test_cnmf_flavor_matches_cnmf_on_pbmc3k():
    """The genes cNMF itself selects (its own function, when the optional package is installed)."""
    cnmf = pytest.importorskip("cnmf.cnmf")
    adata = ad.read_h5ad(require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad"))
    adata = adata[:, np.asarray((adata.X != 0).sum(0)).ravel() > 0].copy()
    tpm = sp.csr_matrix(adata.X.multiply(1e6 / np.asarray(adata.X.sum(1))), dtype=np.float64)
    stats, _ = cnmf.get_highvar_genes_sparse(tpm, numgenes=2000)
    pp.highly_variable_genes(adata, n_top=2000)
    assert set(adata.var_names[stats["high_var"].to_numpy()]) == set(adata.var_names[adata.var["nmf_use"]])


def test_seurat_flavor_takes_counts_and_logs_them_itself():
    import scanpy as sc

    adata = _overdispersed_counts(seed=2)
    theirs = adata.copy()
    sc.pp.normalize_total(theirs, target_sum=1e4)
    sc.pp.log1p(theirs)
    table = sc.pp.highly_variable_genes(theirs, n_top_genes=30, flavor="seurat", inplace=False)
    pp.highly_variable_genes(adata, n_top=30, flavor="seurat")
    top = np.argsort(-table["dispersions_norm"].to_numpy(), kind="stable")[:30]
    assert set(np.flatnonzero(adata.var["nmf_use"])) == set(top)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"library": "cpm"}, "takes library=None"),
    ({"target_sum": 1e4}, "target_sum applies with library='total'"),
    ({"hvg_flavor": "seurat_v3"}, "hvg_flavor must be one of"),
])
def test_singlecell_preset_rejects_option_combinations(kwargs, message):
    adata = _overdispersed_counts()
    snapshot = _snapshot(adata)
    with pytest.raises(ValueError, match=message):
        pp.normalize(adata, preset="singlecell", n_top_genes=20, **kwargs)
    _assert_unchanged(adata, snapshot)


def test_singlecell_preset_warns_on_logged_data():
    adata = _overdispersed_counts()
    adata.X = adata.X.log1p()
    with pytest.warns(UserWarning, match="takes UMI counts, but the data look log-transformed"):
        pp.normalize(adata, preset="singlecell", n_top_genes=20)


def test_singlecell_preset_library_option_normalizes_cells():
    adata = _overdispersed_counts()
    pp.normalize(adata, preset="singlecell", n_top_genes=20, library="total", scale=False)
    totals = np.asarray(adata.X.sum(1)).ravel()
    np.testing.assert_allclose(totals, np.median(totals), rtol=1e-5)
    assert [s["step"] for s in pp.preprocessing_steps(adata)][1:] == [
        "handle_nonfinite", "remove_empty", "normalize_library", "highly_variable_genes", "remove_empty"]


def test_singlecell_preset_on_pbmc3k_stays_sparse():
    path = require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad")
    adata = ad.read_h5ad(path)
    counts = adata.X.copy()
    pp.normalize(adata, preset="singlecell")
    assert sp.isspmatrix_csr(adata.X) or isinstance(adata.X, sp.csr_array)
    assert adata.X.dtype == np.float32
    use = adata.var["nmf_use"].to_numpy()
    assert use.sum() == 2000 and adata.var["highly_variable"].sum() == 2000
    sub = adata.X[:, use]
    mean = np.asarray(sub.mean(0)).ravel()
    var = np.asarray(sub.multiply(sub).mean(0)).ravel() - mean**2
    np.testing.assert_allclose(var * adata.n_obs / (adata.n_obs - 1), 1.0, rtol=1e-3)
    assert adata.X.data.min() >= 0
    assert adata.n_obs <= 2700 and adata.n_vars == 16634  # the 16104 genes without a count are gone
    # the values are the counts, each gene divided by its standard deviation (cNMF's input)
    kept = counts[:, np.asarray((counts != 0).sum(0)).ravel() > 0]
    np.testing.assert_allclose(adata.X.multiply(adata.var["scale_sd"].to_numpy()[None, :]).toarray(),
                               kept.toarray(), rtol=1e-5, atol=1e-4)
    pp.validate(adata)


@pytest.mark.parametrize("sparse", [False, True])
def test_normalize_library_matches_scanpy(sparse):
    import scanpy as sc

    rng = np.random.default_rng(3)
    X = rng.poisson(2.0, size=(40, 25)).astype(np.float32)
    X[:, 0] += 1  # no empty sample
    ours = ad.AnnData(X=sp.csr_matrix(X) if sparse else X.copy())
    pp.normalize_library(ours, method="total")
    theirs = ad.AnnData(X=sp.csr_matrix(X) if sparse else X.copy())
    sc.pp.normalize_total(theirs)
    dense = (lambda M: M.toarray() if sp.issparse(M) else M)
    np.testing.assert_allclose(dense(ours.X), dense(theirs.X), rtol=1e-6)
    cpm = pp.normalize_library(ad.AnnData(X=X.copy()), method="cpm", copy=True)
    np.testing.assert_allclose(cpm.X.sum(1), 1e6, rtol=1e-5)


def test_readme_flow_gct_to_tl_nmf(tmp_path):
    """The README example, small: GCT file -> normalize -> tl.nmf fits only the marked genes."""
    path = tmp_path / "golub.gct"
    bionmf.io.write_gct(bionmf.datasets.golub(), path)
    adata = bionmf.io.read(path)
    bionmf.pp.normalize(adata, preset="bulk", n_top_genes=500)
    bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=4, random_state=0, verbose=False)
    used = adata.var["nmf_use"].to_numpy()
    assert used.sum() == 500
    W = np.asarray(adata.varm["nmf"])
    assert W.shape[0] == adata.n_vars
    assert np.all(W[~used] == 0) and np.any(W[used] > 0)
    assert adata.obsm["X_nmf"].shape[0] == 38
