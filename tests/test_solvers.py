"""Solvers: each algorithm fits, stops by its rule, and computes a run the same alone or in a batch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bionmf.core.seeding import init_scale, random_init, run_seed
from bionmf.core.solvers import SolverOptions, factorize_batch, objective, prepare_matrix
from bionmf.core.solvers import frobenius
from bionmf.core.solvers.brunet import kl_divergence

ALGORITHMS = ["brunet", "lee", "hals"]


def planted(n=40, m=120, k=3, seed=0):
    """X = (W H)^T exactly, with non-negative W (m x k) and H (k x n)."""
    rng = np.random.default_rng(seed)
    W = rng.gamma(1.0, 1.0, size=(m, k)) * (rng.random((m, k)) < 0.5)
    H = rng.gamma(1.0, 1.0, size=(k, n)) + 0.01
    W[np.arange(k), np.arange(k)] += 1.0
    return (W @ H).T + 1e-3


def seeds(rank, runs, random_state=0):
    return [run_seed(random_state, rank, r) for r in runs]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fit_reduces_loss_far_below_start(algorithm):
    X = prepare_matrix(planted(), np.float64)
    opt = SolverOptions(algorithm=algorithm, dtype="float64", max_iter=500, stop="objective", tol=1e-6)
    result = factorize_batch(X, 3, seeds(3, range(2)), opt)
    W0, H0 = random_init(run_seed(0, 3, 0), X.shape[1], X.shape[0], 3, X.max(), np.float64)
    start = objective(X, W0.T[None].copy(), H0[None].copy(), np.array([0]), opt.loss)[0]
    assert result.objective[0] < 1e-3 * start
    rel = np.linalg.norm(X.T - result.W[0] @ result.H[0]) / np.linalg.norm(X)
    assert rel < 0.05
    assert result.W.shape == (2, X.shape[1], 3) and result.H.shape == (2, 3, X.shape[0])
    assert (result.W > 0).all() and (result.H > 0).all()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_loss_never_increases_between_checks(algorithm):
    X = prepare_matrix(planted(seed=1), np.float64)
    losses = []
    for max_iter in (10, 20, 40, 80):
        opt = SolverOptions(algorithm=algorithm, dtype="float64", max_iter=max_iter, n_stable=1000)
        losses.append(factorize_batch(X, 3, seeds(3, [0]), opt).objective[0])
    assert all(b <= a * (1 + 1e-12) for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("sparse", [False, True])
def test_run_alone_equals_run_in_batch(algorithm, sparse):
    X = planted(seed=2)
    X[X < np.quantile(X, 0.3)] = 0.0
    X = prepare_matrix(sp.csr_matrix(X) if sparse else X, np.float32)
    opt = SolverOptions(algorithm=algorithm, max_iter=200)
    batch = factorize_batch(X, 3, seeds(3, range(5)), opt)
    alone = factorize_batch(X, 3, seeds(3, [3]), opt)
    np.testing.assert_array_equal(alone.W[0], batch.W[3])
    np.testing.assert_array_equal(alone.H[0], batch.H[3])
    assert alone.n_iter[0] == batch.n_iter[3]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sparse_and_dense_give_the_same_fit(algorithm):
    X = planted(seed=3)
    X[X < np.quantile(X, 0.4)] = 0.0
    opt = SolverOptions(algorithm=algorithm, dtype="float64", max_iter=100, n_stable=1000)
    dense = factorize_batch(prepare_matrix(X, np.float64), 3, seeds(3, range(2)), opt)
    sparse = factorize_batch(prepare_matrix(sp.csr_matrix(X), np.float64), 3, seeds(3, range(2)), opt)
    np.testing.assert_allclose(sparse.H, dense.H, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(sparse.objective, dense.objective, rtol=1e-8)


def test_connectivity_rule_stops_after_n_stable_unchanged_checks():
    X = prepare_matrix(planted(seed=4), np.float32)
    opt = SolverOptions(algorithm="brunet", check_interval=10, n_stable=5, max_iter=2000)
    result = factorize_batch(X, 3, seeds(3, range(4)), opt)
    assert result.converged.all()
    assert (result.n_iter % 10 == 0).all()
    # a first check that sets the baseline, then more than 5 unchanged ones (R's rule)
    assert (result.n_iter >= 70).all() and (result.n_iter < 2000).all()
    capped = factorize_batch(X, 3, seeds(3, range(4)), SolverOptions(algorithm="brunet", max_iter=30))
    assert (capped.n_iter == 30).all() and not capped.converged.any()


def test_same_seed_same_result_other_seed_other_result():
    X = prepare_matrix(planted(seed=5), np.float32)
    opt = SolverOptions(max_iter=100)
    a = factorize_batch(X, 3, seeds(3, [0]), opt)
    b = factorize_batch(X, 3, seeds(3, [0]), opt)
    c = factorize_batch(X, 3, seeds(3, [0], random_state=1), opt)
    np.testing.assert_array_equal(a.W, b.W)
    assert not np.array_equal(a.W, c.W)


def test_kl_divergence_matches_definition():
    rng = np.random.default_rng(0)
    X = rng.random((7, 11))
    X[X < 0.3] = 0.0
    Wt = rng.random((2, 3, 11))
    H = rng.random((2, 3, 7))
    expected = []
    for r in range(2):
        V, WH = X.T, Wt[r].T @ H[r]
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(V > 0, V * np.log(V / WH), 0.0)
        expected.append((term - V + WH).sum())
    active = np.arange(2)
    np.testing.assert_allclose(kl_divergence(X, Wt, H, active), expected, rtol=1e-10)
    np.testing.assert_allclose(kl_divergence(sp.csr_matrix(X), Wt, H, active), expected, rtol=1e-10)


def test_frobenius_objective_matches_definition():
    rng = np.random.default_rng(1)
    X = rng.random((7, 11))
    Wt = rng.random((2, 3, 11))
    H = rng.random((2, 3, 7))
    expected = [np.sum((X.T - Wt[r].T @ H[r]) ** 2) for r in range(2)]
    np.testing.assert_allclose(objective(X, Wt, H, np.arange(2), "frobenius"), expected, rtol=1e-10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(algorithm="als"), "algorithm must be one of"),
        (dict(stop="never"), "stop must be one of"),
        (dict(dtype="float16"), "dtype must be one of"),
        (dict(max_iter=0), "max_iter must be a positive int"),
        (dict(n_stable=2.5), "n_stable must be a positive int"),
        (dict(tol=0), "tol must be a number in"),
        (dict(check_interval=50, max_iter=20), "check_interval"),
        (dict(init="zeros"), "init must be one of"),
        (dict(algorithm="brunet", stop="gradient"), "stop='gradient' needs algorithm"),
        (dict(algorithm="hals", stop="gradient", init="max"), "stop='gradient' needs init='mean'"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SolverOptions(**kwargs)


def test_default_stopping_rule_start_and_tol_follow_algorithm():
    assert SolverOptions(algorithm="brunet").stop == "connectivity"
    # hals: cNMF's factorization (scikit-learn's start and projected-gradient rule) by default
    assert SolverOptions(algorithm="hals").stop == "gradient"
    assert SolverOptions(algorithm="hals", init="max").stop == "objective"
    assert SolverOptions(algorithm="brunet").init == "max" and SolverOptions(algorithm="lee").init == "max"
    assert SolverOptions(algorithm="hals").init == "mean"
    assert SolverOptions(algorithm="hals").tol == 1e-4
    assert SolverOptions(algorithm="hals", stop="objective").tol == 1e-5
    assert SolverOptions(algorithm="hals", tol=1e-3).tol == 1e-3


def test_random_starts_are_scaled_as_documented():
    X = planted()
    assert init_scale(X, 3, "max") == X.max()
    assert init_scale(sp.csr_matrix(X), 3, "mean") == pytest.approx(np.sqrt(X.mean() / 3), rel=1e-12)
    W, H = random_init(run_seed(0, 3, 0), 2000, 1000, 3, X.max(), np.float64)
    assert W.min() >= 0 and W.max() <= X.max() and W.mean() == pytest.approx(X.max() / 2, rel=0.02)
    # sqrt(mean / k) |N(0, 1)|: each product term averages (2 / pi) mean / k, so W H ~ 0.64 mean
    W, H = random_init(run_seed(0, 3, 0), 2000, 1000, 3, init_scale(X, 3, "mean"), np.float64, "mean")
    assert (W @ H).mean() == pytest.approx(2 / np.pi * X.mean(), rel=0.05)


def _hals_sweep_reference(F, N, G, eps):
    """One HALS pass over the rows of F (k x d) in numpy; the projected-gradient norm it met."""
    violation = 0.0
    for a in range(F.shape[0]):
        grad = G[a] @ F - N[a]  # d loss / d F[a] with the rows before a already updated
        at_floor = F[a] <= eps
        violation += np.abs(np.where(at_floor, np.minimum(grad, 0.0), grad)).sum()
        F[a] = np.maximum(F[a] - grad / G[a, a], eps)
    return violation


def test_hals_reports_the_projected_gradient_of_the_first_and_last_iteration():
    X = prepare_matrix(planted(seed=4), np.float64)
    Wt, H = (np.ascontiguousarray(f.T if i == 0 else f)[None] for i, f in
             enumerate(random_init(run_seed(0, 3, 1), X.shape[1], X.shape[0], 3, 1.0, np.float64)))
    Wt_ref, H_ref = Wt[0].copy(), H[0].copy()
    eps = np.finfo(np.float64).eps
    violation = frobenius.hals_steps(X, Wt, H, np.arange(1), 3, eps, gradient=True)
    expected = []
    for _ in range(3):
        v = _hals_sweep_reference(H_ref, Wt_ref @ X.T, Wt_ref @ Wt_ref.T, eps)
        v += _hals_sweep_reference(Wt_ref, H_ref @ X, H_ref @ H_ref.T, eps)
        expected.append(v)
    # the rule reads only these two; the iterations between are not summed
    np.testing.assert_allclose(violation[[0, 2], 0], [expected[0], expected[2]], rtol=1e-9)
    assert np.isnan(violation[1, 0])
    np.testing.assert_allclose(Wt[0], Wt_ref, rtol=1e-9)
    assert expected[-1] < expected[0]


def test_gradient_rule_stops_once_the_projected_gradient_fell_by_tol():
    X = prepare_matrix(planted(seed=5), np.float64)
    runs = seeds(3, range(3))
    rule = dict(algorithm="hals", stop="gradient", init="mean", dtype="float64")
    loose = factorize_batch(X, 3, runs, SolverOptions(tol=1e-2, **rule))
    tight = factorize_batch(X, 3, runs, SolverOptions(tol=1e-5, **rule))
    assert loose.converged.all() and tight.converged.all()
    assert (tight.n_iter > loose.n_iter).all()
    assert (tight.objective <= loose.objective).all()
    # the rule, replayed: at the stopping check the norm is below tol x the first iteration's,
    # and at the check before it was not
    for r in range(3):
        Wt, H = (np.ascontiguousarray(f.T if i == 0 else f)[None] for i, f in enumerate(
            random_init(runs[r], X.shape[1], X.shape[0], 3, init_scale(X, 3, "mean"), np.float64, "mean")))
        checks = [frobenius.hals_steps(X, Wt, H, np.arange(1), 10, np.finfo(np.float64).eps, gradient=True)[:, 0]
                  for _ in range(int(loose.n_iter[r]) // 10)]
        first, checks = checks[0][0], np.array([c[-1] for c in checks])
        assert checks[-1] <= 1e-2 * first and (checks[:-1] > 1e-2 * first).all()


def test_hals_makes_scikit_learns_coordinate_descent_updates():
    # reference: scikit-learn's coordinate-descent NMF (cNMF's solver), from the same start, in
    # float64; their W (samples x k) is our H^T, their H (k x genes) our W^T
    import warnings

    from sklearn.decomposition import non_negative_factorization

    X = prepare_matrix(sp.csr_matrix(planted(seed=6)), np.float64)
    W0, H0 = random_init(run_seed(0, 3, 0), X.shape[1], X.shape[0], 3, init_scale(X, 3, "mean"), np.float64, "mean")
    Wt, H = W0.T.copy()[None], H0.copy()[None]
    frobenius.hals_steps(X, Wt, H, np.arange(1), 25, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "maximum number of iterations reached"
        usage, spectra, _ = non_negative_factorization(
            X, W=H0.T.copy(), H=W0.T.copy(), n_components=3, init="custom", solver="cd", tol=0.0, max_iter=25
        )
    np.testing.assert_allclose(H[0], usage.T, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(Wt[0], spectra, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("threads", [True, False])
def test_hals_sweeps_leave_the_gram_matrix_of_the_updated_factor(monkeypatch, threads):
    # the other factor's update reads this Gram matrix, so it must be that of F after the sweeps
    monkeypatch.setattr(frobenius, "use_threads", lambda work: threads)
    rng = np.random.default_rng(3)
    b, k, d = 4, 6, 300
    F = rng.random((b, k, d), dtype=np.float32)
    numer = rng.random((b, k, d), dtype=np.float32) * d
    G = frobenius._grams(rng.random((b, k, 50), dtype=np.float32))
    gram = np.full((b, k, k), np.nan, dtype=np.float32)
    frobenius._hals_sweeps(F, numer, G, 1e-7, np.zeros(b), False, 1, gram)
    exact = np.einsum("bkd,bld->bkl", F.astype(np.float64), F.astype(np.float64))
    np.testing.assert_allclose(gram, exact, rtol=1e-5)
    np.testing.assert_array_equal(gram, gram.transpose(0, 2, 1))
    # and the same numbers as the kernels compute it alone, whatever the threads
    np.testing.assert_array_equal(gram, frobenius._grams(F))
