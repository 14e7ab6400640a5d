"""Array-level algorithms: solvers, seeding, runs, consensus kinds, metrics, rank selection. No AnnData here."""

from . import components, consensus, crossval, features, linalg, metrics, permutation, rank_selection, seeding, solvers
from .component_consensus import COMPONENT_METRIC_COLUMNS, ComponentConsensus, summarize_components
from .consensus_kinds import AUTO_COMPONENTS_ABOVE, CONSENSUS_MODES, KINDS, consensus_kind, resolve_consensus
from .runs import RankRuns, run_rank, run_ranks
from .sample_consensus import METRIC_COLUMNS, SampleConsensus, summarize_rank
from .summary import ConsensusKind, RankSummary, SurveyOptionError
from .survey_options import SurveyOptions

__all__ = [
    "AUTO_COMPONENTS_ABOVE",
    "COMPONENT_METRIC_COLUMNS",
    "CONSENSUS_MODES",
    "ComponentConsensus",
    "ConsensusKind",
    "KINDS",
    "METRIC_COLUMNS",
    "RankRuns",
    "RankSummary",
    "SampleConsensus",
    "SurveyOptionError",
    "SurveyOptions",
    "components",
    "consensus",
    "crossval",
    "consensus_kind",
    "features",
    "linalg",
    "metrics",
    "permutation",
    "rank_selection",
    "resolve_consensus",
    "run_rank",
    "run_ranks",
    "seeding",
    "solvers",
    "summarize_components",
    "summarize_rank",
]
