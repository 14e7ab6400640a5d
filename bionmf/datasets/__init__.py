"""Bundled and simulated data sets."""

from ._golub import golub
from ._simulate import simulate

__all__ = ["golub", "simulate"]
