"""Files that appear whole or not at all.

An interrupted write (Ctrl-C, a killed cluster job, a full disk) must not leave a truncated file
under the final name, where a later step or a rerun would take it for a result: each file is
written under a temporary name in its own directory and renamed into place once complete (a
rename within one file system is atomic).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """An open file that becomes ``path`` when the block ends without an error (else it is removed)."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, mode) as file:
            yield file
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def npz_path(path: str | os.PathLike) -> Path:
    """The name ``numpy.savez`` would give: ``.npz`` appended unless the name has it."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_npz(path: str | os.PathLike, **arrays) -> None:
    """``numpy.savez_compressed`` to ``path`` (``.npz`` appended as numpy would), whole or not at all."""
    with atomic_file(npz_path(path)) as file:
        np.savez_compressed(file, **arrays)
