"""AnnData-level tools."""

from ._nmf import nmf, store_survey
from ._signatures import signatures

__all__ = ["nmf", "signatures", "store_survey"]
