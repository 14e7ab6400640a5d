"""The sample-cluster plot: samples in a 2-D embedding by consensus cluster, and their metagene mix."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import _utils as U
from ._metagenes import RAW_SCALE_MAX, sample_layout

MAX_BARS = 600  # above this many samples the proportions are drawn as stepped bands, not bars


def embedding(adata: ad.AnnData, basis: str) -> tuple[np.ndarray, str, str]:
    """The first two coordinates of ``obsm[basis]`` (``"pca"`` finds ``X_pca``), or a PCA of log1p X.

    The PCA is computed here (scanpy's ``pp.pca`` on log1p of raw-scale data, else on X as is)
    and not stored, so plotting leaves ``adata`` unchanged.
    """
    for name in (basis, f"X_{basis}"):
        if name in adata.obsm:
            coords = np.asarray(adata.obsm[name])
            if coords.ndim != 2 or coords.shape[1] < 2:
                raise ValueError(f"obsm[{name!r}] needs at least 2 columns, has shape {coords.shape}")
            return coords[:, :2], name.removeprefix("X_").upper(), ""
    if basis not in ("pca", "X_pca"):
        raise ValueError(f"basis {basis!r}: adata.obsm has neither {basis!r} nor 'X_{basis}'; keys: {list(adata.obsm)}")
    import scanpy as sc

    X = adata.X
    big = (X.max() if sp.issparse(X) else np.max(X)) > RAW_SCALE_MAX
    if big:
        X = X.log1p() if sp.issparse(X) else np.log1p(np.asarray(X, dtype=np.float64))
    n_comps = min(2, min(adata.shape) - 1)
    coords = sc.pp.pca(X.astype(np.float32) if not sp.issparse(X) else X.astype(np.float32), n_comps=n_comps)
    return np.asarray(coords)[:, :2], "PC", " (PCA of log1p X)" if big else " (PCA of X)"


def clusters(
    adata: ad.AnnData,
    *,
    basis: str = "pca",
    rank: int | None = None,
    key: str = "nmf",
    proportions: bool = True,
    size: float | None = None,
    ax: Axes | None = None,
    show: bool = False,
    save: str | Path | None = None,
) -> Figure | Axes:
    """Samples in a 2-D embedding coloured by consensus cluster, with their metagene proportions.

    Left: each sample at its embedding coordinates, coloured by consensus cluster; marker size
    and opacity grow with membership strength, the proportion of the sample's modelled
    expression coming from its cluster's metagene (weak, mixed samples are small and pale).
    Right (``proportions=True``): one stacked bar per sample of its metagene proportions,
    samples grouped by cluster, strongest members first, in the same colours (stepped bands
    of the same values above 600 samples, which draw much faster). Above ``MAX_DRAWN_SAMPLES``
    (20,000) samples, both panels draw that many, evenly spaced in the cluster-then-strength
    order (a PCA computed here is of those); the legend counts all samples.

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran, or onto which :func:`bionmf.tl.project`
        projected a reference (``key`` its ``key_added``: clusters are the largest usages).
    basis
        ``obsm`` key (``"umap"`` finds ``X_umap``); default PCA, computed if ``X_pca`` is absent.
    rank
        A surveyed rank; default the chosen one.
    key
        ``key_added`` of the survey or projection.
    proportions
        Add the stacked bar panel.
    size
        Largest marker area (default: from the number of samples).
    ax
        Draw the scatter into this Axes (only with ``proportions=False``).
    show, save
        Call ``plt.show()``; save the figure (format from the suffix).

    Returns
    -------
    The Figure (axes labelled ``"embedding"`` and ``"proportions"``), or ``ax`` when given.
    """
    survey, k, clusters_, P, strength, order = sample_layout(adata, key, rank)
    if ax is not None and proportions:
        raise ValueError("ax= holds one panel: pass proportions=False with it")
    n = adata.n_obs
    counts = np.bincount(clusters_, minlength=k)
    drawn = U.drawn_samples(order)
    shown = adata
    if drawn.size < n:
        # a stratified subsample: evenly spaced along the cluster-then-strength order, so every
        # cluster and strength level keeps its share; an embedding computed here uses only these
        cells = np.sort(drawn)
        shown = adata[cells]
        clusters_, P, strength = clusters_[cells], P[cells], strength[cells]
        order = np.searchsorted(cells, drawn)
    coords, axis_name, note = embedding(shown, basis)
    palette = U.cluster_palette(k)
    m = shown.n_obs
    size = (120.0 if m <= 100 else 40.0 if m <= 1000 else 12.0) if size is None else float(size)

    if ax is None:
        if proportions:
            fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.0, 1.5]})
        else:
            fig, ax = plt.subplots(figsize=(6, 5.2))
    fig = ax.figure
    # weakest first, so strong members are drawn on top
    draw = np.argsort(strength, kind="stable")
    colors = np.array([(*palette[c], 1.0) for c in clusters_])
    floor = 1.0 / k  # a sample split evenly between metagenes
    rel = np.clip((strength - floor) / (1.0 - floor), 0.0, 1.0)
    colors[:, 3] = 0.25 + 0.75 * rel
    ax.scatter(coords[draw, 0], coords[draw, 1], s=size * (0.2 + 0.8 * rel[draw]), c=colors[draw],
               edgecolors="none")
    ax.set_xlabel(f"{axis_name} 1{note}")
    ax.set_ylabel(f"{axis_name} 2")
    kind = "Projected clusters (largest usage)" if survey.get("kind") == "projection" else "Consensus clusters"
    drawn_note = "" if m == n else f", {m} drawn"
    ax.set_title(f"{kind}, rank {k} ({n} samples{drawn_note})", fontsize=11)
    ax.set_label("embedding")
    handles = [Line2D([], [], marker="o", ls="none", color=palette[a], ms=7,
                      label=f"cluster {a} ({int(counts[a])})") for a in range(k)]
    handles += [Line2D([], [], marker="o", ls="none", color="0.3", ms=ms, alpha=al, label=lab)
                for ms, al, lab in ((3.5, 0.35, "weak member"), (7.5, 1.0, "strong member"))]
    ax.legend(handles=handles, loc="best", fontsize=8, frameon=True, framealpha=0.8)

    if not proportions:
        return U.finish(ax, show=show, save=save)

    x = np.arange(m)
    bottom = np.zeros(m)
    for a in range(k):
        if m <= MAX_BARS:
            bx.bar(x, P[order, a], bottom=bottom, width=1.0, color=palette[a], label=f"metagene {a}", lw=0)
        else:  # one bar patch per sample gets slow for thousands of cells: one stepped band per metagene
            bx.fill_between(x, bottom, bottom + P[order, a], step="mid", color=palette[a], label=f"metagene {a}",
                            lw=0)
        bottom += P[order, a]
    bx.set_xlim(-0.5, m - 0.5)
    bx.set_ylim(0, 1)
    bx.set_ylabel("metagene proportion")
    bx.set_label("proportions")
    U.sample_ticks(bx, shown.obs_names[order].astype(str), axis="x")
    bounds = np.flatnonzero(np.diff(clusters_[order])) + 0.5
    for b in bounds:
        bx.axvline(b, color="black", lw=1.0)
    starts = np.concatenate([[0], np.ceil(bounds).astype(int), [m]])
    for s, e in zip(starts[:-1], starts[1:]):
        # name wide groups in full, narrow ones by number, and leave slivers unnamed so labels never collide
        width = (e - s) / m
        if width >= 0.025:
            text = f"cluster {clusters_[order][s]}" if width >= 0.12 else str(clusters_[order][s])
            bx.text((s + e - 1) / 2, 1.01, text, ha="center", va="bottom", fontsize=8,
                    transform=bx.get_xaxis_transform())
    bx.set_xlabel("samples, grouped by consensus cluster" + ("" if m == n else f" ({m} of {n}, evenly spaced)"))
    bx.set_title("Metagene proportions per sample", fontsize=11, pad=16)
    bx.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return U.finish(fig, show=show, save=save)
