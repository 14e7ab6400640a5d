"""Projection targets of the workflow: data sets scored with another data set's metagenes/programs.

A data set entry with ``project_onto: <reference>`` is not surveyed: it is read as it is in its
file, put through the reference's recorded normalization and projected onto the reference's
programs file (:func:`bionmf.tl.project`), with the ``project`` options of its entry.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .datasets import read_dataset

#: The data set entry key naming the reference a data set is projected onto.
PROJECT_ONTO = "project_onto"
#: Options of :func:`bionmf.tl.project` a data set entry may not set: the workflow sets them.
FIXED_OPTIONS = ("adata_new", "reference", "key", "key_added", "copy")


def projection_targets(datasets: Mapping[str, Mapping]) -> dict[str, str]:
    """Target data set -> the reference data set it is projected onto."""
    return {name: spec[PROJECT_ONTO] for name, spec in datasets.items() if spec.get(PROJECT_ONTO)}


def surveyed_datasets(datasets: Mapping[str, Mapping]) -> list[str]:
    """The data sets the workflow surveys: every one that is not a projection target."""
    return [name for name, spec in datasets.items() if not spec.get(PROJECT_ONTO)]


def programs_file(reference: str, rank: int | None = None) -> str:
    """The programs file of a reference data set: its chosen rank, or ``rank``."""
    base = Path("results") / reference
    return str(base / "programs.h5" if rank is None else base / "programs" / f"rank_{rank}.h5")


def check_projections(config: Mapping) -> None:
    """A ValueError naming the key of any projection target that cannot run.

    The reference must be another data set of the config that is surveyed (not itself a
    target); a requested ``project.rank`` must be in ``ranks``; a target is normalized as its
    reference, so it takes no ``normalize`` options; ``project`` options are keywords of
    :func:`bionmf.tl.project`.
    """
    from ..tl import project

    datasets = config["datasets"]
    allowed = [p for p in inspect.signature(project).parameters if p not in FIXED_OPTIONS]
    for name, reference in projection_targets(datasets).items():
        where = f"config['datasets'][{name!r}]"
        if reference == name:
            raise ValueError(f"{where}[{PROJECT_ONTO!r}]: a data set cannot be projected onto itself")
        if reference not in datasets:
            close = difflib.get_close_matches(str(reference), list(datasets), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"data sets: {', '.join(datasets)}"
            raise ValueError(f"{where}[{PROJECT_ONTO!r}]: no data set {reference!r} in config['datasets']; {hint}")
        if datasets[reference].get(PROJECT_ONTO):
            raise ValueError(f"{where}[{PROJECT_ONTO!r}]: {reference!r} is itself a projection target, not surveyed; "
                             "project onto a surveyed data set")
        if datasets[name].get("normalize"):
            raise ValueError(f"{where}['normalize']: a projection target is normalized as its reference "
                             f"{reference!r} was (its recorded steps are replayed); remove these options")
        options = dict(datasets[name].get("project") or {})
        for option in options:
            if option not in allowed:
                close = difflib.get_close_matches(str(option), allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"its options: {', '.join(allowed)}"
                raise ValueError(f"{where}['project']: bionmf.tl.project has no option {option!r}; {hint}")
        rank = options.get("rank")
        if rank is not None and rank not in config["ranks"]:
            raise ValueError(f"{where}['project']['rank']: rank {rank} is not surveyed (ranks: {config['ranks']})")
    for name, spec in datasets.items():
        if spec.get("project") and not spec.get(PROJECT_ONTO):
            raise ValueError(f"config['datasets'][{name!r}]['project']: options of a projection, but the data set "
                             f"has no {PROJECT_ONTO!r}")


def project_dataset(spec: Mapping, programs: str | Path, *, key: str) -> ad.AnnData:
    """A target data set entry read from its file and projected onto ``programs``
    (:func:`bionmf.tl.project` with the entry's ``project`` options; fields ``f"{key}_projection"``)."""
    from ..tl import project

    adata = read_dataset(spec)
    project(adata, programs, key_added=f"{key}_projection", **dict(spec.get("project") or {}))
    return adata


def usage_table(adata: ad.AnnData, *, key: str) -> pd.DataFrame:
    """Observations x (usage of each program, ``cluster``, the observation annotation)."""
    name = f"{key}_projection"
    record = adata.uns[name]
    usages = np.asarray(adata.obsm[name])
    table = pd.DataFrame(usages, index=pd.Index(adata.obs_names, name="sample"),
                         columns=[f"usage_{p}" for p in record["programs"]])
    table["cluster"] = adata.obs[f"{name}_cluster"].astype(object).to_numpy()
    for column in adata.obs.columns:
        if column != f"{name}_cluster" and not pd.api.types.is_float_dtype(adata.obs[column]):
            table[column] = adata.obs[column].to_numpy()
    return table
