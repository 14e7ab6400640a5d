"""Progress a person sees: a bar over a survey's runs, on stderr.

Log lines (``logging.getLogger("bionmf")``) stay for the workflow's job logs; they print nothing
unless the user configures logging, which a person at a terminal or in a notebook rarely has. So
a survey started there also draws a bar, updated as runs finish, without any setup.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from tqdm import tqdm


def interactive() -> bool:
    """Whether a person is likely watching: stderr is a terminal, or the code runs in a Jupyter
    kernel (whose stderr is no terminal but is shown under the cell)."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a replaced or closed stderr
        pass
    return "ipykernel" in sys.modules


class RunProgress:
    """Counts finished runs; callable with the number of runs that just finished (thread-safe)."""

    def __init__(self, total: int, *, enabled: bool, desc: str = "NMF runs"):
        self._lock = threading.Lock()
        self._bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=not enabled,
                         dynamic_ncols=True, mininterval=0.25, leave=True)

    def __call__(self, n: int = 1) -> None:
        with self._lock:
            self._bar.update(int(n))

    def describe(self, text: str) -> None:
        """Show ``text`` (e.g. the rank being computed) beside the bar."""
        with self._lock:
            self._bar.set_postfix_str(text)

    def close(self) -> None:
        with self._lock:
            self._bar.close()


@contextmanager
def run_progress(total: int, *, verbose: bool | None, desc: str = "NMF runs"):
    """A :class:`RunProgress` over ``total`` runs, drawn as :func:`show_progress` decides, closed
    on leaving the block (also when a survey is interrupted)."""
    progress = RunProgress(total, enabled=show_progress(verbose), desc=desc)
    try:
        yield progress
    finally:
        progress.close()


def show_progress(verbose: bool | None) -> bool:
    """Draw the bar: ``verbose`` True in an interactive session (:func:`interactive`); never when
    False. ``None`` behaves as True."""
    return verbose is not False and interactive()
