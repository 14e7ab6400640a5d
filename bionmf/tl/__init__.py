"""AnnData-level tools."""

from ._nmf import nmf
from ._signatures import signatures
from ._survey import Survey

__all__ = ["Survey", "nmf", "signatures"]
