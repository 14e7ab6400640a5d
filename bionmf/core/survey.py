"""The rank survey at array level: seeded runs per rank, merged chunks, per-rank summaries.

A chunk of runs (:class:`RankRuns`) keeps, per run, the sample assignment, the objective and the
iteration count, plus the factors of its best run; that is all the consensus and the metrics need.
Chunks of the same rank merge exactly into the result of computing all their runs at once, which
is what lets the workflow split runs into jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics as M
from .consensus import ConsensusAccumulator, assign, consensus_clusters
from .seeding import run_seed
from .solvers import SolverOptions, factorize_batch

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
    """

    rank: int
    runs: np.ndarray
    labels: np.ndarray
    objective: np.ndarray
    n_iter: np.ndarray
    best_W: np.ndarray
    best_H: np.ndarray
    best_run: int

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
        return cls(
            rank=chunks[0].rank,
            runs=runs[order],
            labels=np.concatenate([c.labels for c in chunks])[order],
            objective=np.concatenate([c.objective for c in chunks])[order],
            n_iter=np.concatenate([c.n_iter for c in chunks])[order],
            best_W=best.best_W,
            best_H=best.best_H,
            best_run=best.best_run,
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
            )


def run_rank(
    X,
    rank: int,
    runs: Iterable[int],
    *,
    random_state: int,
    options: SolverOptions,
    batch_size: int | None = None,
) -> RankRuns:
    """Compute runs ``runs`` of rank ``rank`` on X (samples x genes, solver layout).

    Runs are computed ``batch_size`` at a time (all at once by default); the result does not depend
    on the batch size.
    """
    runs = np.asarray(list(runs), dtype=np.int64)
    if runs.size == 0:
        raise ValueError("runs must name at least one run")
    batch_size = runs.size if batch_size is None else int(batch_size)
    chunks = []
    for start in range(0, runs.size, batch_size):
        part = runs[start : start + batch_size]
        result = factorize_batch(X, rank, [run_seed(random_state, rank, r) for r in part], options)
        best = int(np.argmin(result.objective))
        chunks.append(
            RankRuns(
                rank=rank,
                runs=part,
                labels=assign(result.H).astype(np.int16),
                objective=result.objective,
                n_iter=result.n_iter,
                best_W=result.W[best],
                best_H=result.H[best],
                best_run=int(part[best]),
            )
        )
    return RankRuns.merge(chunks)


@dataclass
class RankSummary:
    """Consensus, clusters and metrics of one rank."""

    rank: int
    consensus: np.ndarray
    clusters: np.ndarray
    metrics: dict


def summarize_rank(X, rank_runs: RankRuns) -> RankSummary:
    """Consensus matrix, consensus clusters and every metric of one rank (see ``METRIC_COLUMNS``).

    Clusters are the average-linkage tree of 1 - C cut into k groups, numbered to agree with the
    best run's metagenes.
    """
    acc = ConsensusAccumulator(rank_runs.labels.shape[1])
    acc.add(rank_runs.labels)
    C = acc.consensus()
    k = rank_runs.rank
    clusters = consensus_clusters(C, k, reference=assign(rank_runs.best_H))
    rss, evar = M.residuals(X, rank_runs.best_W, rank_runs.best_H)
    values = {
        "cophenetic": M.cophenetic_correlation(C),
        "dispersion": M.dispersion(C),
        "silhouette": M.silhouette(1.0 - C, clusters),
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
    return RankSummary(rank=k, consensus=C, clusters=clusters, metrics=values)


def save_summary(summary: RankSummary, path: str | Path) -> None:
    """Write a rank summary to an .npz file (metrics as named scalars)."""
    np.savez_compressed(
        path,
        rank=summary.rank,
        consensus=summary.consensus,
        clusters=summary.clusters,
        metric_names=np.array(list(summary.metrics), dtype=str),
        metric_values=np.array([float(v) for v in summary.metrics.values()]),
    )


def load_summary(path: str | Path) -> RankSummary:
    with np.load(path) as f:
        values = {str(n): float(v) for n, v in zip(f["metric_names"], f["metric_values"])}
        values["n_runs"] = int(values["n_runs"])
        return RankSummary(rank=int(f["rank"]), consensus=f["consensus"], clusters=f["clusters"], metrics=values)
