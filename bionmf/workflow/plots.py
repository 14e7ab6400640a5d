"""The workflow's plots: :mod:`bionmf.pl` figures of a finished survey, saved to files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import pandas as pd

from ..core import consensus_kind
from .jobs import sharing_matrices


#: Plots of the whole survey drawn by :func:`plot_survey`, by output name (either consensus).
SURVEY_PLOTS = ("rank_metrics", "metagenes", "signatures", "clusters")


def annotation_columns(adata: ad.AnnData, *, key: str = "nmf", max_categories: int = 20) -> list[str]:
    """Categorical ``obs`` columns (sample annotation) worth a track beside the clusters."""
    columns = []
    for name, values in adata.obs.items():
        if name == f"{key}_cluster" or not isinstance(values.dtype, pd.CategoricalDtype):
            continue
        if 1 < len(values.cat.categories) <= max_categories:
            columns.append(str(name))
    return columns


def plot_consensus(adata: ad.AnnData, path: str | Path, *, rank: int, key: str = "nmf") -> None:
    """Consensus heatmap of one rank (:func:`bionmf.pl.consensus`) saved to ``path``."""
    _save(lambda pl: pl.consensus(adata, rank=rank, key=key, annotate=annotation_columns(adata, key=key)), path)


def plot_consensus_grid(adata: ad.AnnData, path: str | Path, *, key: str = "nmf") -> None:
    """The consensus matrices of every rank side by side (:func:`bionmf.pl.consensus_grid`)."""
    _save(lambda pl: pl.consensus_grid(adata, key=key), path)


def plot_survey(
    adata: ad.AnnData, paths: Mapping[str, str | Path], *, signatures: Mapping, key: str = "nmf"
) -> None:
    """The plots of :data:`SURVEY_PLOTS`, each saved to ``paths[name]``.

    The rank-metric panels are the consensus kind's (:attr:`bionmf.core.ConsensusKind.plot_metrics`).
    Signature genes at the chosen rank are selected with the config's ``signatures`` options
    (:func:`bionmf.tl.signatures`), so the plots show the genes of the signature files.
    """
    from ..tl import signatures as select_signatures

    missing = [name for name in SURVEY_PLOTS if name not in paths]
    if missing:
        raise ValueError(f"plot_survey: no output path for {missing}")
    adata = sharing_matrices(adata)
    select_signatures(adata, key=key, **dict(signatures))
    annotate = annotation_columns(adata, key=key)
    panels = consensus_kind(adata.uns[key]["params"]["consensus"]).plot_metrics
    metric_kw = {} if panels is None else {"metrics": panels}
    draw = {
        "rank_metrics": lambda pl: pl.rank_metrics(adata, key=key, **metric_kw),
        "metagenes": lambda pl: pl.metagenes(adata, key=key, annotate=annotate),
        "signatures": lambda pl: pl.signatures(adata, key=key, annotate=annotate),
        "clusters": lambda pl: pl.clusters(adata, key=key),
    }
    for name in SURVEY_PLOTS:
        _save(draw[name], paths[name])


def _save(draw, path: str | Path) -> None:
    """Draw with ``draw(bionmf.pl)`` on the non-interactive backend, save, close."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import pl

    result = draw(pl)
    figure = result if hasattr(result, "savefig") else result.figure
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
