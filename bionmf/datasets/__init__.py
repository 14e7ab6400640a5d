"""Bundled and simulated data sets."""

from ._golub import golub

__all__ = ["golub"]
