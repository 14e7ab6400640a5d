"""Array-level algorithms: solvers, seeding, consensus, metrics, rank selection. No AnnData here."""

from . import components, consensus, features, metrics, permutation, rank_selection, seeding, solvers
from .component_survey import (
    COMPONENT_METRIC_COLUMNS,
    ComponentSummary,
    load_component_summary,
    save_component_summary,
    summarize_components,
)
from .survey import (
    METRIC_COLUMNS,
    RankRuns,
    RankSummary,
    load_summary,
    run_rank,
    run_ranks,
    save_summary,
    summarize_rank,
)

__all__ = [
    "COMPONENT_METRIC_COLUMNS",
    "ComponentSummary",
    "METRIC_COLUMNS",
    "RankRuns",
    "RankSummary",
    "components",
    "consensus",
    "load_component_summary",
    "save_component_summary",
    "summarize_components",
    "features",
    "load_summary",
    "save_summary",
    "metrics",
    "permutation",
    "rank_selection",
    "run_rank",
    "run_ranks",
    "seeding",
    "solvers",
    "summarize_rank",
]
