"""Consensus heatmaps: one rank in detail (``consensus``), every rank side by side (``consensus_grid``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..core.consensus import consensus_linkage
from ..core.metrics import silhouette_samples
from . import _utils as U


def consensus(
    adata: ad.AnnData,
    *,
    rank: int | None = None,
    annotate: Sequence[str] | str | None = None,
    key: str = "nmf",
    silhouette: bool = True,
    cmap: str = U.CONSENSUS_CMAP,
    figsize: tuple[float, float] | None = None,
    show: bool = False,
    save: str | Path | None = None,
) -> Figure:
    """Consensus matrix of one rank, ordered by its average-linkage tree, with annotation tracks.

    Samples are ordered by the leaves of the average-linkage tree of 1 - C (the tree the
    consensus clusters and the cophenetic correlation come from), drawn above the heatmap.
    Tracks under the tree show the consensus cluster of each sample, its silhouette width in
    the consensus (1 - C as distance) and any ``obs`` column (e.g. the known class), so a glance
    tells whether the blocks are clean and whether they match the known classes. White lines
    separate the clusters.

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran.
    rank
        A surveyed rank; default the chosen one.
    annotate
        ``obs`` column(s) to draw as tracks (categorical: legend; numeric: colour bar).
    key
        ``key_added`` of the survey.
    silhouette
        Draw the silhouette track.
    cmap
        Colour map of the consensus values (0 to 1).
    figsize
        Figure size in inches; default grows with the number of tracks.
    show
        Call ``plt.show()``.
    save
        Also save the figure there (format from the suffix: .png, .pdf, .svg, ...).

    Returns
    -------
    The Figure. Its axes are labelled by role: ``"heatmap"`` (its image is C in the plotted
    order), ``"dendrogram"``, ``"track:<name>"``, ``"colorbar:<name>"``, ``"legend:<name>"``.
    """
    survey, k = U.consensus_survey(adata, key, rank)
    columns = U.check_obs_columns(adata, annotate)
    C = np.asarray(survey["consensus"][str(k)], dtype=np.float64)
    clusters = np.asarray(survey["clusters"][str(k)])
    Z = consensus_linkage(C)
    order = U.tree_order(Z)
    n = C.shape[0]

    tracks = [U.cluster_track(clusters, k, "consensus cluster")]
    if silhouette:
        tracks.append(U.Track("silhouette", silhouette_samples(1.0 - C, clusters), cmap="RdBu", vmin=-1, vmax=1))
    tracks += U.obs_tracks(adata, columns)

    show_names = n <= U.MAX_TICK_LABELS
    track_h = 0.22
    heat = 6.0
    if figsize is None:
        names_room = 1.1 if show_names else 0.0
        figsize = (heat + 2.6 + names_room, heat + 1.2 + track_h * len(tracks) + names_room)
    fig = plt.figure(figsize=figsize)
    heights = [1.0] + [track_h] * len(tracks) + [heat]
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights, width_ratios=[heat, 2.2],
                          hspace=0.06, wspace=0.05)

    ax_d = fig.add_subplot(gs[0, 0])
    U.draw_tree(ax_d, Z, order)
    ax_d.axis("off")
    ax_d.set_label(U.DENDROGRAM)
    coph = survey["metrics"].loc[k, "cophenetic"]
    n_runs = int(survey["metrics"].loc[k, "n_runs"])
    ax_d.set_title(f"Consensus matrix, rank {k}: cophenetic {coph:.3f}, {n_runs} runs, {n} samples",
                   fontsize=11, loc="left")

    for i, track in enumerate(tracks):
        track.draw(fig.add_subplot(gs[1 + i, 0]), order)

    ax = fig.add_subplot(gs[-1, 0])
    im = ax.imshow(C[np.ix_(order, order)], cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_label(U.HEATMAP)
    names = adata.obs_names[order].astype(str)
    U.sample_ticks(ax, names, axis="x")
    U.sample_ticks(ax, names, axis="y")
    if not show_names:
        ax.set_xlabel(f"{n} samples (tree order)")
        ax.set_ylabel(f"{n} samples (tree order)")
    # clusters are cut from this tree, so each is a contiguous run of leaves
    bounds = np.flatnonzero(np.diff(clusters[order])) + 0.5
    for b in bounds:
        ax.axvline(b, color="white", lw=1.2)
        ax.axhline(b, color="white", lw=1.2)

    side = gs[1:, 1].subgridspec(2, 1, height_ratios=[1.0, 3.0], hspace=0.1)
    cax = side[0].subgridspec(1, 3, width_ratios=[0.12, 0.9, 1.0])[0, 0]
    U.colorbar(fig, im, fig.add_subplot(cax), "consensus")
    U.side_legends(fig, side[1], tracks)
    return U.finish(fig, show=show, save=save)


def consensus_grid(
    adata: ad.AnnData,
    *,
    ranks: Sequence[int] | None = None,
    key: str = "nmf",
    ncols: int | None = None,
    cmap: str = U.CONSENSUS_CMAP,
    panel_size: float = 2.6,
    show: bool = False,
    save: str | Path | None = None,
) -> Figure:
    """One small consensus heatmap per rank, side by side, each ordered by its own tree.

    Crisp dark blocks on a light background mean a stable rank; smeared, grey blocks mean runs
    disagree. Each panel is titled with its rank and cophenetic correlation; the chosen rank's
    title is bold and marked "chosen". A cluster strip above each panel shows its clusters.

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran.
    ranks
        Ranks to show (default: all surveyed).
    key
        ``key_added`` of the survey.
    ncols
        Panels per row (default: up to 5).
    cmap
        Colour map of the consensus values.
    panel_size
        Width of one panel in inches.
    show, save
        As for :func:`consensus`.

    Returns
    -------
    The Figure; axes labelled ``"heatmap:<rank>"``, ``"track:<rank>"`` and ``"colorbar:consensus"``.
    """
    survey, chosen = U.consensus_survey(adata, key, None)
    surveyed = sorted(int(r) for r in survey["consensus"])
    ranks = surveyed if ranks is None else [int(r) for r in ranks]
    missing = [r for r in ranks if r not in surveyed]
    if missing or not ranks:
        raise ValueError(f"ranks {missing or ranks} not surveyed under uns[{key!r}]; surveyed ranks: {surveyed}")
    ncols = min(len(ranks), 5) if ncols is None else int(ncols)
    nrows = -(-len(ranks) // ncols)
    fig = plt.figure(figsize=(panel_size * ncols + 0.8, (panel_size + 0.75) * nrows + 0.4))
    outer = fig.add_gridspec(nrows, ncols + 1, width_ratios=[1.0] * ncols + [0.08], wspace=0.12, hspace=0.35)
    metrics = survey["metrics"]
    im = None
    for i, r in enumerate(ranks):
        cell = outer[i // ncols, i % ncols].subgridspec(2, 1, height_ratios=[0.07, 1.0], hspace=0.02)
        C = np.asarray(survey["consensus"][str(r)], dtype=np.float64)
        clusters = np.asarray(survey["clusters"][str(r)])
        order = U.leaf_order(C)
        tax = fig.add_subplot(cell[0])
        U.cluster_track(clusters, r).draw(tax, order)
        tax.set_ylabel("")
        tax.set_label(f"{U.TRACK}:{r}")
        ax = fig.add_subplot(cell[1])
        im = ax.imshow(C[np.ix_(order, order)], cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_label(f"{U.HEATMAP}:{r}")
        is_chosen = r == chosen
        title = f"k = {r}{'  (chosen)' if is_chosen else ''}\ncophenetic {metrics.loc[r, 'cophenetic']:.3f}"
        tax.set_title(title, fontsize=10, fontweight="bold" if is_chosen else "normal")
        if is_chosen:
            for spine in ax.spines.values():
                spine.set_edgecolor("black")
                spine.set_linewidth(2.0)
    cax = fig.add_subplot(outer[0, ncols])
    U.colorbar(fig, im, cax, "consensus")
    fig.suptitle(f"Consensus matrices by rank ({adata.n_obs} samples)", fontsize=12, y=1.0, va="bottom")
    return U.finish(fig, show=show, save=save)
