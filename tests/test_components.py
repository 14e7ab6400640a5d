"""Component consensus (cNMF-style) and the scalable sample consensus, at array level."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

from bionmf.core import RankRuns, run_rank, summarize_rank
from bionmf.core import consensus as consensus_module
from bionmf.core import KINDS, summarize_components
from bionmf.core import sample_consensus as survey_module
from bionmf.core.components import (
    consensus_programs,
    euclidean_distances,
    kmeans,
    local_density,
    normalize_spectra,
    spectra_silhouette,
)
from bionmf.core.linalg import nnls_fixed, reconstruction_error, refit_loadings, refit_usages
from bionmf.core.consensus import cluster_affinity, consensus_matrix, consensus_subsample
from bionmf.core.metrics import silhouette
from bionmf.core.rank_selection import apply_all, choose_rank, max_stability, stability_error
from bionmf.core.solvers import SolverOptions, prepare_matrix
from bionmf.core.solvers._products import csr_times_dense, transposed


def planted_spectra(runs=12, k=4, genes=300, noise=0.05, seed=0):
    """Every run finds the same k programs (in its own order) plus a little noise."""
    rng = np.random.default_rng(seed)
    programs = rng.gamma(0.5, 1.0, size=(k, genes)) * (rng.random((k, genes)) < 0.3)
    spectra = np.empty((runs, k, genes))
    for r in range(runs):
        order = rng.permutation(k)
        spectra[r] = programs[order] * (1 + noise * rng.standard_normal((k, genes))).clip(0)
    return programs, spectra


def corr_rows(A, B):
    A = (A - A.mean(1, keepdims=True)) / A.std(1, keepdims=True)
    B = (B - B.mean(1, keepdims=True)) / B.std(1, keepdims=True)
    return A @ B.T / A.shape[1]


def test_normalize_spectra_gives_unit_rows_and_keeps_zero_rows():
    S = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    U = normalize_spectra(S)
    np.testing.assert_allclose(U[0], [0.6, 0.8, 0.0])
    np.testing.assert_array_equal(U[1], 0.0)


def test_kmeans_finds_separated_groups_and_is_seeded():
    rng = np.random.default_rng(1)
    centers = rng.normal(0, 10, size=(5, 20))
    truth = np.repeat(np.arange(5), 30)
    points = centers[truth] + rng.normal(0, 0.5, size=(150, 20))
    labels, found, inertia = kmeans(points, 5, random_state=3)
    # the same partition up to renaming
    pairs = {(int(a), int(b)) for a, b in zip(truth, labels)}
    assert len(pairs) == 5
    expected = sum(((points[labels == c] - found[c]) ** 2).sum() for c in range(5))
    assert inertia == pytest.approx(expected, rel=1e-9)
    again = kmeans(points, 5, random_state=3)
    np.testing.assert_array_equal(again[0], labels)


def test_kmeans_refuses_more_clusters_than_points():
    with pytest.raises(ValueError, match="cannot form 4 clusters from 3 points"):
        kmeans(np.eye(3), 4)


def test_local_density_flags_the_outlier():
    programs, spectra = planted_spectra(runs=10, k=3)
    unit = normalize_spectra(spectra.reshape(30, -1))
    rng = np.random.default_rng(5)
    outlier = normalize_spectra(rng.random((1, unit.shape[1])))
    density = local_density(np.vstack([unit, outlier]), n_neighbors=3)
    assert density[-1] > 2 * density[:-1].max()
    # brute force for one point
    D = euclidean_distances(np.vstack([unit, outlier]))
    d0 = np.sort(np.delete(D[0], 0))[:3].mean()
    assert density[0] == pytest.approx(d0)


def test_consensus_programs_recover_planted_programs_and_drop_outliers():
    programs, spectra = planted_spectra(runs=12, k=4)
    rng = np.random.default_rng(2)
    spectra[3, 1] = rng.gamma(0.5, 1.0, size=spectra.shape[2])  # one run found junk once
    found = consensus_programs(spectra, density_threshold=0.5, random_state=0)
    assert found.programs.shape == (4, 300)
    np.testing.assert_allclose(found.programs.sum(axis=1), 1.0)
    best = corr_rows(programs, found.programs).max(axis=1)
    assert (best > 0.99).all()
    assert found.spectra_labels[3 * 4 + 1] == -1 and found.n_kept == 47
    assert found.stability > 0.8
    # each run contributes one spectrum to each program
    labels = found.spectra_labels.reshape(12, 4)
    for r in range(12):
        kept = labels[r][labels[r] >= 0]
        assert np.unique(kept).size == kept.size


def test_stability_is_low_for_spectra_without_shared_programs():
    rng = np.random.default_rng(3)
    found = consensus_programs(rng.gamma(0.5, 1.0, size=(12, 4, 300)), density_threshold=2.0)
    assert found.stability < 0.2
    _, spectra = planted_spectra()
    assert consensus_programs(spectra).stability > found.stability + 0.5


def test_spectra_silhouette_is_the_euclidean_silhouette():
    rng = np.random.default_rng(4)
    points = rng.random((40, 6))
    labels = rng.integers(3, size=40)
    assert spectra_silhouette(points, labels) == pytest.approx(silhouette(euclidean_distances(points), labels))


def test_consensus_programs_rejects_bad_input():
    _, spectra = planted_spectra()
    with pytest.raises(ValueError, match=r"\(runs, k, genes\)"):
        consensus_programs(spectra[0])
    with pytest.raises(ValueError, match="at least 2 runs"):
        consensus_programs(spectra[:1])
    with pytest.raises(ValueError, match="density_threshold"):
        consensus_programs(spectra, density_threshold=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_nnls_fixed_matches_scipy_nnls(sparse):
    rng = np.random.default_rng(6)
    basis = rng.gamma(0.5, 1.0, size=(5, 60))
    X = rng.poisson(rng.gamma(1.0, 1.0, size=(30, 5)) @ basis * 0.5).astype(float)
    X[:, :10] = 0.0
    got = nnls_fixed(sp.csr_matrix(X) if sparse else X, basis, tol=1e-12, max_iter=100000)
    for j in range(30):
        ref, _ = nnls(basis.T, X[j])
        np.testing.assert_allclose(got[j], ref, rtol=1e-6, atol=1e-8)


def test_refit_loadings_and_error():
    rng = np.random.default_rng(7)
    usages = rng.gamma(1.0, 1.0, size=(80, 3))
    programs = rng.gamma(0.5, 1.0, size=(3, 40))
    X = usages @ programs
    np.testing.assert_allclose(refit_usages(X, programs, tol=1e-12, max_iter=100000), usages, rtol=1e-6)
    np.testing.assert_allclose(refit_loadings(sp.csr_matrix(X), usages, tol=1e-12, max_iter=100000), programs, rtol=1e-6)
    noisy = X + rng.random(X.shape)
    assert reconstruction_error(noisy, usages, programs) == pytest.approx(((noisy - X) ** 2).sum(), rel=1e-9)
    assert reconstruction_error(sp.csr_matrix(noisy), usages, programs) == pytest.approx(((noisy - X) ** 2).sum(), rel=1e-9)


def test_csr_product_kernel_and_cached_transpose():
    rng = np.random.default_rng(8)
    A = sp.random(50, 30, density=0.2, random_state=1, format="csr", dtype=np.float32)
    B = rng.random((30, 7)).astype(np.float32)
    np.testing.assert_allclose(csr_times_dense(A, B), A.toarray() @ B, rtol=1e-5)
    # each column is computed on its own: alone == within a wider block, bit for bit
    np.testing.assert_array_equal(csr_times_dense(A, np.ascontiguousarray(B[:, 3:4])), csr_times_dense(A, B)[:, 3:4])
    At = transposed(A)
    assert transposed(A) is At
    np.testing.assert_array_equal(At.toarray(), A.toarray().T)


def test_threaded_and_serial_kernels_agree_bit_for_bit(monkeypatch):
    from bionmf.core.seeding import run_seed
    from bionmf.core.solvers import factorize_batch
    from bionmf.core.solvers import _products

    X, _ = sparse_cells(n=200, m=50, k=3, seed=11)
    X = prepare_matrix(X, np.float32)
    opt = SolverOptions(algorithm="hals", max_iter=60)
    seeds = [run_seed(0, 3, r) for r in range(4)]
    monkeypatch.setattr(_products, "PARALLEL_MIN_WORK", 10**18)
    serial = factorize_batch(X, 3, seeds, opt)
    monkeypatch.setattr(_products, "PARALLEL_MIN_WORK", 0)
    threaded = factorize_batch(X, 3, seeds, opt)
    np.testing.assert_array_equal(serial.W, threaded.W)
    np.testing.assert_array_equal(serial.H, threaded.H)
    usages = nnls_fixed(X, serial.W[0].T)
    monkeypatch.setattr(_products, "PARALLEL_MIN_WORK", 10**18)
    np.testing.assert_array_equal(nnls_fixed(X, serial.W[0].T), usages)


def test_accelerated_hals_keeps_runs_independent_of_their_batch():
    from bionmf.core.seeding import run_seed
    from bionmf.core.solvers import factorize_batch

    X, _ = sparse_cells(n=200, m=50, k=3, seed=12)
    X = prepare_matrix(X, np.float32)
    opt = SolverOptions(algorithm="hals", max_iter=100, inner_sweeps=5)
    batch = factorize_batch(X, 3, [run_seed(0, 3, r) for r in range(4)], opt)
    alone = factorize_batch(X, 3, [run_seed(0, 3, 2)], opt)
    np.testing.assert_array_equal(alone.W[0], batch.W[2])
    assert alone.n_iter[0] == batch.n_iter[2]
    plain = factorize_batch(X, 3, [run_seed(0, 3, 2)], SolverOptions(algorithm="hals", max_iter=100))
    assert alone.objective[0] <= plain.objective[0] * 1.01


def sparse_cells(n=300, m=80, k=3, seed=0):
    rng = np.random.default_rng(seed)
    programs = rng.gamma(0.4, 1.0, size=(k, m))
    usage = np.eye(k)[rng.integers(k, size=n)] * rng.gamma(5.0, 1.0, size=(n, 1))
    return sp.csr_matrix(rng.poisson(usage @ programs).astype(np.float32)), programs


def test_run_rank_keeps_spectra_that_merge_save_and_load(tmp_path):
    X, _ = sparse_cells()
    X = prepare_matrix(X, np.float32)
    opt = SolverOptions(algorithm="hals", max_iter=200)
    whole = run_rank(X, 3, range(6), random_state=1, options=opt, keep_spectra=True)
    assert whole.spectra.shape == (6, 3, X.shape[1]) and whole.spectra.dtype == np.float32
    parts = [run_rank(X, 3, r, random_state=1, options=opt, keep_spectra=True) for r in ([4, 5], [0, 1, 2, 3])]
    merged = RankRuns.merge(parts)
    np.testing.assert_array_equal(merged.spectra, whole.spectra)
    path = tmp_path / "runs.npz"
    merged.save(path)
    np.testing.assert_array_equal(RankRuns.load(path).spectra, whole.spectra)
    plain = run_rank(X, 3, [6], random_state=1, options=opt)
    assert plain.spectra is None
    plain.save(tmp_path / "plain.npz")
    assert RankRuns.load(tmp_path / "plain.npz").spectra is None
    with pytest.raises(ValueError, match="with and without spectra"):
        RankRuns.merge([whole, plain])


def test_summarize_components_on_planted_cells(tmp_path):
    X, programs = sparse_cells(n=400, m=100, k=3, seed=2)
    X = prepare_matrix(X, np.float32)
    opt = SolverOptions(algorithm="hals")
    runs = run_rank(X, 3, range(8), random_state=0, options=opt, keep_spectra=True)
    summary = summarize_components(X, runs)
    assert (corr_rows(programs, summary.programs).max(axis=1) > 0.95).all()
    assert summary.usages.shape == (400, 3) and (summary.usages >= 0).all()
    # programs are ordered by total usage
    assert (np.diff(summary.usages.sum(axis=0)) <= 0).all()
    np.testing.assert_array_equal(summary.clusters, summary.usages.argmax(axis=1))
    assert summary.metrics["stability"] > 0.9
    assert 0 < summary.metrics["evar"] < 1
    path = tmp_path / "summary.npz"
    KINDS["components"].save_summary(summary, path)
    back = KINDS["components"].load_summary(path)
    np.testing.assert_array_equal(back.programs, summary.programs)
    assert back.metrics == summary.metrics
    with pytest.raises(ValueError, match="keep_spectra=True"):
        summarize_components(X, run_rank(X, 3, range(2), random_state=0, options=opt))


def test_stability_rules():
    import pandas as pd

    table = pd.DataFrame(
        {"stability": [0.95, 0.97, 0.99, 0.80], "error": [10.0, 8.0, 7.0, 6.5]}, index=pd.Index([3, 4, 5, 6], name="rank")
    )
    assert max_stability(table) == 5 and choose_rank(table, "stability_error") == 5
    assert set(apply_all(table)) == {"max_stability", "stability_error"}
    assert stability_error(table) == 5
    table.loc[6, "stability"] = 0.96  # within 0.05 of the best and lower error
    assert stability_error(table) == 6


def test_consensus_subsample_is_fixed_and_sized():
    a = consensus_subsample(10_000, 500, random_state=3)
    assert a.size == 500 and np.unique(a).size == 500 and (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, consensus_subsample(10_000, 500, random_state=3))
    assert not np.array_equal(a, consensus_subsample(10_000, 500, random_state=4))


def test_cluster_affinity_is_mean_consensus_with_cluster_members():
    rng = np.random.default_rng(9)
    labels = rng.integers(3, size=(7, 40))
    members = np.array([1, 4, 5, 9, 20, 33])
    member_clusters = np.array([0, 1, 0, 1, 1, 0])
    C = consensus_matrix(labels)
    expected = np.stack([C[:, members[member_clusters == c]].mean(axis=1) for c in range(2)], axis=1)
    np.testing.assert_allclose(cluster_affinity(labels, members, member_clusters, 2), expected)


def test_sample_consensus_above_threshold_uses_a_subsample_and_never_n_by_n(monkeypatch):
    X, _ = sparse_cells(n=600, m=60, k=3, seed=4)
    X = prepare_matrix(X, np.float32)
    runs = run_rank(X, 3, range(5), random_state=0, options=SolverOptions(algorithm="hals", max_iter=100))
    sizes = []
    original = consensus_module.ConsensusAccumulator.__init__

    def spy(self, n_samples):
        sizes.append(n_samples)
        original(self, n_samples)

    monkeypatch.setattr(survey_module.ConsensusAccumulator, "__init__", spy)
    summary = summarize_rank(X, runs, max_exact=500, subsample_size=200, random_state=7)
    assert sizes == [200]
    assert summary.consensus.shape == (200, 200)
    np.testing.assert_array_equal(summary.subsample, consensus_subsample(600, 200, 7))
    assert summary.clusters.shape == (600,) and set(np.unique(summary.clusters)) <= {0, 1, 2}
    exact = consensus_matrix(runs.labels)
    np.testing.assert_allclose(summary.consensus, exact[np.ix_(summary.subsample, summary.subsample)])
    # below the threshold: exact, as before
    sizes.clear()
    small = summarize_rank(X, runs)
    assert sizes == [600] and small.subsample is None


def test_subsampled_consensus_memory_stays_far_below_n_squared():
    n = 30_000
    rng = np.random.default_rng(10)
    groups = rng.integers(4, size=n)
    labels = np.where(rng.random((10, n)) < 0.9, groups, rng.integers(4, size=(10, n))).astype(np.int16)
    H = np.eye(4)[groups].T.astype(np.float32) + 0.01
    runs = RankRuns(rank=4, runs=np.arange(10), labels=labels, objective=np.ones(10), n_iter=np.ones(10),
                    best_W=np.ones((20, 4), np.float32), best_H=H, best_run=0)
    X = sp.random(n, 20, density=0.1, random_state=0, format="csr", dtype=np.float32)
    tracemalloc.start()
    summary = summarize_rank(X, runs, subsample_size=1000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert summary.subsample.size == 1000 and summary.clusters.shape == (n,)
    assert peak < 0.02 * n * n * 8  # an n x n float64 matrix would be 7.2 GB; stay under 150 MB
    table = np.zeros((4, 4))
    np.add.at(table, (summary.clusters, groups), 1)
    assert table.max(axis=1).sum() / n > 0.95  # every cell, subsampled or not, in its planted group
    assert summary.metrics["cophenetic"] > 0.9
