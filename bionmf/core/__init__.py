"""Array-level algorithms: solvers, seeding, consensus, metrics, rank selection. No AnnData here."""

from . import consensus, metrics, rank_selection, seeding, solvers
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
    "load_summary",
    "save_summary",
    "metrics",
    "rank_selection",
    "run_rank",
    "seeding",
    "solvers",
    "summarize_rank",
]
