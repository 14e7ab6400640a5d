"""Plots of many samples draw an evenly spaced subset of them (issue 12: a million cells), and
standardize over all samples without a dense samples x genes array."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.sparse as sp

import bionmf
from bionmf.pl import _utils as U
from bionmf.pl._metagenes import _drawn_expression

LIMIT = 100
pytestmark = pytest.mark.filterwarnings("ignore:n_runs=4")


@pytest.fixture(scope="module")
def cells():
    adata = bionmf.datasets.simulate_singlecell(n_cells=400, n_genes=120, n_identities=3, n_activities=0,
                                                random_state=1)
    bionmf.pp.normalize(adata, preset="singlecell", n_top_genes=100)
    bionmf.tl.nmf(adata, ranks=[3], n_runs=4, random_state=0, verbose=False, solver={"max_iter": 100})
    return adata


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _heat(fig, label):
    return next(ax for ax in fig.axes if ax.get_label() == label).images[0].get_array()


def test_drawn_samples_keep_the_order_evenly():
    order = np.arange(1000)[::-1]
    drawn = U.drawn_samples(order, 100)
    assert drawn.size == 100 and np.unique(drawn).size == 100
    assert drawn[0] == order[0] and drawn[-1] == order[-1]
    assert (np.diff(drawn) < 0).all()  # order kept
    np.testing.assert_array_equal(U.drawn_samples(order[:50], 100), order[:50])


def test_heatmaps_draw_at_most_the_limit_standardized_over_all_samples(cells, monkeypatch):
    whole_sig = _heat(bionmf.pl.signatures(cells, n_genes=5), "heatmap")
    whole_coef = _heat(bionmf.pl.metagenes(cells, n_genes=5), "heatmap:coef")
    assert whole_sig.shape[1] == cells.n_obs
    monkeypatch.setattr(U, "MAX_DRAWN_SAMPLES", LIMIT)
    positions = U.drawn_samples(np.arange(cells.n_obs))  # where the drawn samples sit in the full order
    sig = _heat(bionmf.pl.signatures(cells, n_genes=5), "heatmap")
    coef = _heat(bionmf.pl.metagenes(cells, n_genes=5), "heatmap:coef")
    assert sig.shape == (whole_sig.shape[0], LIMIT) and coef.shape == (3, LIMIT)
    np.testing.assert_allclose(sig, whole_sig[:, positions], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(coef, whole_coef[:, positions])


def test_cluster_plot_draws_the_limit_and_counts_all(cells, monkeypatch):
    monkeypatch.setattr(U, "MAX_DRAWN_SAMPLES", LIMIT)
    fig = bionmf.pl.clusters(cells)
    emb = next(ax for ax in fig.axes if ax.get_label() == "embedding")
    assert len(emb.collections[0].get_offsets()) == LIMIT
    assert f"({cells.n_obs} samples, {LIMIT} drawn)" in emb.get_title()
    counts = [int(t.get_text().split("(")[1].rstrip(")")) for t in emb.get_legend().get_texts()[:3]]
    assert sum(counts) == cells.n_obs


def test_blocked_standardization_equals_the_dense_one():
    rng = np.random.default_rng(0)
    X = sp.random(300, 40, density=0.3, format="csr", random_state=0) * 100
    genes = np.array([3, 7, 11, 39])
    drawn = np.sort(rng.choice(300, 30, replace=False))
    E, log1p, mean, sd = _drawn_expression(X, genes, drawn, None, block=64)
    dense = np.log1p(X.toarray()[:, genes])
    assert log1p
    np.testing.assert_allclose(mean, dense.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sd, dense.std(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(E, dense[drawn])
