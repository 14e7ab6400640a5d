"""AnnData-level tools."""

from ._components import store_components
from ._nmf import nmf, store_survey
from ._project import project
from ._signatures import signatures

__all__ = ["nmf", "project", "signatures", "store_components", "store_survey"]
