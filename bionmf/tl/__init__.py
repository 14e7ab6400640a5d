"""AnnData-level tools."""

from ._nmf import nmf, store_survey

__all__ = ["nmf", "store_survey"]
