"""The component consensus (Kotliar et al. 2019): per rank, consensus programs, refit usages, figures.

The counterpart of :func:`bionmf.core.summarize_rank` for single-cell sizes: it reads the spectra
that :func:`bionmf.core.run_rank` keeps with ``keep_spectra=True`` (and merges across chunks like
the rest of :class:`bionmf.core.RankRuns`), so the workflow computes the runs of a rank in any
number of jobs and summarizes them once. :class:`ComponentConsensus` is this kind of
:class:`~bionmf.core.summary.ConsensusKind`.
"""

from __future__ import annotations

import numpy as np

from .components import DENSITY_THRESHOLD, LOCAL_NEIGHBORHOOD, consensus_programs
from .linalg import reconstruction_error, refit_usages, squared_norm
from .rank_selection import COMPONENT_RULES, CV_RULES
from .runs import RankRuns
from .summary import (
    RUN_METRIC_COLUMNS,
    ConsensusKind,
    RankSummary,
    SurveyOptionError,
    run_metrics,
)

COMPONENT_METRIC_COLUMNS = (
    "stability",
    "error",
    "evar",
    "n_spectra_kept",
    *RUN_METRIC_COLUMNS,
)


def summarize_components(
    X,
    rank_runs: RankRuns,
    *,
    density_threshold: float = DENSITY_THRESHOLD,
    local_neighborhood: float = LOCAL_NEIGHBORHOOD,
    random_state: int = 0,
) -> RankSummary:
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
        **run_metrics(rank_runs),
    }
    return RankSummary(
        rank=k,
        programs=programs,
        usages=usages,
        clusters=usages.argmax(axis=1),
        spectra_labels=spectra_labels,
        density=found.density,
        metrics=values,
    )


class ComponentConsensus(ConsensusKind):
    """The component consensus (Kotliar et al. 2019, cNMF): programs from the runs' spectra."""

    name = "components"
    metric_columns = COMPONENT_METRIC_COLUMNS
    int_columns = ("n_runs", "n_spectra_kept")
    #: the cross-validated rules apply when the survey is cross-validated (``crossval``)
    rules = (*COMPONENT_RULES, *CV_RULES)
    default_rule = "stability_error"
    headline = "stability"
    # the solver a survey uses when none is named: the Frobenius HALS of cNMF's factorization (with
    # hals's defaults: cNMF's start and stopping rule), fast on large sparse data where the
    # multiplicative KL updates need many times the iterations
    default_algorithm = "hals"
    keeps_spectra = True
    refits_other_genes = True
    summary_arrays = ("programs", "usages", "clusters", "spectra_labels", "density")
    summary_file = "components.npz"
    plot_metrics = ("stability", "error", "evar", "n_spectra_kept")

    def check(self, *, n_runs: int, n_permutations: int) -> None:
        if n_runs < 2:
            raise SurveyOptionError("n_runs", f"the component consensus needs n_runs >= 2, got {n_runs}")
        super().check(n_runs=n_runs, n_permutations=n_permutations)

    def params(self, *, density_threshold: float, n_samples: int) -> dict:
        return {"density_threshold": float(density_threshold)}

    def summarize(self, X, runs: RankRuns, *, random_state: int, density_threshold: float) -> RankSummary:
        return summarize_components(X, runs, density_threshold=density_threshold, random_state=random_state)
