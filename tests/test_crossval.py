"""Cross-validated rank selection (bionmf.core.crossval) and purity/entropy against R."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import bionmf
from bionmf.core import crossval as cv
from bionmf.core.metrics import entropy, purity
from bionmf.core.solvers._masked import count_held_out, held_out_mask

SCHEMES = cv.SCHEMES
LOSSES = cv.LOSSES


@pytest.fixture(scope="module")
def easy():
    """Planted rank 3, well separated (the easy level of benchmarks/rank_rules.py), small."""
    return bionmf.datasets.simulate(n_samples=30, n_genes=200, rank=3, markers_per_group=30, fold_change=3.0,
                                    noise=0.3, random_state=1).X


def _fast(**kw):
    return dict(max_iter=200, tol=1e-4, **kw)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_chunked_equals_unchunked(easy, scheme):
    whole = cv.crossval_rank(easy, 3, range(4), random_state=5, scheme=scheme, **_fast())
    parts = [cv.crossval_rank(easy, 3, runs, random_state=5, scheme=scheme, **_fast()) for runs in ([3, 0], [2], [1])]
    merged = cv.CVRuns.merge(parts)
    np.testing.assert_array_equal(merged.runs, whole.runs)
    np.testing.assert_array_equal(merged.error, whole.error)
    np.testing.assert_array_equal(merged.train_error, whole.train_error)
    # a run alone is the same run
    alone = cv.crossval_rank(easy, 3, [2], random_state=5, scheme=scheme, **_fast())
    assert alone.error[0] == whole.error[2]
    # and another random_state gives other runs
    other = cv.crossval_rank(easy, 3, range(4), random_state=6, scheme=scheme, **_fast())
    assert not np.array_equal(other.error, whole.error)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_dense_and_sparse_agree(easy, scheme, loss):
    X = easy.copy()
    X[X < np.quantile(X, 0.3)] = 0.0  # real zeros, so the sparse matrix stores fewer entries
    dense = cv.crossval_rank(X, 2, range(2), scheme=scheme, loss=loss, **_fast())
    sparse = cv.crossval_rank(sp.csr_matrix(X), 2, range(2), scheme=scheme, loss=loss, **_fast())
    if scheme == "speckled":
        # one code path for both: the very same numbers
        np.testing.assert_array_equal(dense.error, sparse.error)
    else:
        np.testing.assert_allclose(dense.error, sparse.error, rtol=1e-6)
    assert np.all(np.isfinite(dense.error)) and np.all(dense.error > 0)


def test_speckled_mask_holds_out_its_share_and_depends_on_the_fold_only():
    shape = (40, 300)
    mask = held_out_mask(shape, 123, 0.1)
    assert mask.sum() == count_held_out(shape, 123, 0.1)
    assert abs(mask.mean() - 0.1) < 0.01
    assert not np.array_equal(mask, held_out_mask(shape, 124, 0.1))
    # the fold key comes from (random_state, run), not the rank: ranks are compared on the same entries
    key = cv.fold_seed(0, 2).generate_state(1, np.uint64)[0]
    assert key == cv.fold_seed(0, 2).generate_state(1, np.uint64)[0]


def test_held_out_entries_do_not_enter_the_fit(easy):
    """Changing only held-out entries leaves the fit (its training error) unchanged."""
    key = int(cv.fold_seed(0, 0).generate_state(1, np.uint64)[0])
    mask = held_out_mask(easy.shape, key, cv.DEFAULT_HOLDOUT)
    X2 = easy.copy()
    X2[mask] *= 3.0
    a = cv.crossval_rank(easy, 3, [0], **_fast())
    b = cv.crossval_rank(X2, 3, [0], **_fast())
    assert a.train_error[0] == b.train_error[0]
    assert b.error[0] > a.error[0]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_planted_rank_recovered_on_easy_data(easy, scheme, loss):
    X = np.log1p(easy) if loss == "frobenius" else easy  # Frobenius: homoscedastic noise
    table = cv.cv_table(cv.crossval_ranks(X, range(2, 6), 3, scheme=scheme, loss=loss, max_iter=500))
    assert cv.min_cv_error(table) == 3
    # too few ranks: clearly worse than the planted one
    assert table.loc[2, "cv_error"] > table.loc[3, "cv_error"] + 2 * table.loc[3, "cv_error_se"]


def test_rules():
    table = pd.DataFrame({"cv_error": [5.0, 3.0, 2.9, 3.5], "cv_error_se": [0.1, 0.1, 0.2, 0.1],
                          "dispersion": [0.9, 0.99, 0.95, 0.97]}, index=[2, 3, 4, 5])
    assert cv.min_cv_error(table) == 4
    assert cv.cv_one_se(table) == 3  # 3.0 <= 2.9 + 0.2
    assert cv.cv_stable(table) == 3
    table.loc[3, "cv_error"] = 3.2
    assert cv.cv_one_se(table) == 4 and cv.cv_stable(table) == 4
    with pytest.raises(KeyError, match="cv_error"):
        cv.min_cv_error(table.drop(columns="cv_error"))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_data_too_small_to_hold_out(scheme):
    X = np.random.default_rng(0).random((6, 8))
    with pytest.raises(ValueError, match="too small"):
        cv.crossval_rank(X, 3, range(2), scheme=scheme)


def test_bad_inputs(easy):
    with pytest.raises(ValueError, match="scheme"):
        cv.crossval_rank(easy, 2, [0], scheme="loo")
    with pytest.raises(ValueError, match="loss"):
        cv.crossval_rank(easy, 2, [0], loss="itakura-saito")
    with pytest.raises(ValueError, match="holdout"):
        cv.crossval_rank(easy, 2, [0], holdout=0.7)
    with pytest.raises(ValueError, match="non-negative"):
        cv.crossval_rank(-easy, 2, [0])
    with pytest.raises(ValueError, match="overlap"):
        part = cv.crossval_rank(easy, 2, [0], **_fast())
        cv.CVRuns.merge([part, part])


# -- purity and entropy against the R package NMF ------------------------------------------------

CLUSTERS = [1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 1, 2]
CLASSES = ["a", "a", "b", "b", "b", "c", "b", "c", "c", "a", "a", "b"]


def test_purity_entropy_by_hand():
    assert purity([0, 0, 1, 1], ["x", "x", "y", "y"]) == 1.0
    assert entropy([0, 0, 1, 1], ["x", "x", "y", "y"]) == 0.0
    assert entropy([0, 0, 0, 0], ["x", "y", "x", "y"]) == pytest.approx(1.0)
    assert purity([0, 0, 0, 0], ["x", "y", "x", "y"]) == 0.5
    with pytest.raises(ValueError, match="length"):
        purity([0, 1], ["a"])


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_purity_entropy_match_r():
    clusters = ",".join(str(c) for c in CLUSTERS)
    classes = ",".join(f'"{c}"' for c in CLASSES)
    script = (
        "suppressMessages(library(NMF));"
        f"x <- as.factor(c({clusters})); y <- c({classes});"
        "cat(sprintf('%.15f %.15f', purity(x, y), entropy(x, y)))"
    )
    try:
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, timeout=120, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"R package NMF not usable: {err}")
    r_purity, r_entropy = map(float, out.stdout.split())
    assert purity(CLUSTERS, CLASSES) == pytest.approx(r_purity, abs=1e-12)
    assert entropy(CLUSTERS, CLASSES) == pytest.approx(r_entropy, abs=1e-12)
    # a pandas Categorical as classes gives the same
    assert purity(CLUSTERS, pd.Categorical(CLASSES)) == pytest.approx(r_purity, abs=1e-12)


# -- tl.nmf, the survey stages, the workflow's path and the plot ----------------------------------


@pytest.fixture(scope="module")
def small():
    return bionmf.datasets.simulate(n_samples=30, n_genes=150, rank=3, markers_per_group=30, fold_change=3.0,
                                    noise=0.3, random_state=2)


SMALL = dict(ranks=[2, 3], n_runs=3, random_state=4, verbose=False, solver={"max_iter": 300, "n_stable": 5})


def test_tl_nmf_records_the_held_out_error_and_class_agreement(small):
    result = bionmf.tl.nmf(small, crossval="bicross", crossval_runs=3, classes="group", copy=True, **SMALL)
    uns = result.uns["nmf"]
    metrics = uns["metrics"]
    for column in ("cv_error", "cv_error_sd", "cv_error_se", "cv_runs", "purity", "entropy"):
        assert column in metrics.columns, column
    assert (metrics["cv_runs"] == 3).all()
    runs = uns["crossval"]
    assert list(runs.columns) == ["rank", "run", "error", "train_error", "n_iter"] and len(runs) == 6
    assert metrics.loc[3, "cv_error"] == pytest.approx(runs[runs["rank"] == 3]["error"].mean())
    assert {"min_cv_error", "cv_one_se", "cv_stable"} <= set(uns["rank_rules"])
    assert uns["params"]["crossval"] == "bicross" and uns["params"]["crossval_runs"] == 3
    for k in (2, 3):
        clusters = uns["clusters"][str(k)]
        assert metrics.loc[k, "purity"] == purity(clusters, small.obs["group"])
        assert metrics.loc[k, "entropy"] == entropy(clusters, small.obs["group"])
    assert metrics.loc[3, "purity"] == 1.0  # the planted groups, well separated
    # the survey's numbers are those of the survey without cross-validation
    plain = bionmf.tl.nmf(small, copy=True, **SMALL)
    pd.testing.assert_frame_equal(plain.uns["nmf"]["metrics"], metrics[plain.uns["nmf"]["metrics"].columns])
    # a cross-validated rule may choose the rank
    chosen = bionmf.tl.nmf(small, crossval="speckled", crossval_runs=2, rank_rule="cv_stable", copy=True, **SMALL)
    assert chosen.uns["nmf"]["rank"] == chosen.uns["nmf"]["rank_rules"]["cv_stable"]


def test_tl_nmf_crossval_errors_leave_adata_unchanged(small):
    before = small.copy()
    with pytest.raises(ValueError, match="also set crossval"):
        bionmf.tl.nmf(small, rank_rule="cv_one_se", **SMALL)
    with pytest.raises(ValueError, match="crossval must be one of"):
        bionmf.tl.nmf(small, crossval="kfold", **SMALL)
    with pytest.raises(ValueError, match="crossval_runs"):
        bionmf.tl.nmf(small, crossval="bicross", crossval_runs=1, **SMALL)
    with pytest.raises(ValueError, match="not a column of adata.obs"):
        bionmf.tl.nmf(small, classes="diagnosis", **SMALL)
    assert set(small.uns) == set(before.uns) and list(small.obs.columns) == list(before.obs.columns)


def test_workflow_stages_equal_tl_nmf(small, tmp_path):
    """Cross-validation chunks as the workflow's jobs compute them (saved, loaded, merged) == tl.nmf."""
    from bionmf import workflow as wf
    from bionmf.core.crossval import save_cv_runs

    params = {"ranks": [2, 3], "n_runs": 3, "random_state": 4, "crossval": "speckled", "crossval_runs": 3,
              "solver": SMALL["solver"], "consensus": "samples"}
    survey = wf.job_survey(small, params)
    paths = []
    for k in (2, 3):
        for part in ([2], [0, 1]):
            path = tmp_path / f"cv_{k}_{part[0]}.npz"
            save_cv_runs(survey.crossvalidate(k, part, n_jobs=1), path)
            paths.append(path)
    runs, summaries = [], []
    for k in (2, 3):
        merged, summary = survey.summarize(survey.factorize(k, range(3), n_jobs=1))
        runs.append(merged)
        summaries.append(summary)
    table, choice = survey.choose(summaries, crossval=wf.load_crossval(survey, paths),
                                  classes=wf.job_classes(small, "group"))
    ours = small.copy()
    survey.write(ours, runs, summaries, choice=choice, crossval=wf.load_crossval_runs(paths), classes="group")
    theirs = bionmf.tl.nmf(small, crossval="speckled", crossval_runs=3, classes="group", copy=True, n_jobs=1, **SMALL)
    pd.testing.assert_frame_equal(ours.uns["nmf"]["metrics"], theirs.uns["nmf"]["metrics"])
    pd.testing.assert_frame_equal(table[theirs.uns["nmf"]["metrics"].columns], theirs.uns["nmf"]["metrics"])
    pd.testing.assert_frame_equal(ours.uns["nmf"]["crossval"], theirs.uns["nmf"]["crossval"])
    assert choice["rank_rules"] == dict(theirs.uns["nmf"]["rank_rules"])
    with pytest.raises(ValueError, match="expected 0..2"):
        survey.crossval_table([survey.crossvalidate(2, [0]), survey.crossvalidate(3, [0])])


def test_rank_metrics_plot_shows_the_held_out_error(small):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = bionmf.tl.nmf(small, crossval="bicross", crossval_runs=2, copy=True, **SMALL)
    fig = bionmf.pl.rank_metrics(result)
    labels = [ax.get_label() for ax in fig.axes]
    assert labels[-1] == "metric:cv_error"
    assert "metric:cv_error" not in [ax.get_label() for ax in bionmf.pl.rank_metrics(result, crossval=False).axes]
    plt.close("all")


def test_workflow_schema_follows_the_library():
    import inspect

    import yaml

    from tests.conftest import REPO

    props = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())["properties"]
    signature = inspect.signature(bionmf.tl.nmf).parameters
    assert set(props["crossval"]["enum"]) == {*cv.SCHEMES, None}
    assert props["crossval"]["default"] is signature["crossval"].default is None
    assert props["crossval_runs"]["default"] == signature["crossval_runs"].default
    assert set(cv.CV_RULES) <= set(props["rank_rule"]["enum"])


def test_bicross_too_large_for_memory_is_refused_before_any_run():
    """A million cells x 2000 genes would make 4 GB dense blocks per bi-cross run: refused up
    front, naming the option and the config key, by the library and by the survey's options."""

    from bionmf.core import SurveyOptions
    from bionmf.core.crossval import bicross_dense_bytes, check_bicross_size, crossval_rank
    from bionmf.core.summary import SurveyOptionError

    assert bicross_dense_bytes((1_000_000, 2000)) == 8 * 500_000 * 1000
    check_bicross_size((100_000, 2000))  # 0.8 GB blocks: allowed
    with pytest.raises(ValueError, match=r"crossval: null"):
        check_bicross_size((1_000_000, 2000))
    with pytest.raises(SurveyOptionError, match=r"3\.7 GiB") as error:
        SurveyOptions(ranks=[2, 3], crossval="bicross").for_data((1_000_000, 2000))
    assert error.value.option == "crossval"
    SurveyOptions(ranks=[2, 3], crossval="speckled").for_data((1_000_000, 2000))  # no dense blocks
    huge = sp.csr_matrix((1_000_000, 2000), dtype=np.float32)
    with pytest.raises(ValueError, match="dense held-out blocks"):
        crossval_rank(huge, 2, [0], scheme="bicross")
