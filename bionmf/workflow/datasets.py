"""Data-set entries of the workflow config: the files they read, their shape, reading and normalizing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import anndata as ad

from .. import io, pp
from .._logging import logger


#: ``path: bundled:<name>`` in a data set entry reads a data set shipped with the package.
BUNDLED_PREFIX = "bundled:"
BUNDLED_SHAPES = {"golub": (38, 5000)}

#: Keys of a data set entry whose values name files that must exist before anything runs.
READ_FILE_KEYS = ("genes",)


def is_bundled(path: str) -> bool:
    return str(path).startswith(BUNDLED_PREFIX)


def bundled_name(path: str) -> str:
    return str(path)[len(BUNDLED_PREFIX):]


def dataset_files(spec: Mapping) -> dict[str, str]:
    """The files a data set entry reads, by key (``path``, ``annotation``, ``read.genes``)."""
    files = {}
    if not is_bundled(spec["path"]):
        files["path"] = spec["path"]
    if spec.get("annotation"):
        files["annotation"] = spec["annotation"]
    for key in READ_FILE_KEYS:
        value = (spec.get("read") or {}).get(key)
        if isinstance(value, str):
            files[f"read.{key}"] = value
    return files


def prepare_dataset(spec: Mapping) -> ad.AnnData:
    """Read a data set entry (:func:`read_dataset`) and normalize it with its ``preset`` (and
    ``normalize`` options)."""
    adata = read_dataset(spec)
    pp.normalize(adata, preset=spec.get("preset", "bulk"), **dict(spec.get("normalize") or {}))
    return adata


def read_dataset(spec: Mapping) -> ad.AnnData:
    """The data of a data set entry as they are in its file, annotated.

    ``path: bundled:golub`` reads :func:`bionmf.datasets.golub`; any other path goes to
    :func:`bionmf.io.read` with ``format``, ``annotation`` and the ``read`` options.
    """
    path = spec["path"]
    if is_bundled(path):
        from .. import datasets

        adata = getattr(datasets, bundled_name(path))()
        if spec.get("annotation"):
            io.annotate(adata, spec["annotation"])
    else:
        adata = io.read(path, format=spec.get("format"), annotation=spec.get("annotation"),
                        **dict(spec.get("read") or {}))
    return adata


def data_shape(spec: Mapping, *, workdir: str | Path = ".") -> tuple[int, int]:
    """(samples, genes) of a data set entry, read from file headers (:func:`bionmf.io.read_shape`)."""
    path = spec["path"]
    if is_bundled(path):
        return BUNDLED_SHAPES[bundled_name(path)]
    path = Path(workdir) / path
    transpose = (spec.get("read") or {}).get("transpose")
    return _file_shape(str(path.resolve()), path.stat().st_mtime, spec.get("format"), transpose)


def data_stored(spec: Mapping, *, workdir: str | Path = ".") -> int | None:
    """The values a data set entry's file stores when its matrix is sparse (an h5ad file with a
    sparse ``X``, a 10x file), read from its headers; None for a dense matrix or a format whose
    count cannot be read cheaply. Sizes the jobs' memory, which grows with the stored values."""
    path = spec["path"]
    if is_bundled(path):
        return None
    path = Path(workdir) / path
    try:
        return _file_stored(str(path.resolve()), path.stat().st_mtime, spec.get("format"))
    except OSError:
        return None


@lru_cache(maxsize=64)
def _file_stored(path: str, mtime: float, format: str | None) -> int | None:
    try:
        return io.read_stored(path, format=format)
    except Exception as error:  # sizing must never stop the workflow: size as dense
        logger.debug("could not read the stored values of %s (%s); sizing as dense", path, error)
        return None


@lru_cache(maxsize=64)
def _file_shape(path: str, mtime: float, format: str | None, transpose: bool | None) -> tuple[int, int]:
    path = Path(path)
    try:
        return io.read_shape(path, format=format, transpose=transpose)
    except Exception as error:  # sizing must never stop the workflow; fall back on the file size
        logger.debug("could not read the shape of %s (%s); estimating from its size", path, error)
        size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
        values = max(size // 8, 1)
        n = int(math.sqrt(values / 100)) + 1
        return n, max(values // n, 1)
