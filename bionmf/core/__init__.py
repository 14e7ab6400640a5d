"""Array-level algorithms: solvers, seeding, consensus, metrics, rank selection. No AnnData here."""

from . import consensus, features, metrics, permutation, rank_selection, seeding, solvers
from .survey import (
    METRIC_COLUMNS,
    RankRuns,
    RankSummary,
    load_summary,
    run_rank,
    save_summary,
    summarize_rank,
)

__all__ = [
    "METRIC_COLUMNS",
    "RankRuns",
    "RankSummary",
    "consensus",
    "features",
    "load_summary",
    "save_summary",
    "metrics",
    "permutation",
    "rank_selection",
    "run_rank",
    "seeding",
    "solvers",
    "summarize_rank",
]
