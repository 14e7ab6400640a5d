"""AnnData-level tools."""

from ._confidence import sample_silhouette
from ._convergence import convergence
from ._nmf import nmf
from ._program_genes import program_genes
from ._project import project
from ._rethreshold import rethreshold
from ._signatures import compute_signatures, signatures
from ._survey import Survey

__all__ = ["Survey", "compute_signatures", "convergence", "nmf", "program_genes", "project", "rethreshold",
           "sample_silhouette", "signatures"]
