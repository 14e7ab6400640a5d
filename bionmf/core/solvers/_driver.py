"""Run a batch of seeded NMF runs of one rank to convergence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.sparse as sp

from ..seeding import init_scale, random_init
from .frobenius import hals_steps, lee_steps
from .brunet import connectivity_unchanged, kl_divergence, kl_steps, kl_until_stable
from ._options import SolverOptions
from ._products import frobenius_residual, squared_norm
from ._vector_width import CACHE_LINE

_STEPS = {"brunet": kl_steps, "lee": lee_steps, "hals": hals_steps}


@dataclass
class BatchResult:
    """Factors and convergence record of a batch of runs.

    Attributes
    ----------
    W : (runs, genes, k) basis of each run
    H : (runs, k, samples) coefficients of each run
    objective : (runs,) final loss (KL divergence or squared Frobenius residual), float64
    n_iter : (runs,) iterations done
    converged : (runs,) whether the stopping rule was met before ``max_iter``
    """

    W: np.ndarray
    H: np.ndarray
    objective: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray


def prepare_matrix(X, dtype) -> np.ndarray | sp.csr_matrix:
    """X (samples x genes) in the layout the solvers read: C-ordered array or CSR (sorted indices,
    no duplicates), of ``dtype``. The input is never modified."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=dtype)
        if not X.has_canonical_format:
            # the conversion may share the index arrays with the caller's matrix but not the
            # values: sorting them in place would scramble the caller's data
            X = X.copy()
            X.sum_duplicates()
        return X
    X = np.ascontiguousarray(X, dtype=dtype)
    return X if X.ctypes.data % ALIGN == 0 else aligned_copy(X)


#: bytes the dense arrays the kernels stream are aligned to (see ``_vector_width.CACHE_LINE``). The
#: float32 KL kernels (512-bit vectors where the CPU has them) measured 4-8 % less CPU on a Golub
#: survey with aligned factors and data than with numpy's 16-byte alignment
ALIGN = CACHE_LINE


def aligned_empty(shape: tuple, dtype) -> np.ndarray:
    """An uninitialized C-ordered array whose data start on an ``ALIGN``-byte boundary."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + ALIGN, dtype=np.uint8)
    offset = -raw.ctypes.data % ALIGN
    return raw[offset:offset + size].view(dtype).reshape(shape)


def aligned_copy(X: np.ndarray) -> np.ndarray:
    out = aligned_empty(X.shape, X.dtype)
    out[...] = X
    return out


def objective(X, Wt, H, active, loss: str, x_norm2: float | None = None, *, threads: bool = True) -> np.ndarray:
    """Loss of each active run: KL divergence, or ||V - WH||_F^2 for the Frobenius loss."""
    if loss == "kullback-leibler":
        return kl_divergence(X, Wt, H, active, threads=threads)
    if x_norm2 is None:
        x_norm2 = squared_norm(X)
    return frobenius_residual(X, Wt[active], H[active], x_norm2)


def runs_alone(options: SolverOptions) -> bool:
    """Whether each run is computed start to end by one thread on its own, sharing nothing with the
    other runs of its batch (Brunet's solver with the connectivity rule, a compiled loop). Such
    runs can be spread over threads freely, also across ranks; the batched solvers instead read
    the data once per iteration for all runs of a batch, which is worth keeping them together."""
    return options.algorithm == "brunet" and options.stop == "connectivity"


def factorize_batch(
    X,
    rank: int,
    seeds: Sequence[np.random.SeedSequence],
    options: SolverOptions,
    *,
    threads: bool = True,
    on_finish: Callable[[int], None] | None = None,
    trace: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> BatchResult:
    """Run one NMF per seed at ``rank`` on X (samples x genes, V = X^T), all runs advancing together.

    ``X`` must already be in solver layout (:func:`prepare_matrix`). Runs whose stopping rule is
    met leave the batch; the others go on, up to ``options.max_iter`` iterations. Each run's result
    depends on its seed alone, not on the other runs of the batch.

    ``threads=False`` computes the batch on the calling thread alone, without holding the GIL, so
    that a caller can keep several batches going from threads of its own; only for options where
    :func:`runs_alone` holds.

    ``on_finish(n)``, when given, is called as ``n`` runs leave the batch (to count progress).

    ``trace``, when given, is called as ``trace(iteration, active, objective)`` with the loss of
    every active run at the start (iteration 0) and at every check, before the stopping rule
    drops the runs that stop there (:mod:`bionmf.core.convergence`). It costs one objective per
    check and steps the runs from Python between checks (the same numbers as the compiled loop).
    """
    if not threads and not runs_alone(options):
        raise ValueError(
            f"threads=False needs runs computed alone (algorithm='brunet', stop='connectivity'), "
            f"got algorithm={options.algorithm!r}, stop={options.stop!r}"
        )
    dtype = options.np_dtype
    n, m = X.shape
    b = len(seeds)
    scale = init_scale(X, rank, options.init)
    Wt = aligned_empty((b, rank, m), dtype)
    H = aligned_empty((b, rank, n), dtype)
    for r, seed in enumerate(seeds):
        W0, H0 = random_init(seed, m, n, rank, scale, dtype, options.init)
        Wt[r], H[r] = W0.T, H0

    # Brunet's solver floors at double precision's epsilon in either precision, as R's NMF and
    # Brunet's code do (float32 holds 2.2e-16 as a normal number); a floor at float32's epsilon
    # (1.2e-7) lets vanished entries regrow sooner and moved Golub's rank-5 cophenetic away from R's
    eps = dtype(np.finfo(np.float64).eps if options.algorithm == "brunet" else np.finfo(dtype).eps)
    step = _STEPS[options.algorithm]
    if options.stop == "gradient":
        step = partial(step, gradient=True)
    if options.algorithm == "hals":
        step = partial(step, inner_sweeps=options.inner_sweeps)
    x_norm2 = None if options.loss == "kullback-leibler" else squared_norm(X)
    n_iter = np.zeros(b, dtype=np.int64)
    converged = np.zeros(b, dtype=bool)
    stable = np.zeros(b, dtype=np.int64)
    labels = np.full((b, n), -1, dtype=np.int64)  # no check yet: the first one sets the baseline
    last_obj = np.full(b, np.inf)
    first_violation = np.full(b, np.nan)
    active = np.arange(b)
    done_iter = 0
    if trace is not None:
        trace(0, active, objective(X, Wt, H, active, options.loss, x_norm2))
    if runs_alone(options) and trace is None:
        # the whole loop below, compiled: each thread carries its runs to the end
        n_iter, converged = kl_until_stable(
            X, Wt, H, max_iter=options.max_iter, check_interval=options.check_interval,
            n_stable=options.n_stable, eps=eps, threads=threads,
        )
        active = active[:0]
        if on_finish is not None:
            on_finish(b)
    while active.size and done_iter < options.max_iter:
        steps = min(options.check_interval, options.max_iter - done_iter)
        violation = step(X, Wt, H, active, steps, eps)
        if done_iter == 0 and options.stop == "gradient":
            first_violation[active] = violation[0]
        done_iter += steps
        n_iter[active] = done_iter
        if trace is not None:
            trace(done_iter, active, objective(X, Wt, H, active, options.loss, x_norm2))
        if options.stop == "connectivity":
            unchanged = np.array([connectivity_unchanged(H[r], labels[r]) for r in active], dtype=bool)
            stable[active] = np.where(unchanged, stable[active] + 1, 0)
            finished = stable[active] > options.n_stable
        elif options.stop == "gradient":
            finished = violation[-1] <= options.tol * first_violation[active]
        else:
            obj = objective(X, Wt, H, active, options.loss, x_norm2)
            finished = (last_obj[active] - obj) <= options.tol * np.abs(obj)
            last_obj[active] = obj
        converged[active[finished]] = True
        active = active[~finished]
        if on_finish is not None:
            # runs still going at max_iter leave the batch with the loop
            on_finish(int(finished.sum()) + (active.size if done_iter >= options.max_iter else 0))

    final = objective(X, Wt, H, np.arange(b), options.loss, x_norm2, threads=threads)
    return BatchResult(
        W=np.ascontiguousarray(Wt.transpose(0, 2, 1)),
        H=H,
        objective=final,
        n_iter=n_iter,
        converged=converged,
    )
