"""Brunet's connectivity rule run inside the compiled KL loop gives the stepped loop's runs: the same
iterations and stops, the same numbers (bitwise in float32)."""

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
    eps = dtype(np.finfo(dtype).eps)
    labels = H.argmax(axis=1)
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
        new = H[active].argmax(axis=1)
        unchanged = (new == labels[active]).all(axis=1)
        stable[active] = np.where(unchanged, stable[active] + 1, 0)
        labels[active] = new
        finished = stable[active] >= opt.n_stable
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
