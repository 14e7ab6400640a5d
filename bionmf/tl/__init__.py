"""AnnData-level tools."""

from ._components import store_components
from ._nmf import nmf, store_survey
from ._signatures import signatures

__all__ = ["nmf", "signatures", "store_components", "store_survey"]
