"""Bundled and simulated data sets."""

from ._golub import golub
from ._simulate import simulate
from ._simulate_singlecell import simulate_singlecell

__all__ = ["golub", "simulate", "simulate_singlecell"]
