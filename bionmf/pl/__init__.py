"""Plots of a consensus NMF survey (matplotlib + seaborn).

Every function takes the AnnData that :func:`bionmf.tl.nmf` wrote into, ``show`` and ``save``,
and returns its Figure (or the Axes passed as ``ax``).
"""

from ._clusters import clusters
from ._consensus import consensus, consensus_grid
from ._convergence import convergence
from ._metagenes import metagenes, signatures
from ._metrics import rank_metrics

__all__ = ["clusters", "consensus", "consensus_grid", "convergence", "metagenes", "rank_metrics", "signatures"]
