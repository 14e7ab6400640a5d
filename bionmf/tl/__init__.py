"""AnnData-level tools."""

from ._nmf import nmf
from ._project import project
from ._signatures import compute_signatures, signatures
from ._survey import Survey

__all__ = ["Survey", "compute_signatures", "nmf", "project", "signatures"]
