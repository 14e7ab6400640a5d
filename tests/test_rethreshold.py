"""Re-thresholding a component-consensus survey from its kept spectra equals surveying at that threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bionmf
from bionmf.core import run_ranks
from bionmf.core.rethreshold import rethreshold_spectra as rethreshold, spectra_density
from bionmf.core.solvers import SolverOptions, prepare_matrix
from bionmf.datasets import simulate_singlecell

RANKS = [4, 5, 6]
N_RUNS = 12


def survey(adata, threshold, keep_spectra=False):
    bionmf.tl.nmf(adata, ranks=RANKS, n_runs=N_RUNS, algorithm="hals", consensus="components", random_state=1,
                  density_threshold=threshold, keep_spectra=keep_spectra, verbose=False)


def fitted(adata):
    return adata.X[:, adata.var["nmf_use"].to_numpy()]


@pytest.fixture(scope="module")
def data():
    adata = simulate_singlecell(n_cells=600, n_genes=300, n_identities=4, n_activities=1, random_state=3)
    bionmf.pp.normalize(adata, preset="singlecell", n_top_genes=200)
    return adata


def test_rethreshold_equals_a_survey_at_that_threshold(data):
    loose, strict = data.copy(), data.copy()
    survey(loose, 0.5, keep_spectra=True)
    survey(strict, 0.05)
    # the spectra kept are the survey's runs: computed again from their seeds, the same
    options = SolverOptions(algorithm="hals")
    again = run_ranks(prepare_matrix(fitted(data), options.np_dtype), [5], range(N_RUNS), random_state=1,
                      options=options, keep_spectra=True)
    np.testing.assert_array_equal(next(again).spectra, loose.uns["nmf"]["spectra"]["5"])
    for k in RANKS:  # the kept spectra are the survey's: same densities
        np.testing.assert_allclose(spectra_density(loose.uns["nmf"]["spectra"][str(k)]),
                                   loose.uns["nmf"]["spectra_density"][str(k)], rtol=1e-6)
    kept_before = loose.uns["nmf"]["metrics"]["n_spectra_kept"].copy()

    bionmf.tl.rethreshold(loose, density_threshold=0.05)
    new, ref = loose.uns["nmf"], strict.uns["nmf"]
    for name in ("nmf_usage_0", "nmf_usage_3"):
        np.testing.assert_allclose(loose.obs[name], strict.obs[name], rtol=1e-5, atol=1e-9)
    assert new["params"] == ref["params"] and new["params"]["density_threshold"] == 0.05
    assert (new["metrics"]["n_spectra_kept"] < kept_before).any()  # the threshold did drop spectra
    pd.testing.assert_frame_equal(new["metrics"], ref["metrics"], rtol=1e-6)
    assert new["rank"] == ref["rank"] and new["rank_rules"] == ref["rank_rules"]
    for field in ("basis", "coefficients", "clusters", "spectra_labels", "spectra_density"):
        for k in RANKS:
            np.testing.assert_allclose(new[field][str(k)], ref[field][str(k)], rtol=1e-5, atol=1e-9, err_msg=field)
    np.testing.assert_allclose(loose.obsm["X_nmf"], strict.obsm["X_nmf"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(loose.varm["nmf"], strict.varm["nmf"], rtol=1e-5, atol=1e-9)
    assert loose.obs["nmf_cluster"].equals(strict.obs["nmf_cluster"])
    assert set(new["spectra"]) == {str(k) for k in RANKS}  # still there, for the next threshold

    bionmf.tl.rethreshold(loose, density_threshold=0.5)  # and back
    np.testing.assert_array_equal(loose.uns["nmf"]["metrics"]["n_spectra_kept"], kept_before)


def test_core_rethreshold_keeps_every_spectrum_at_two(data):
    X = fitted(data)
    options = SolverOptions(algorithm="hals")
    rr = next(run_ranks(prepare_matrix(X, options.np_dtype), [4], range(6), random_state=0, options=options,
                        keep_spectra=True))
    out = rethreshold(X, rr.spectra, density_threshold=2.0)
    assert out.metrics["n_spectra_kept"] == 24 and (out.spectra_labels >= 0).all()
    assert np.allclose(out.programs.sum(axis=1), 1.0)
    total = out.usages.sum(axis=0)
    assert np.all(np.diff(total) <= 0)  # program 0 is the most used
    # the runs of this easy case agree to densities of 3e-5 and more: a threshold below drops all
    with pytest.raises(ValueError, match="only .* spectra pass density_threshold=1e-06"):
        rethreshold(X, rr.spectra, density_threshold=1e-6)
    with pytest.raises(ValueError, match="the spectra cover 200 genes but X has 10"):
        rethreshold(X[:, :10], rr.spectra, density_threshold=0.5)


def test_rethreshold_errors(data):
    adata = data.copy()
    survey(adata, 0.5)
    with pytest.raises(ValueError, match="keeps no run spectra"):
        bionmf.tl.rethreshold(adata, density_threshold=0.1)
    with pytest.raises(ValueError, match="keep_spectra=True applies to consensus='components'"):
        bionmf.tl.nmf(data.copy(), ranks=[2], n_runs=3, consensus="samples", keep_spectra=True, verbose=False)
    with pytest.raises(ValueError, match="density_threshold must be a positive number"):
        bionmf.tl.rethreshold(adata, density_threshold=0)
    golub = bionmf.datasets.golub()
    bionmf.tl.nmf(golub, ranks=[2], n_runs=3, random_state=0, verbose=False, solver={"max_iter": 100})
    with pytest.raises(ValueError, match="belongs to consensus='components'"):
        bionmf.tl.rethreshold(golub, density_threshold=0.1)
