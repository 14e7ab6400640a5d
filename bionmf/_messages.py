"""Pieces of error and log messages shared by io, pp and tl: lists of names, counts of things."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def name_some(names: Sequence[str] | pd.Index | np.ndarray, mask=None, *, limit: int = 5) -> str:
    """``'A, B, C'`` or ``'A, B, C, D, E, ... (12 in all)'`` for the names where ``mask`` holds."""
    names = np.asarray(names, dtype=object)
    if mask is not None:
        names = names[np.asarray(mask, dtype=bool)]
    shown = ", ".join(str(n) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names)} in all)"
    return shown


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
