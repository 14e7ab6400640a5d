"""Consensus accumulation, clusters and the stability metrics, on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bionmf.core import metrics as M
from bionmf.core import rank_selection as R
from bionmf.core.consensus import ConsensusAccumulator, consensus_clusters, consensus_matrix, match_labels


def block_consensus(sizes):
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return (labels[:, None] == labels[None, :]).astype(float), labels


def test_accumulated_consensus_is_the_mean_connectivity():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(25, 12))
    naive = np.mean([(row[:, None] == row[None, :]) for row in labels], axis=0)
    acc = ConsensusAccumulator(12)
    acc.add(labels[:10])
    acc.add(labels[10:])
    np.testing.assert_array_equal(acc.consensus(), naive)
    np.testing.assert_array_equal(consensus_matrix(labels), naive)
    assert acc.n_runs == 25


def test_empty_accumulator_raises():
    with pytest.raises(ValueError, match="no runs"):
        ConsensusAccumulator(3).consensus()


def test_perfect_blocks_are_perfectly_stable():
    C, labels = block_consensus([4, 5, 3])
    assert M.cophenetic_correlation(C) == pytest.approx(1.0)
    assert M.dispersion(C) == pytest.approx(1.0)
    assert M.pac(C) == 0.0
    assert M.silhouette(1 - C, labels) == pytest.approx(1.0)
    clusters = consensus_clusters(C, 3)
    assert len(set(clusters)) == 3
    assert all(len(set(clusters[labels == g])) == 1 for g in range(3))


def test_dispersion_and_pac_of_half_consensus():
    C = np.full((6, 6), 0.5)
    np.fill_diagonal(C, 1.0)
    # off-diagonal entries are all 1/2: dispersion counts only the diagonal, PAC every pair
    assert M.dispersion(C) == pytest.approx(6 / 36)
    assert M.pac(C) == 1.0
    assert M.pac(C, lower=0.5, upper=0.9) == 0.0  # the window is (lower, upper]


def test_cophenetic_falls_when_consensus_is_noisy():
    C, _ = block_consensus([5, 5])
    rng = np.random.default_rng(1)
    noise = rng.uniform(0, 0.4, size=C.shape)
    noisy = np.clip(C + np.triu(noise, 1) + np.triu(noise, 1).T - np.where(C == 1, 0.8 * (noise + noise.T), 0), 0, 1)
    np.fill_diagonal(noisy, 1.0)
    assert M.cophenetic_correlation(noisy) < M.cophenetic_correlation(C)


def test_silhouette_of_a_hand_computed_example():
    # points on a line at 0, 1, 5, 6 (two clusters): a = 1 for all; b = 5.5, 4.5, 4.5, 5.5
    x = np.array([0.0, 1.0, 5.0, 6.0])
    D = np.abs(x[:, None] - x[None, :])
    labels = np.array([0, 0, 1, 1])
    expected = np.array([4.5 / 5.5, 3.5 / 4.5, 3.5 / 4.5, 4.5 / 5.5])
    np.testing.assert_allclose(M.silhouette_samples(D, labels), expected)
    # a singleton scores 0
    np.testing.assert_allclose(M.silhouette_samples(D[:3, :3], np.array([0, 0, 1]))[2], 0.0)


def test_hoyer_sparseness_extremes_and_value():
    assert M.hoyer_sparseness(np.eye(4)) == pytest.approx(1.0)
    assert M.hoyer_sparseness(np.ones((4, 3))) == pytest.approx(0.0)
    x = np.array([[1.0], [2.0], [0.0], [0.0]])
    expected = (2 - 3 / np.sqrt(5)) / (2 - 1)
    assert M.hoyer_sparseness(x) == pytest.approx(expected)


def test_residuals_and_explained_variance():
    rng = np.random.default_rng(2)
    W, H = rng.random((8, 2)), rng.random((2, 5))
    X = (W @ H).T + rng.random((5, 8)) * 0.1
    rss, evar = M.residuals(X, W, H)
    assert rss == pytest.approx(np.sum((X.T - W @ H) ** 2))
    assert evar == pytest.approx(1 - rss / np.sum(X**2))


def test_match_labels_renumbers_to_reference():
    labels = np.array([2, 2, 0, 0, 1, 1])
    reference = np.array([0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(match_labels(labels, reference, 3), reference)


def metrics(coph, pac=None):
    table = pd.DataFrame({"cophenetic": coph}, index=pd.Index(range(2, 2 + len(coph)), name="rank"))
    table["pac"] = pac if pac is not None else 0.0
    table["dispersion"] = table["cophenetic"]
    table["silhouette"] = table["cophenetic"]
    return table


def test_rank_rules_on_hand_made_tables():
    t = metrics([0.99, 0.995, 0.97, 0.98, 0.90], pac=[0.1, 0.05, 0.2, 0.3, 0.4])
    assert R.cophenetic_drop(t) == 3  # first fall: 3 -> 4
    assert R.largest_drop(t) == 5  # largest fall: 5 -> 6 (0.08)
    assert R.max_cophenetic(t) == 3
    assert R.min_pac(t) == 3
    assert R.cophenetic_drop(metrics([0.9, 0.95, 0.99])) == 4  # never falls: largest rank
    assert R.cophenetic_drop(t, min_drop=0.05) == 5
    assert R.max_cophenetic(metrics([1.0, 1.0, 0.9])) == 3  # ties: the larger rank
    assert R.apply_all(t)["min_pac"] == 3


def test_unknown_rank_rule_is_named():
    with pytest.raises(ValueError, match="rank_rule must be one of"):
        R.choose_rank(metrics([0.9, 0.8]), "elbow")
