"""The rank survey with component consensus: per rank, consensus programs, refit usages, figures.

The counterpart of :func:`bionmf.core.summarize_rank` for single-cell sizes: it reads the spectra
that :func:`bionmf.core.run_rank` keeps with ``keep_spectra=True`` (and merges across chunks like
the rest of :class:`bionmf.core.RankRuns`), so the workflow computes the runs of a rank in any
number of jobs and summarizes them once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .components import (
    DENSITY_THRESHOLD,
    LOCAL_NEIGHBORHOOD,
    consensus_programs,
    reconstruction_error,
    refit_usages,
)
from .solvers._products import squared_norm
from .survey import RankRuns, metrics_from_arrays, metrics_to_arrays

COMPONENT_METRIC_COLUMNS = (
    "stability",
    "error",
    "evar",
    "n_spectra_kept",
    "objective",
    "objective_mean",
    "n_iter",
    "n_runs",
)


@dataclass
class ComponentSummary:
    """Consensus programs of one rank and the figures of the rank.

    Attributes
    ----------
    rank : k
    programs : (k, genes) consensus programs over the fitted genes, each summing to 1, ordered by
        total usage (largest first)
    usages : (n, k) usage of every program by every sample, refit by non-negative least squares
    clusters : (n,) program of largest usage per sample
    spectra_labels : (runs * k,) program each run's spectrum was clustered into; -1 for outliers
    density : (runs * k,) local density of each spectrum
    metrics : the values of ``COMPONENT_METRIC_COLUMNS``
    """

    rank: int
    programs: np.ndarray
    usages: np.ndarray
    clusters: np.ndarray
    spectra_labels: np.ndarray
    density: np.ndarray
    metrics: dict


def summarize_components(
    X,
    rank_runs: RankRuns,
    *,
    density_threshold: float = DENSITY_THRESHOLD,
    local_neighborhood: float = LOCAL_NEIGHBORHOOD,
    random_state: int = 0,
) -> ComponentSummary:
    """Component consensus of one rank (Kotliar et al. 2019) from its runs' spectra.

    ``X`` is the samples x genes matrix the runs were fitted on (solver layout or any array/CSR);
    ``rank_runs`` must carry spectra (``run_rank(..., keep_spectra=True)``). Metrics: ``stability``
    (silhouette of the k-means clustering of all unit spectra), ``error`` (||X - U P||_F^2 of the
    refit usages U and programs P), ``evar`` (1 - error / ||X||_F^2), ``n_spectra_kept`` (after the
    outlier filter), and the runs' ``objective`` (best), ``objective_mean``, ``n_iter`` (mean),
    ``n_runs``.
    """
    if rank_runs.spectra is None:
        raise ValueError(
            f"rank {rank_runs.rank}: the runs carry no spectra; compute them with run_rank(..., keep_spectra=True)"
        )
    k = rank_runs.rank
    found = consensus_programs(
        rank_runs.spectra,
        density_threshold=density_threshold,
        local_neighborhood=local_neighborhood,
        random_state=random_state,
    )
    usages = refit_usages(X, found.programs)
    # programs in order of total usage, so that program 0 is the one most cells use most
    order = np.argsort(-usages.sum(axis=0), kind="stable")
    programs = found.programs[order]
    usages = np.ascontiguousarray(usages[:, order])
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    spectra_labels = np.where(found.spectra_labels >= 0, relabel[np.maximum(found.spectra_labels, 0)], -1)
    error = reconstruction_error(X, usages, programs)
    values = {
        "stability": found.stability,
        "error": error,
        "evar": 1.0 - error / squared_norm(X),
        "n_spectra_kept": int(found.n_kept),
        "objective": float(rank_runs.objective.min()),
        "objective_mean": float(rank_runs.objective.mean()),
        "n_iter": float(rank_runs.n_iter.mean()),
        "n_runs": int(rank_runs.runs.size),
    }
    return ComponentSummary(
        rank=k,
        programs=programs,
        usages=usages,
        clusters=usages.argmax(axis=1),
        spectra_labels=spectra_labels,
        density=found.density,
        metrics=values,
    )


def save_component_summary(summary: ComponentSummary, path: str | Path) -> None:
    """Write a component summary to an .npz file (metrics as named scalars)."""
    np.savez_compressed(
        path,
        rank=summary.rank,
        programs=summary.programs,
        usages=summary.usages,
        clusters=summary.clusters,
        spectra_labels=summary.spectra_labels,
        density=summary.density,
        **metrics_to_arrays(summary.metrics),
    )


def load_component_summary(path: str | Path) -> ComponentSummary:
    with np.load(path) as f:
        values = metrics_from_arrays(f, int_names=("n_runs", "n_spectra_kept"))
        return ComponentSummary(
            rank=int(f["rank"]),
            programs=f["programs"],
            usages=f["usages"],
            clusters=f["clusters"],
            spectra_labels=f["spectra_labels"],
            density=f["density"],
            metrics=values,
        )
