"""Results people read and pass on, from a finished survey (``bionmf.h5ad``): GenePattern
NMFConsensus cluster files, program gene tables, the convergence trace of the best runs.

The workflow's rules and the ``bionmf`` command both write these files through the functions here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import anndata as ad
import pandas as pd

from ..core import RankRuns
from ..io import write_genepattern
from .jobs import sharing_matrices

#: program gene tables written by :func:`write_program_genes`, by output name
PROGRAM_GENE_TABLES = ("zscore", "expression", "top_genes")


def genepattern_files(directory: str | Path, ranks: Sequence[int]) -> list[Path]:
    """The files :func:`write_genepattern_files` writes into ``directory``."""
    directory = Path(directory)
    return [directory / "membership.gct", *(directory / f"consensus.k.{int(k)}.gct" for k in sorted(ranks))]


def write_genepattern_files(adata: ad.AnnData, directory: str | Path, *, key: str = "nmf") -> list[Path]:
    """``membership.gct`` and ``consensus.k.<k>.gct`` of every rank (:func:`bionmf.io.write_genepattern`)."""
    return write_genepattern(adata, directory, key=key)


def write_program_genes(adata: ad.AnnData, paths: Mapping[str, str | Path], *, key: str = "nmf",
                        n_top: int = 50) -> None:
    """The chosen rank's program gene tables (:func:`bionmf.tl.program_genes`): ``zscore`` and
    ``expression`` (genes x programs, every gene) and ``top_genes`` (the ``n_top`` genes of
    highest z-score per program), each to ``paths[name]`` as TSV."""
    from ..tl import program_genes

    missing = [name for name in PROGRAM_GENE_TABLES if name not in paths]
    if missing:
        raise ValueError(f"write_program_genes: no output path for {missing}")
    result = sharing_matrices(adata)
    program_genes(result, key=key, n_top=n_top)
    base = f"{key}_genes"
    k = result.varm[f"{base}_zscore"].shape[1]
    columns = pd.Index([f"program_{a}" for a in range(k)], name="gene")
    index = pd.Index(result.var_names, name="gene")
    for name in ("zscore", "expression"):
        pd.DataFrame(result.varm[f"{base}_{name}"], index=index, columns=columns).to_csv(paths[name], sep="\t")
    result.uns[base]["top_genes"].to_csv(paths["top_genes"], sep="\t", index=False)


def best_runs(chunks: Sequence[RankRuns]) -> dict[int, int]:
    """The run of lowest objective of each rank, from the runs of all its chunks."""
    by_rank: dict[int, list[RankRuns]] = {}
    for chunk in chunks:
        by_rank.setdefault(chunk.rank, []).append(chunk)
    return {k: int(RankRuns.merge(parts).best_run) for k, parts in sorted(by_rank.items())}


def write_convergence(adata: ad.AnnData, table_path: str | Path, plot_path: str | Path | None, *,
                      key: str = "nmf", runs: Mapping[int, int] | None = None) -> None:
    """The objective of the best run of every rank at every check (:func:`bionmf.tl.convergence`),
    as a TSV (``rank``, ``run``, ``iteration``, ``objective``) and, with ``plot_path``, the plot
    (:func:`bionmf.pl.convergence`). ``runs``: the run of each rank (default: the survey's
    recorded best runs)."""
    from ..tl import convergence

    result = sharing_matrices(adata)
    convergence(result, key=key, runs=runs)
    record = result.uns[f"{key}_convergence"]
    record["trace"].to_csv(table_path, sep="\t", index=False)
    if plot_path is not None:
        from .plots import _save

        _save(lambda pl: pl.convergence(result, key=f"{key}_convergence"), plot_path)


__all__ = [
    "PROGRAM_GENE_TABLES",
    "best_runs",
    "genepattern_files",
    "write_convergence",
    "write_genepattern_files",
    "write_program_genes",
]
