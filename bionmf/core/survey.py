"""The rank survey at array level: seeded runs per rank, merged chunks, per-rank summaries.

A chunk of runs (:class:`RankRuns`) keeps, per run, the sample assignment, the objective and the
iteration count, plus the factors of its best run; that is all the consensus and the metrics need.
Chunks of the same rank merge exactly into the result of computing all their runs at once, which
is what lets the workflow split runs into jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics as M
from .consensus import (
    CONSENSUS_SUBSAMPLE,
    EXACT_CONSENSUS_MAX,
    ConsensusAccumulator,
    assign,
    cluster_affinity,
    consensus_clusters,
    consensus_subsample,
)
from .seeding import run_seed
from .solvers import SolverOptions, factorize_batch, runs_alone

METRIC_COLUMNS = (
    "cophenetic",
    "dispersion",
    "silhouette",
    "pac",
    "rss",
    "evar",
    "sparseness_basis",
    "sparseness_coef",
    "objective",
    "objective_mean",
    "n_iter",
    "n_runs",
)


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
        np.savez_compressed(
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
) -> RankRuns:
    """Compute runs ``runs`` of rank ``rank`` on X (samples x genes, solver layout).

    Runs are computed ``batch_size`` at a time (all at once by default); the result does not depend
    on the batch size. ``keep_spectra`` keeps every run's basis (as float32 spectra, runs x k x
    genes), which the component consensus (:mod:`bionmf.core.component_survey`) needs.
    """
    runs = _run_indices(runs)
    batch_size = runs.size if batch_size is None else int(batch_size)
    chunks = []
    for start in range(0, runs.size, batch_size):
        part = runs[start : start + batch_size]
        result = factorize_batch(X, rank, [run_seed(random_state, rank, r) for r in part], options)
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
) -> Iterator[RankRuns]:
    """:func:`run_rank` for every rank of ``ranks``, yielded in that order; the same results.

    Where every run is computed alone (:func:`~bionmf.core.solvers.runs_alone`) and ``n_jobs`` > 1,
    the runs of all ranks go through one pool of ``n_jobs`` threads, each taking the next run as
    soon as it is free: no thread idles at the end of a rank while another finishes its last runs
    (with 10 runs on 2 threads that wait cost ~10 % of the survey on Golub). A rank is yielded as
    soon as its runs are done, while the pool goes on with the next ranks. Otherwise the ranks are
    computed one after the other, each batch using the threads itself.
    """
    runs = _run_indices(runs)
    ranks = list(ranks)
    if n_jobs <= 1 or not runs_alone(options):
        for k in ranks:
            yield run_rank(X, k, runs, random_state=random_state, options=options, batch_size=batch_size,
                           keep_spectra=keep_spectra)
        return

    def one_run(k: int, r: int) -> RankRuns:
        result = factorize_batch(X, k, [run_seed(random_state, k, r)], options, threads=False)
        return _chunk(k, np.array([r], dtype=np.int64), result, keep_spectra)

    pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="bionmf-run")
    try:
        # submitted in rank order, so the ranks finish (and are yielded) in that order
        futures = {k: [pool.submit(one_run, k, int(r)) for r in runs] for k in ranks}
        for k in ranks:
            yield RankRuns.merge([f.result() for f in futures[k]])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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


@dataclass
class RankSummary:
    """Consensus, clusters and metrics of one rank.

    ``subsample`` is None when ``consensus`` covers every sample; otherwise the sorted indices of
    the samples it covers (see :func:`summarize_rank`).
    """

    rank: int
    consensus: np.ndarray
    clusters: np.ndarray
    metrics: dict
    subsample: np.ndarray | None = None


def summarize_rank(
    X,
    rank_runs: RankRuns,
    *,
    max_exact: int = EXACT_CONSENSUS_MAX,
    subsample_size: int = CONSENSUS_SUBSAMPLE,
    random_state: int = 0,
) -> RankSummary:
    """Consensus matrix, consensus clusters and every metric of one rank (see ``METRIC_COLUMNS``).

    Clusters are the average-linkage tree of 1 - C cut into k groups, numbered to agree with the
    best run's metagenes.

    Up to ``max_exact`` samples the consensus matrix is exact (n x n). Above, it is the consensus
    of a fixed random subsample of ``subsample_size`` samples (seeded by ``random_state``; see
    :func:`bionmf.core.consensus.consensus_subsample`), from which the stability figures are
    read; the subsample's clusters come from its tree and every other sample joins the cluster
    with which it shares a metagene most often across runs. No n x n array is made.
    """
    labels = rank_runs.labels
    n = labels.shape[1]
    k = rank_runs.rank
    reference = assign(rank_runs.best_H)
    subsample = None
    if n > max_exact:
        subsample = consensus_subsample(n, min(subsample_size, n), random_state)
        labels = labels[:, subsample]
        reference = reference[subsample]
    acc = ConsensusAccumulator(labels.shape[1])
    acc.add(labels)
    C = acc.consensus()
    clusters = consensus_clusters(C, k, reference=reference)
    rss, evar = M.residuals(X, rank_runs.best_W, rank_runs.best_H)
    values = {
        "cophenetic": M.cophenetic_correlation(C),
        "dispersion": M.dispersion(C),
        "silhouette": M.silhouette(1.0 - C, clusters),  # of the (sub)sample the matrix covers
        "pac": M.pac(C),
        "rss": rss,
        "evar": evar,
        "sparseness_basis": M.hoyer_sparseness(rank_runs.best_W),
        "sparseness_coef": M.hoyer_sparseness(rank_runs.best_H),
        "objective": float(rank_runs.objective.min()),
        "objective_mean": float(rank_runs.objective.mean()),
        "n_iter": float(rank_runs.n_iter.mean()),
        "n_runs": int(rank_runs.runs.size),
    }
    if subsample is not None:
        affinity = cluster_affinity(rank_runs.labels, subsample, clusters, k)
        all_clusters = affinity.argmax(axis=1)
        all_clusters[subsample] = clusters
        clusters = all_clusters
    return RankSummary(rank=k, consensus=C, clusters=clusters, metrics=values, subsample=subsample)


def metrics_to_arrays(metrics: dict) -> dict[str, np.ndarray]:
    """A metrics dict as two .npz arrays (names, float values)."""
    return {
        "metric_names": np.array(list(metrics), dtype=str),
        "metric_values": np.array([float(v) for v in metrics.values()]),
    }


def metrics_from_arrays(f, int_names: tuple[str, ...] = ("n_runs",)) -> dict:
    """Inverse of :func:`metrics_to_arrays`; the metrics in ``int_names`` come back as int."""
    values = {str(n): float(v) for n, v in zip(f["metric_names"], f["metric_values"])}
    for name in int_names:
        values[name] = int(values[name])
    return values


def save_summary(summary: RankSummary, path: str | Path) -> None:
    """Write a rank summary to an .npz file (metrics as named scalars)."""
    np.savez_compressed(
        path,
        rank=summary.rank,
        consensus=summary.consensus,
        clusters=summary.clusters,
        **metrics_to_arrays(summary.metrics),
        **({} if summary.subsample is None else {"subsample": summary.subsample}),
    )


def load_summary(path: str | Path) -> RankSummary:
    with np.load(path) as f:
        return RankSummary(
            rank=int(f["rank"]),
            consensus=f["consensus"],
            clusters=f["clusters"],
            metrics=metrics_from_arrays(f),
            subsample=f["subsample"] if "subsample" in f.files else None,
        )
