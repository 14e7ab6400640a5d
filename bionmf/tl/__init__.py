"""AnnData-level tools."""

from ._components import store_components
from ._confidence import sample_silhouette
from ._convergence import convergence
from ._nmf import nmf, store_survey
from ._program_genes import program_genes
from ._rethreshold import rethreshold
from ._signatures import signatures

__all__ = ["convergence", "nmf", "program_genes", "rethreshold", "sample_silhouette", "signatures", "store_components", "store_survey"]
