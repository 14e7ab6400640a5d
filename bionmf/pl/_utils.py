"""Pieces shared by the plots: survey access, sample orderings, palettes, annotation tracks, output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster.hierarchy import leaves_list

from ..core.consensus import consensus_linkage
from .._survey_record import survey_rank

# label of every axes the plots draw, so callers (and tests) can find a panel by role
HEATMAP, DENDROGRAM, TRACK, COLORBAR, LEGEND = "heatmap", "dendrogram", "track", "colorbar", "legend"

CONSENSUS_CMAP = "rocket_r"  # light for 0, dark for 1: stable blocks stand out as dark squares
MAX_TICK_LABELS = 60  # above this many samples or genes, names would overlap: hide them
# samples drawn at most in a heatmap, a track or a scatter: a figure is a few thousand pixels wide,
# and a million columns would only cost memory and time (every plot of a million cells draws this many)
MAX_DRAWN_SAMPLES = 20_000


def drawn_samples(order: np.ndarray, limit: int | None = None) -> np.ndarray:
    """``order`` (samples in plotted order) thinned to ``limit`` (default
    :data:`MAX_DRAWN_SAMPLES`) evenly spaced samples when it is longer, so that every stretch of
    it (a cluster, from its strongest to its weakest members) keeps its share of the width;
    ``order`` itself otherwise."""
    limit = MAX_DRAWN_SAMPLES if limit is None else int(limit)
    order = np.asarray(order)
    if order.size <= limit:
        return order
    # spacing above 1: the rounded positions are distinct
    return order[np.linspace(0, order.size - 1, limit).round().astype(np.intp)]


def consensus_survey(adata: ad.AnnData, key: str, rank: int | None) -> tuple[dict, int]:
    """:func:`survey_rank` of a survey that holds consensus matrices (the sample consensus)."""
    survey, rank = survey_rank(adata, key, rank)
    if "consensus" not in survey:
        kind = survey.get("params", {}).get("consensus")
        raise ValueError(f"uns[{key!r}] holds no consensus matrices (consensus={kind!r}); they come with "
                         "bionmf.tl.nmf(..., consensus='samples')")
    return survey, rank


def leaf_order(C: np.ndarray) -> np.ndarray:
    """Leaves of the average-linkage tree of 1 - C, left to right (the consensus heatmap order)."""
    return tree_order(consensus_linkage(C))


def tree_order(Z: np.ndarray) -> np.ndarray:
    """Leaves of linkage ``Z`` left to right, as scipy's ``dendrogram`` lays them out.

    ``leaves_list`` is used rather than ``dendrogram(no_plot=True)``, which recurses once per
    tree level and overflows Python's stack on the deep trees of large, stable consensus
    matrices (thousands of cells with identical rows).
    """
    return np.asarray(leaves_list(Z))


def draw_tree(ax: Axes, Z: np.ndarray, order: np.ndarray, *, color: str = "0.25") -> None:
    """Draw linkage ``Z`` above leaves placed at x = 0..n-1 in ``order`` (aligned with heatmap cells).

    Iterative, so trees of any depth draw; every merge is a U joining its two children at the
    merge height, a node sitting midway between its children as in scipy's dendrogram.
    """
    n = Z.shape[0] + 1
    x = np.empty(2 * n - 1)
    y = np.zeros(2 * n - 1)
    x[np.asarray(order)] = np.arange(n)
    segments = []
    for i, (a, b, h, _) in enumerate(Z):
        a, b = int(a), int(b)
        x[n + i] = (x[a] + x[b]) / 2.0
        y[n + i] = h
        segments.append([(x[a], y[a]), (x[a], h), (x[b], h), (x[b], y[b])])
    ax.add_collection(LineCollection(segments, colors=color, linewidths=0.8))
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, max(float(Z[:, 2].max()) * 1.05, 1e-9) if len(Z) else 1.0)


def metagene_proportions(W: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Share of each sample's modelled expression coming from each metagene (samples x k).

    ``W`` genes x k, ``H`` samples x k (as stored). Sample i's modelled total is
    sum_a H_ia * sum_g W_ga, so the shares do not depend on how scale is split between W and H.
    """
    contrib = np.asarray(H, dtype=np.float64) * np.asarray(W, dtype=np.float64).sum(axis=0)[None, :]
    total = contrib.sum(axis=1, keepdims=True)
    return np.divide(contrib, total, out=np.full_like(contrib, 1.0 / contrib.shape[1]), where=total > 0)


def cluster_order(clusters: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Samples grouped by cluster (0, 1, ...), strongest members first within each cluster."""
    return np.lexsort((-np.asarray(strength), np.asarray(clusters)))


def cluster_palette(k: int) -> list:
    """k distinct colours for clusters/metagenes (the same in every plot)."""
    return sns.color_palette("tab10" if k <= 10 else "husl", k)


def finish(obj, *, show: bool, save: str | Path | None):
    """Save (any format matplotlib knows, from the suffix) and/or show; return ``obj``."""
    fig = obj if isinstance(obj, Figure) else obj.figure
    if save is not None:
        path = Path(save)
        if not path.parent.exists():
            raise ValueError(f"save: folder {path.parent} does not exist")
        fig.savefig(path, bbox_inches="tight", dpi=150)
    if show:
        plt.show()
    return obj


def check_obs_columns(adata: ad.AnnData, columns: Sequence[str] | str | None) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        columns = [columns]
    missing = [c for c in columns if c not in adata.obs.columns]
    if missing:
        raise ValueError(f"annotate: adata.obs has no column {missing}; columns: {list(adata.obs.columns)}")
    return list(columns)


class Track:
    """One annotation track: a value per sample, drawn as a strip of colours.

    Categorical values get a palette and a legend; numeric values a colour map and a colour bar.
    """

    def __init__(self, name: str, values, *, palette=None, cmap: str = "viridis", vmin=None, vmax=None):
        self.name = name
        values = pd.Series(values).reset_index(drop=True)
        self.categorical = (
            not pd.api.types.is_numeric_dtype(values)
            or pd.api.types.is_bool_dtype(values)
            or isinstance(values.dtype, pd.CategoricalDtype)
        )
        if self.categorical:
            cat = values.astype("category")
            self.categories = [str(c) for c in cat.cat.categories]
            self.codes = cat.cat.codes.to_numpy()  # -1 for missing
            if palette is None:
                palette = sns.color_palette("Set2" if len(self.categories) <= 8 else "husl", len(self.categories))
            self.colors = list(palette)
        else:
            self.values = values.to_numpy(dtype=np.float64)
            self.cmap = plt.get_cmap(cmap)
            finite = self.values[np.isfinite(self.values)]
            self.norm = Normalize(
                vmin=np.min(finite) if vmin is None and finite.size else vmin,
                vmax=np.max(finite) if vmax is None and finite.size else vmax,
            )

    def rgba(self, order: np.ndarray) -> np.ndarray:
        """(1, n, 4) colours of the samples in ``order`` (missing values light grey)."""
        grey = (0.9, 0.9, 0.9, 1.0)
        if self.categorical:
            table = np.array([(*c[:3], 1.0) for c in self.colors] + [grey])
            return table[self.codes[order]][None]  # code -1 picks the last row: grey
        rgba = self.cmap(self.norm(self.values[order]))
        rgba[~np.isfinite(self.values[order])] = grey
        return rgba[None]

    def draw(self, ax: Axes, order: np.ndarray, *, vertical: bool = False) -> None:
        img = self.rgba(order)
        ax.imshow(img.transpose(1, 0, 2) if vertical else img, aspect="auto", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if vertical:
            ax.set_xlabel(self.name, rotation=90, fontsize=8)
        else:
            ax.set_ylabel(self.name, rotation=0, ha="right", va="center", fontsize=8)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_label(f"{TRACK}:{self.name}")

    def colorbar(self, ax: Axes) -> None:
        """Horizontal colour bar of a numeric track in ``ax``, its name above it."""
        sm = plt.cm.ScalarMappable(norm=self.norm, cmap=self.cmap)
        cb = ax.figure.colorbar(sm, cax=ax, orientation="horizontal")
        cb.set_label(self.name, fontsize=9)
        ax.xaxis.set_label_position("top")
        cb.ax.tick_params(labelsize=7)
        ax.set_label(f"{COLORBAR}:{self.name}")


def cluster_track(labels, k: int, name: str = "cluster") -> Track:
    """Track of consensus clusters '0'..'k-1', coloured as in every other plot."""
    values = pd.Categorical([str(int(c)) for c in labels], categories=[str(a) for a in range(k)])
    return Track(name, values, palette=cluster_palette(k))


# one qualitative palette per obs track, none of them tab10 (the clusters' palette), so that a
# category of one track is never coloured like a cluster or like a category of another track
OBS_PALETTES = ("Set2", "Dark2", "Pastel1", "Accent", "Set3")
OBS_CMAPS = ("viridis", "cividis", "magma", "mako")


def obs_tracks(adata: ad.AnnData, columns: Sequence[str]) -> list[Track]:
    tracks = []
    for i, c in enumerate(columns):
        values = adata.obs[c].reset_index(drop=True)
        n_cat = values.nunique(dropna=True)
        palette = sns.color_palette(OBS_PALETTES[i % len(OBS_PALETTES)] if n_cat <= 8 else "husl", n_cat)
        tracks.append(Track(c, values, palette=palette, cmap=OBS_CMAPS[i % len(OBS_CMAPS)]))
    return tracks


def side_legends(fig: Figure, spec, tracks: Sequence[Track]) -> None:
    """Colour bars of the numeric tracks, then one legend of all categorical tracks, in ``spec``.

    The categorical tracks share a single legend (a bold heading per track), anchored at the
    top of its slot and free to grow downwards, so legends never overlap each other whatever
    the figure's height.
    """
    numeric = [t for t in tracks if not t.categorical]
    categorical = [t for t in tracks if t.categorical]
    sub = spec.subgridspec(len(numeric) + 1, 1, height_ratios=[1.0] * len(numeric) + [max(1.0, 6.0 - len(numeric))],
                           hspace=0.1)
    for i, track in enumerate(numeric):
        # a thin strip in the middle of the slot, label above it
        strip = sub[i].subgridspec(3, 2, height_ratios=[1.2, 0.6, 1.0], width_ratios=[0.8, 0.2])[1, 0]
        track.colorbar(fig.add_subplot(strip))
    ax = fig.add_subplot(sub[-1])
    ax.axis("off")
    if not categorical:
        return
    handles, bold = [], []
    for track in categorical:
        bold.append(len(handles))
        handles.append(Patch(facecolor="none", edgecolor="none", label=track.name))
        handles += [Patch(facecolor=c, label=n) for c, n in zip(track.colors, track.categories)]
    legend = ax.legend(handles=handles, loc="upper left", frameon=False, fontsize=8, borderaxespad=0,
                       handlelength=1.4, handletextpad=0.5)
    for i in bold:
        legend.get_texts()[i].set_fontweight("bold")
        legend.get_texts()[i].set_fontsize(9)
    ax.set_label(f"{LEGEND}:" + ",".join(t.name for t in categorical))


def sample_ticks(ax: Axes, names: Sequence[str], *, axis: str = "x") -> None:
    """Sample (or gene) names as tick labels when they fit; otherwise no ticks."""
    n = len(names)
    if n <= MAX_TICK_LABELS:
        size = 8 if n <= 40 else 6
        if axis == "x":
            ax.set_xticks(np.arange(n))
            ax.set_xticklabels(names, rotation=90, fontsize=size)
        else:
            ax.set_yticks(np.arange(n))
            ax.set_yticklabels(names, fontsize=size)
    elif axis == "x":
        ax.set_xticks([])
    else:
        ax.set_yticks([])


def colorbar(fig: Figure, mappable, cax: Axes, label: str, *, orientation: str = "vertical") -> None:
    cb = fig.colorbar(mappable, cax=cax, orientation=orientation)
    cb.set_label(label, fontsize=9)
    cb.ax.tick_params(labelsize=7)
    cax.set_label(f"{COLORBAR}:{label}")
