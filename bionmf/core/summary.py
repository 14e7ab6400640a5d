"""What a rank leaves once its runs are combined, and the interface of the ways to combine them.

One summary type (:class:`RankSummary`) and one file codec serve both consensus kinds: each kind
(:class:`ConsensusKind`; :mod:`bionmf.core.sample_consensus`, :mod:`bionmf.core.component_consensus`)
declares which arrays its summaries hold, its metric columns and rank rules, and how it combines
the runs of a rank. Code that needs to know the kind asks the kind; nothing tests its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import save_npz
from .rank_selection import ALL_RULES
from .runs import RankRuns


@dataclass
class RankSummary:
    """The combined runs of one rank: clusters and metrics, and the arrays of its consensus kind.

    Attributes
    ----------
    rank : k
    clusters : (n,) cluster of every sample, ``0..k-1``
    metrics : the values of the kind's :attr:`ConsensusKind.metric_columns`
    consensus : sample consensus: (n, n) consensus matrix (of ``subsample`` when that is set)
    subsample : sample consensus above ``EXACT_CONSENSUS_MAX`` samples: sorted indices of the
        samples the matrix covers; None when it covers all
    programs : component consensus: (k, genes) consensus programs over the fitted genes, each
        summing to 1, ordered by total usage (largest first)
    usages : component consensus: (n, k) usage of every program by every sample
    spectra_labels : component consensus: (runs * k,) program of each run's spectrum, -1 for outliers
    density : component consensus: (runs * k,) local density of each spectrum
    """

    rank: int
    clusters: np.ndarray
    metrics: dict
    consensus: np.ndarray | None = None
    subsample: np.ndarray | None = None
    programs: np.ndarray | None = None
    usages: np.ndarray | None = None
    spectra_labels: np.ndarray | None = None
    density: np.ndarray | None = None


#: the figures of the runs themselves, the last metric columns of every kind
RUN_METRIC_COLUMNS = ("objective", "objective_mean", "n_iter", "n_runs")


def run_metrics(runs: RankRuns) -> dict:
    """:data:`RUN_METRIC_COLUMNS` of the runs of a rank: best and mean objective, mean iterations, runs."""
    return {
        "objective": float(runs.objective.min()),
        "objective_mean": float(runs.objective.mean()),
        "n_iter": float(runs.n_iter.mean()),
        "n_runs": int(runs.runs.size),
    }


class SurveyOptionError(ValueError):
    """A survey option that does not fit (the data, or the consensus kind); ``option`` names it."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


class ConsensusKind:
    """How the runs of a rank are combined, and everything that follows from it.

    Subclasses set the attributes and implement :meth:`summarize`; one instance of each lives in
    :data:`bionmf.core.consensus_kinds.KINDS`.
    """

    #: the name users give (``consensus=...``)
    name: str
    #: columns of the metrics table, in order; those in ``int_columns`` hold counts
    metric_columns: tuple[str, ...]
    int_columns: tuple[str, ...] = ("n_runs",)
    #: rank rules that read this kind's metrics, and the one used when none is named
    rules: tuple[str, ...]
    default_rule: str
    #: the metric logged per rank
    headline: str
    #: solver algorithm used when the caller names none
    default_algorithm: str = "brunet"
    #: whether the runs must keep their spectra (every run's basis) for :meth:`summarize`
    keeps_spectra: bool = False
    #: whether the summaries hold n x n consensus matrices
    has_consensus_matrix: bool = False
    #: whether the survey of permuted data (null model) applies
    has_null_model: bool = False
    #: whether the merged runs are needed to write the survey (the best run's factors)
    writes_best_run: bool = False
    #: whether loadings of genes outside the fit are refit on the coefficients (else zero)
    refits_other_genes: bool = False
    #: arrays of a summary (besides ``rank`` and ``metrics``), required and optional
    summary_arrays: tuple[str, ...]
    optional_arrays: tuple[str, ...] = ()
    #: the summary file of a rank in the workflow
    summary_file: str
    #: metric panels of its rank-metric plot (None: the plot's default)
    plot_metrics: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def __str__(self) -> str:
        return self.name

    def check(self, *, n_runs: int, n_permutations: int) -> None:
        """A :class:`SurveyOptionError` for options this kind cannot honour."""
        if n_permutations and not self.has_null_model:
            raise SurveyOptionError(
                "n_permutations",
                f"the null model needs consensus 'samples', but the survey uses the {self.name} consensus "
                "(set n_permutations to 0, or consensus to 'samples')",
            )

    def check_rule(self, rank_rule: str | None) -> str:
        """The rank rule to use: this kind's default, or ``rank_rule`` if it reads this kind's metrics."""
        if rank_rule is None:
            return self.default_rule
        if rank_rule not in ALL_RULES:
            raise SurveyOptionError("rank_rule", f"rank_rule must be one of {sorted(ALL_RULES)}, got {rank_rule!r}")
        if rank_rule not in self.rules:
            raise SurveyOptionError(
                "rank_rule",
                f"rank_rule {rank_rule!r} does not apply to consensus={self.name!r}; use one of {sorted(self.rules)}",
            )
        return rank_rule

    def params(self, *, density_threshold: float, n_samples: int) -> dict:
        """Entries this kind adds to a survey's ``params`` record."""
        return {}

    def summarize(self, X, runs: RankRuns, *, random_state: int, density_threshold: float) -> RankSummary:
        """Combine the runs of one rank fitted on ``X`` (samples x genes)."""
        raise NotImplementedError

    def metrics_table(self, summaries: Mapping[int, RankSummary] | Iterable[RankSummary]) -> pd.DataFrame:
        """One row per rank (ascending), the columns of :attr:`metric_columns`."""
        by_rank = summaries if isinstance(summaries, Mapping) else {s.rank: s for s in summaries}
        ranks = sorted(by_rank)
        table = pd.DataFrame(
            [[by_rank[k].metrics[c] for c in self.metric_columns] for k in ranks],
            index=pd.Index(ranks, name="rank"),
            columns=list(self.metric_columns),
        )
        return table.astype({c: int for c in self.int_columns})

    def save_summary(self, summary: RankSummary, path: str | Path) -> None:
        """Write a summary of this kind to an .npz file (metrics as named scalars)."""
        arrays = {name: getattr(summary, name) for name in (*self.summary_arrays, *self.optional_arrays)}
        missing = [name for name in self.summary_arrays if arrays[name] is None]
        if missing:
            raise ValueError(f"rank {summary.rank}: a {self.name} summary needs {missing}")
        names = np.array(list(summary.metrics), dtype=str)
        values = np.array([float(v) for v in summary.metrics.values()])
        required = {name: arrays[name] for name in self.summary_arrays}
        optional = {name: a for name in self.optional_arrays if (a := arrays[name]) is not None}
        save_npz(path, rank=summary.rank, **required, metric_names=names, metric_values=values, **optional)

    def load_summary(self, path: str | Path) -> RankSummary:
        """Read a summary of this kind written by :meth:`save_summary`."""
        with np.load(path) as f:
            missing = [name for name in self.summary_arrays if name not in f.files]
            if missing:
                raise ValueError(f"{path}: not a {self.name} summary (it lacks {missing})")
            metrics = {str(n): float(v) for n, v in zip(f["metric_names"], f["metric_values"])}
            for name in self.int_columns:
                metrics[name] = int(metrics[name])
            arrays = {name: f[name] for name in (*self.summary_arrays, *self.optional_arrays) if name in f.files}
            return RankSummary(rank=int(f["rank"]), metrics=metrics, **arrays)
