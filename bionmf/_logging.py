"""The package logger and a small progress helper.

Everything in bionmf logs through ``logging.getLogger("bionmf")``; nothing prints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

logger = logging.getLogger("bionmf")

T = TypeVar("T")


def progress(items: Iterable[T], *, total: int | None = None, desc: str, verbose: bool = True) -> Iterator[T]:
    """Yield ``items``, logging one INFO line per item with elapsed time.

    Log lines rather than a terminal progress bar because surveys often run inside Snakemake
    jobs and cluster batch scripts, whose logs are files.
    """
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    start = time.perf_counter()
    for i, item in enumerate(items, start=1):
        yield item
        if verbose:
            of = f"/{total}" if total is not None else ""
            logger.info("%s %d%s done (%.1f s)", desc, i, of, time.perf_counter() - start)
