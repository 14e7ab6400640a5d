"""The runs of a rank survey at array level: seeded runs per rank, computed in batches, merged chunks.

A chunk of runs (:class:`RankRuns`) keeps, per run, the sample assignment, the objective and the
iteration count, plus the factors of its best run; that is all the consensus and the metrics need.
Chunks of the same rank merge exactly into the result of computing all their runs at once, which
is what lets the workflow split runs into jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import save_npz
from .consensus import assign
from .seeding import run_seed
from .solvers import SolverOptions, factorize_batch, runs_alone
from .solvers import _compile_ahead as compile_ahead


@dataclass
class RankRuns:
    """Runs of one rank: run indices, per-run assignment and convergence, and the best run's factors.

    Attributes
    ----------
    rank : factorization rank k
    runs : (r,) run indices (their seeds are ``run_seed(random_state, rank, run)``)
    labels : (r, n_samples) metagene assignment of each sample in each run
    objective : (r,) final loss of each run
    n_iter : (r,) iterations of each run
    best_W : (genes, k) basis of the run with the lowest objective
    best_H : (k, n_samples) its coefficients
    best_run : index (in ``runs`` terms) of that run
    spectra : (r, k, genes) float32 spectra (rows of W^T) of every run, or None; kept only when
        asked for (``run_rank(..., keep_spectra=True)``), for the component consensus
    """

    rank: int
    runs: np.ndarray
    labels: np.ndarray
    objective: np.ndarray
    n_iter: np.ndarray
    best_W: np.ndarray
    best_H: np.ndarray
    best_run: int
    spectra: np.ndarray | None = None

    @classmethod
    def merge(cls, chunks: Sequence[RankRuns]) -> RankRuns:
        """Combine chunks of one rank (any order) into one, runs sorted by index."""
        if not chunks:
            raise ValueError("no chunks to merge")
        ranks = {c.rank for c in chunks}
        if len(ranks) != 1:
            raise ValueError(f"cannot merge runs of different ranks {sorted(ranks)}")
        runs = np.concatenate([c.runs for c in chunks])
        if np.unique(runs).size != runs.size:
            raise ValueError("chunks overlap: some runs appear twice")
        order = np.argsort(runs, kind="stable")
        # lowest objective wins; ties go to the lowest run index, as within one batch
        best = min(chunks, key=lambda c: (c.objective.min(), c.best_run))
        with_spectra = [c.spectra is not None for c in chunks]
        if any(with_spectra) and not all(with_spectra):
            raise ValueError("cannot merge chunks with and without spectra (keep_spectra differs)")
        spectra = np.concatenate([c.spectra for c in chunks])[order] if all(with_spectra) else None
        return cls(
            rank=chunks[0].rank,
            runs=runs[order],
            labels=np.concatenate([c.labels for c in chunks])[order],
            objective=np.concatenate([c.objective for c in chunks])[order],
            n_iter=np.concatenate([c.n_iter for c in chunks])[order],
            best_W=best.best_W,
            best_H=best.best_H,
            best_run=best.best_run,
            spectra=spectra,
        )

    def save(self, path: str | Path) -> None:
        """Write to an .npz file."""
        save_npz(
            path,
            rank=self.rank,
            runs=self.runs,
            labels=self.labels,
            objective=self.objective,
            n_iter=self.n_iter,
            best_W=self.best_W,
            best_H=self.best_H,
            best_run=self.best_run,
            **({} if self.spectra is None else {"spectra": self.spectra}),
        )

    @classmethod
    def load(cls, path: str | Path) -> RankRuns:
        with np.load(path) as f:
            return cls(
                rank=int(f["rank"]),
                runs=f["runs"],
                labels=f["labels"],
                objective=f["objective"],
                n_iter=f["n_iter"],
                best_W=f["best_W"],
                best_H=f["best_H"],
                best_run=int(f["best_run"]),
                spectra=f["spectra"] if "spectra" in f.files else None,
            )


def run_rank(
    X,
    rank: int,
    runs: Iterable[int],
    *,
    random_state: int,
    options: SolverOptions,
    batch_size: int | None = None,
    keep_spectra: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RankRuns:
    """Compute runs ``runs`` of rank ``rank`` on X (samples x genes, solver layout).

    Runs are computed ``batch_size`` at a time (all at once by default); the result does not depend
    on the batch size. ``keep_spectra`` keeps every run's basis (as float32 spectra, runs x k x
    genes), which the component consensus (:mod:`bionmf.core.component_consensus`) needs.
    ``progress(n)`` is called as n runs finish.
    """
    runs = _run_indices(runs)
    batch_size = runs.size if batch_size is None else int(batch_size)
    chunks = []
    for start in range(0, runs.size, batch_size):
        part = runs[start : start + batch_size]
        result = factorize_batch(X, rank, [run_seed(random_state, rank, r) for r in part], options,
                                 on_finish=progress)
        chunks.append(_chunk(rank, part, result, keep_spectra))
    return RankRuns.merge(chunks)


def run_ranks(
    X,
    ranks: Sequence[int],
    runs: Iterable[int],
    *,
    random_state: int,
    options: SolverOptions,
    n_jobs: int = 1,
    batch_size: int | None = None,
    keep_spectra: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Iterator[RankRuns]:
    """:func:`run_rank` for every rank of ``ranks``, yielded in that order; the same results.

    Where every run is computed alone (:func:`~bionmf.core.solvers.runs_alone`), the runs of all
    ranks go through one pool of ``n_jobs`` threads, each taking the next run as soon as it is
    free: no thread idles at the end of a rank while another finishes its last runs (with 10 runs
    on 2 threads that wait cost ~10 % of the survey on Golub). A rank is yielded as soon as its
    runs are done, while the pool goes on with the next ranks. The calling thread only waits, so a
    KeyboardInterrupt (Ctrl-C) reaches it at once, even with one thread, where a compiled batch
    would hold it to the end of the batch; the runs then in progress are abandoned, not awaited.
    Otherwise (batched solvers) the ranks are computed one after the other, each batch using the
    threads itself; an interrupt lands between two of its kernel calls. ``progress(n)`` is called
    as n runs finish.
    """
    runs = _run_indices(runs)
    ranks = list(ranks)
    if not runs_alone(options):
        for k in ranks:
            yield run_rank(X, k, runs, random_state=random_state, options=options, batch_size=batch_size,
                           keep_spectra=keep_spectra, progress=progress)
        return

    if isinstance(X, np.ndarray):  # a fresh install's first survey: compile its ranks side by side
        compile_ahead.start(ranks, options.np_dtype, n_jobs)

    def one_run(k: int, r: int) -> RankRuns:
        compile_ahead.wait(k, options.np_dtype)
        result = factorize_batch(X, k, [run_seed(random_state, k, r)], options, threads=False, on_finish=progress)
        return _chunk(k, np.array([r], dtype=np.int64), result, keep_spectra)

    pool = ThreadPoolExecutor(max_workers=max(1, n_jobs), thread_name_prefix="bionmf-run")
    try:
        # submitted in rank order, so the ranks finish (and are yielded) in that order
        futures = {k: [pool.submit(one_run, k, int(r)) for r in runs] for k in ranks}
        for k in ranks:
            yield RankRuns.merge([f.result() for f in futures[k]])
    except BaseException:
        # interrupted (Ctrl-C, or the consumer stopped): drop the queued runs and return at once;
        # the few runs in progress finish on their threads and are discarded
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_indices(runs: Iterable[int]) -> np.ndarray:
    runs = np.asarray(list(runs), dtype=np.int64)
    if runs.size == 0:
        raise ValueError("runs must name at least one run")
    return runs


def _chunk(rank: int, part: np.ndarray, result, keep_spectra: bool) -> RankRuns:
    """The runs ``part`` of ``rank`` from their solver result."""
    best = int(np.argmin(result.objective))
    return RankRuns(
        rank=rank,
        runs=part,
        labels=assign(result.H).astype(np.int16),
        objective=result.objective,
        n_iter=result.n_iter,
        best_W=result.W[best],
        best_H=result.H[best],
        best_run=int(part[best]),
        spectra=result.W.transpose(0, 2, 1).astype(np.float32) if keep_spectra else None,
    )
