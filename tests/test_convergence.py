"""Convergence traces: a run computed again from its seed, objective at every check; and its plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

import bionmf
from bionmf.core import run_rank
from bionmf.core.convergence import trace_run
from bionmf.core.seeding import init_scale, random_init, run_seed
from bionmf.core.solvers import SolverOptions, prepare_matrix

RANKS = [2, 3]


def kl(V, W, H):
    WH = W @ H
    return float(np.sum(np.where(V > 0, V * np.log(np.where(V > 0, V, 1.0) / WH), 0.0) - V + WH))


@pytest.fixture(scope="module")
def golub():
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=RANKS, n_runs=6, random_state=3, solver={"max_iter": 1500}, verbose=False)
    return adata


def test_trace_reproduces_the_surveys_best_run(golub):
    options = SolverOptions(max_iter=1500)
    X = prepare_matrix(golub.X, options.np_dtype)
    best = {k: run_rank(X, k, range(6), random_state=3, options=options).best_run for k in RANKS}
    assert golub.uns["nmf"]["best_run"] == {str(k): r for k, r in best.items()}  # recorded by the survey
    bionmf.tl.convergence(golub)  # traces the recorded best runs
    record = golub.uns["nmf_convergence"]
    survey = golub.uns["nmf"]
    V = np.asarray(golub.X, dtype=np.float64).T
    for k in RANKS:
        part = record["trace"][record["trace"]["rank"] == k]
        it = part["iteration"].to_numpy()
        obj = part["objective"].to_numpy()
        n_iter = int(record["runs"].loc[k, "n_iter"])
        np.testing.assert_array_equal(it, np.arange(0, n_iter + 1, 10))  # start, then every check
        # the start: the run's seeded random factors, its KL divergence computed here in numpy
        W0, H0 = random_init(run_seed(3, k, best[k]), V.shape[0], V.shape[1], k,
                             init_scale(X, k, "max"), np.float32, "max")
        np.testing.assert_allclose(obj[0], kl(V, W0.astype(np.float64), H0.astype(np.float64)), rtol=1e-6)
        # the end: the survey's best run, the basis and coefficients it stored
        W, Ht = survey["basis"][str(k)], survey["coefficients"][str(k)]
        np.testing.assert_allclose(obj[-1], kl(V, W, Ht.T), rtol=1e-5)
        np.testing.assert_allclose(obj[-1], survey["metrics"].loc[k, "objective"], rtol=1e-12)
        assert record["runs"].loc[k, "converged"]
        # KL multiplicative updates never increase the divergence (Lee & Seung 2001), up to float32
        # rounding: near convergence, increases of up to 1.1e-6 of it between checks were seen
        # (Golub, ranks 2-3, random_state 3-5; 7e-7 with the kernels before the unrolled ones)
        assert np.all(np.diff(obj) <= 2e-6 * obj[1:])
        assert obj[0] > 10 * obj[-1]

    fig = bionmf.pl.convergence(golub)
    ax = fig.axes[0]
    assert ax.get_label() == "convergence" and ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label().startswith("rank")}
    assert sorted(lines) == ["rank 2", "rank 3"]
    np.testing.assert_allclose(lines["rank 3"].get_ydata(),
                               record["trace"].query("rank == 3")["objective"].to_numpy())
    fig2, ax2 = plt.subplots()
    assert bionmf.pl.convergence(golub, ranks=2, relative=True, ax=ax2) is ax2
    y = [line for line in ax2.get_lines() if line.get_label() == "rank 2"][0].get_ydata()
    assert y[-1] == pytest.approx(0.0, abs=1e-12)
    plt.close("all")


def test_trace_matches_batched_runs_for_every_algorithm():
    adata = bionmf.datasets.simulate(n_samples=30, n_genes=200, rank=3, random_state=1)
    for algorithm in ("lee", "hals"):
        options = SolverOptions(algorithm=algorithm, max_iter=300)
        X = prepare_matrix(adata.X, options.np_dtype)
        rr = run_rank(X, 3, range(4), random_state=0, options=options)
        for i, r in enumerate(rr.runs):
            tr = trace_run(X, 3, int(r), random_state=0, options=options)
            assert tr.n_iter == rr.n_iter[i] and tr.iteration[-1] == rr.n_iter[i]
            np.testing.assert_allclose(tr.final_objective, rr.objective[i], rtol=1e-9)
            np.testing.assert_allclose(tr.objective[-1], tr.final_objective, rtol=1e-9)


def test_convergence_errors(golub):
    old = golub.copy()
    del old.uns["nmf"]["best_run"]
    with pytest.raises(ValueError, match="does not record each rank's best run"):
        bionmf.tl.convergence(old)
    with pytest.raises(ValueError, match=r"ranks \[7\] were not surveyed"):
        bionmf.tl.convergence(golub, ranks=7, runs=0)
    with pytest.raises(ValueError, match="run 9 of rank 2 is not one of the survey's runs 0..5"):
        bionmf.tl.convergence(golub, ranks=2, runs=9)
    with pytest.raises(ValueError, match="no convergence trace under 'nope'"):
        bionmf.pl.convergence(golub, key="nope")
