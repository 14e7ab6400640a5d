"""Brunet's connectivity rule run inside the compiled KL loop gives the stepped loop's runs: the same
iterations and stops, the same numbers (bitwise in float32). The stepped reference here checks the
rule as R's ``nmf.stop.connectivity`` writes it: samples x samples connectivity matrices, the first
compared with a zero matrix, a stop once more than ``n_stable`` checks in a row left it unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bionmf.core.seeding import random_init, run_seed
from bionmf.core.solvers import SolverOptions, factorize_batch, prepare_matrix
from bionmf.core.solvers.brunet import kl_steps


def planted(seed: int, n: int = 30, m: int = 200, k: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = rng.gamma(0.5, 1.0, size=(m, k))
    H = rng.gamma(0.5, 1.0, size=(k, n))
    return (rng.poisson(20 * W @ H) + 1.0).T  # samples x genes


def stepped(X, rank, seeds, opt):
    """Reference: advance check_interval iterations at a time, check the assignments in numpy."""
    dtype = opt.np_dtype
    n, m = X.shape
    Wt = np.empty((len(seeds), rank, m), dtype=dtype)
    H = np.empty((len(seeds), rank, n), dtype=dtype)
    for r, seed in enumerate(seeds):
        W0, H0 = random_init(seed, m, n, rank, float(X.max()), dtype)
        Wt[r], H[r] = W0.T, H0
    eps = dtype(np.finfo(np.float64).eps)  # R's floor, in either precision
    consold = np.zeros((len(seeds), n, n), dtype=bool)
    stable = np.zeros(len(seeds), dtype=np.int64)
    n_iter = np.zeros(len(seeds), dtype=np.int64)
    converged = np.zeros(len(seeds), dtype=bool)
    active = np.arange(len(seeds))
    done = 0
    while active.size and done < opt.max_iter:
        steps = min(opt.check_interval, opt.max_iter - done)
        kl_steps(X, Wt, H, active, steps, eps)
        done += steps
        n_iter[active] = done
        index = H[active].argmax(axis=1)
        cons = index[:, :, None] == index[:, None, :]
        unchanged = (cons == consold[active]).all(axis=(1, 2))
        stable[active] = np.where(unchanged, stable[active] + 1, 0)
        consold[active] = cons
        finished = stable[active] > opt.n_stable
        converged[active[finished]] = True
        active = active[~finished]
    return Wt.transpose(0, 2, 1), H, n_iter, converged


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("max_iter", [2000, 95])
def test_compiled_rule_equals_stepped_loop(sparse, dtype, max_iter):
    X = planted(seed=5)
    X[X < np.quantile(X, 0.3)] = 0.0
    X = prepare_matrix(sp.csr_matrix(X) if sparse else X, np.dtype(dtype).type)
    opt = SolverOptions(algorithm="brunet", stop="connectivity", check_interval=10, n_stable=8,
                        max_iter=max_iter, dtype=dtype)
    seeds = [run_seed(0, 3, r) for r in range(5)]
    got = factorize_batch(X, 3, seeds, opt)
    W, H, n_iter, converged = stepped(X, 3, seeds, opt)
    np.testing.assert_array_equal(got.n_iter, n_iter)
    np.testing.assert_array_equal(got.converged, converged)
    if dtype == "float32":
        np.testing.assert_array_equal(got.W, W)
        np.testing.assert_array_equal(got.H, H)
    else:
        # float64 kernels compiled afresh and loaded from numba's cache have been seen to differ in
        # the last bits (fastmath); the two paths here may come one from each
        np.testing.assert_allclose(got.W, W, rtol=1e-12)
        np.testing.assert_allclose(got.H, H, rtol=1e-12)
    if max_iter == 95:
        assert (n_iter == 95).any(), "the cap should end some run"
    else:
        assert converged.all() and len(set(n_iter.tolist())) > 1, "runs should stop at different times"


def test_first_check_sets_the_baseline_and_relabelling_is_no_change():
    from bionmf.core.solvers.brunet import connectivity_unchanged

    rng = np.random.default_rng(0)
    H = rng.random((3, 12))
    labels = np.full(12, -1, dtype=np.int64)
    assert not connectivity_unchanged(H, labels)  # R compares the first with a zero matrix
    assert connectivity_unchanged(H, labels)
    # the same grouping under other metagene numbers: the connectivity matrix is the same
    assert connectivity_unchanged(H[[2, 0, 1]], labels)
    H2 = H.copy()
    j = int(np.flatnonzero(labels == labels[0])[0])
    H2[:, j] = 0
    H2[(labels[j] + 1) % 3, j] = 1  # move one sample to another group
    assert not connectivity_unchanged(H2, labels)


def test_fewest_iterations_is_r_s():
    # R's and Brunet's rule: a baseline check, then more than n_stable unchanged ones
    X = prepare_matrix(planted(seed=4), np.float32)
    opt = SolverOptions(algorithm="brunet", check_interval=10, n_stable=3, max_iter=2000)
    result = factorize_batch(X, 2, [run_seed(0, 2, r) for r in range(6)], opt)
    assert result.converged.all()
    assert result.n_iter.min() >= 10 * (1 + 3 + 1)
