"""Gene sets in the GMT format of GSEA/MSigDB: one set per line, ``name<TAB>description<TAB>gene...``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._messages import name_some, plural
from ._common import as_path, atomic_text, open_text, require_file


def read_gmt(path, *, descriptions: bool = False):
    """Read a GMT file.

    Parameters
    ----------
    path
        ``.gmt`` file, gzipped or not.
    descriptions
        Also return the description of each set.

    Returns
    -------
    ``dict`` set name -> list of genes (file order), or, with ``descriptions=True``, a tuple of
    that dict and a dict set name -> description.
    """
    path = as_path(path)
    require_file(path)
    sets: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(f"GMT file {path}, line {number}: expected a name, a description and genes "
                                 "separated by tabs")
            name = fields[0].strip()
            if name in sets:
                raise ValueError(f"GMT file {path}, line {number}: gene set {name!r} appears twice")
            sets[name] = [g.strip() for g in fields[2:] if g.strip()]
            texts[name] = fields[1]
    return (sets, texts) if descriptions else sets


def write_gmt(
    gene_sets: Mapping[str, Sequence[str]] | pd.DataFrame,
    path,
    descriptions: Mapping[str, str] | str | None = None,
) -> None:
    """Write gene sets as a GMT file.

    Parameters
    ----------
    gene_sets
        A mapping set name -> genes; or a DataFrame, either boolean (genes x sets membership,
        the index naming the genes) or one column per set listing its genes (missing values
        pad the shorter columns), as a table of metagene signatures is laid out.
    path
        Output file, written through a temporary file (no partial file on failure); gzipped
        when it ends in ``.gz``.
    descriptions
        One text for every set, or a mapping set name -> text; default ``na``.

    Returns
    -------
    None. Repeated genes within a set are written once; empty sets, and names or genes with tabs
    or line breaks, are errors.
    """
    sets = _as_sets(gene_sets)
    if isinstance(descriptions, Mapping):
        unknown = [k for k in descriptions if k not in sets]
        if unknown:
            raise ValueError(f"descriptions name unknown gene sets: {name_some(unknown)}")
    empty = [name for name, genes in sets.items() if not genes]
    if empty:
        raise ValueError(f"{plural(len(empty), 'gene set')} without genes ({name_some(empty)}); GMT needs at least "
                         "one gene per set")
    lines = []
    for name, genes in sets.items():
        text = descriptions if isinstance(descriptions, str) else (
            descriptions.get(name, "na") if isinstance(descriptions, Mapping) else "na")
        for value, what in ((name, "gene set name"), (text, f"description of {name!r}"),
                            *((g, f"gene in set {name!r}") for g in genes)):
            if any(ch in value for ch in "\t\r\n"):
                raise ValueError(f"{what} {value!r} holds a tab or line break; GMT cannot store it")
        if not name.strip():
            raise ValueError("a gene set has an empty name")
        lines.append("\t".join([name, text or "na", *genes]))
    with atomic_text(path) as handle:
        for line in lines:
            handle.write(line + "\n")


def _as_sets(gene_sets) -> dict[str, list[str]]:
    if isinstance(gene_sets, pd.DataFrame):
        if not gene_sets.columns.is_unique:
            dup = gene_sets.columns[gene_sets.columns.duplicated()].unique()
            raise ValueError(f"repeated gene set (column) names: {name_some(dup)}")
        if all(dtype == bool for dtype in gene_sets.dtypes):
            items = ((str(c), gene_sets.index[gene_sets[c].to_numpy()].astype(str).to_list())
                     for c in gene_sets.columns)
        else:
            items = ((str(c), [str(g) for g in gene_sets[c].dropna().to_list()]) for c in gene_sets.columns)
    elif isinstance(gene_sets, Mapping):
        items = []
        for name, genes in gene_sets.items():
            if isinstance(genes, str):
                raise TypeError(f"gene set {name!r} is a single string; give a list of genes")
            items.append((str(name), [str(g) for g in genes if not (isinstance(g, float) and np.isnan(g))]))
    else:
        raise TypeError(f"gene_sets must be a mapping or a DataFrame, got {type(gene_sets).__name__}")
    sets: dict[str, list[str]] = {}
    for name, genes in items:
        if name in sets:
            raise ValueError(f"gene set {name!r} appears twice")
        sets[name] = list(dict.fromkeys(g.strip() for g in genes if g.strip()))
    return sets
