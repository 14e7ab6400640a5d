"""The consensus kinds by name: the one place where ``consensus="samples"|"components"|"auto"`` is parsed."""

from __future__ import annotations

from .component_consensus import ComponentConsensus
from .sample_consensus import SampleConsensus
from .summary import ConsensusKind

#: every kind, by the name users give it
KINDS: dict[str, ConsensusKind] = {kind.name: kind for kind in (SampleConsensus(), ComponentConsensus())}
#: ``consensus="auto"`` uses the sample consensus up to this many samples (bulk studies, small
#: single-cell sets) and the component consensus above it, where an n x n consensus matrix stops
#: being affordable and cell-level clusters are better read from program usage.
AUTO_COMPONENTS_ABOVE = 2000
CONSENSUS_MODES = ("auto", *KINDS)


def consensus_kind(consensus: str | ConsensusKind) -> ConsensusKind:
    """The kind named ``consensus`` (``"samples"`` or ``"components"``; a kind is returned as is)."""
    if isinstance(consensus, ConsensusKind):
        return consensus
    if consensus not in KINDS:
        raise ValueError(f"consensus must be one of {tuple(KINDS)}, got {consensus!r}")
    return KINDS[consensus]


def resolve_consensus(consensus: str | ConsensusKind, n_samples: int) -> ConsensusKind:
    """The kind to compute for ``n_samples``: ``consensus``'s, ``"auto"`` decided by the size."""
    if isinstance(consensus, str) and consensus not in CONSENSUS_MODES:
        raise ValueError(f"consensus must be one of {CONSENSUS_MODES}, got {consensus!r}")
    if consensus == "auto":
        consensus = "components" if n_samples > AUTO_COMPONENTS_ABOVE else "samples"
    return consensus_kind(consensus)
