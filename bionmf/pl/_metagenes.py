"""Metagene plots: the coefficients H per sample (coefmap), the basis W of the signature genes
(basismap) and the expression of each metagene's signature genes (signatures)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp
from matplotlib.figure import Figure

from ..core import features as F
from ..tl import compute_signatures
from .._survey_record import survey_rank
from . import _utils as U

RAW_SCALE_MAX = 50.0  # data whose maximum exceeds this are taken as raw scale and log1p-transformed
MAX_GENE_LABELS = 120  # the signature heatmap names its genes up to this many rows


def sample_layout(adata: ad.AnnData, key: str, rank: int | None):
    """Survey, rank, consensus clusters, metagene proportions and the cluster-then-strength order."""
    survey, k = survey_rank(adata, key, rank)
    clusters = np.asarray(survey["clusters"][str(k)])
    P = U.metagene_proportions(survey["basis"][str(k)], survey["coefficients"][str(k)])
    # projected observations without signal (cluster -1) have even proportions: drawn as the
    # weakest members of the first cluster rather than dropped, so every observation is shown
    clusters = np.where(clusters < 0, 0, clusters)
    strength = P[np.arange(P.shape[0]), clusters]
    return survey, k, clusters, P, strength, U.cluster_order(clusters, strength)


def signature_table(
    adata: ad.AnnData, *, key: str, rank: int, signatures: str | None, n_genes: int
) -> tuple[pd.DataFrame, str]:
    """The first ``n_genes`` genes of each metagene's signature at ``rank``.

    Read from ``uns[signatures]`` (default ``f"{key}_signatures"``) when it holds this rank;
    otherwise computed, leaving ``adata`` untouched, with the Kim & Park method or, when that
    selects no gene at all, the top genes by loading. Also returns the method used.
    """
    name = f"{key}_signatures" if signatures is None else signatures
    stored = adata.uns.get(name)
    if stored is not None and int(stored["params"]["rank"]) == rank and stored["params"]["key"] == key:
        table, method = stored["table"], stored["params"]["method"]
        if table.empty:
            raise ValueError(
                f"uns[{name!r}] holds no signature gene (method {method!r}); run bionmf.tl.signatures with "
                "method='contribution' or 'loading'"
            )
    elif signatures is not None and stored is None:
        raise ValueError(f"adata.uns has no {signatures!r}; run bionmf.tl.signatures(adata, key_added={signatures!r})")
    else:
        table, method = compute_signatures(adata, rank=rank, key=key, method="kim")["table"], "kim"
        if table.empty:
            table = compute_signatures(adata, rank=rank, key=key, method="loading", n_top=n_genes)["table"]
            method = "loading"
    table = table.sort_values(["metagene", "order"])
    return table[table["order"] <= n_genes], method


def gene_labels(adata: ad.AnnData, genes, gene_symbols: str | None) -> list[str]:
    if gene_symbols is None:
        return [str(g) for g in genes]
    if gene_symbols not in adata.var.columns:
        raise ValueError(f"gene_symbols: adata.var has no column {gene_symbols!r}")
    return [str(s) for s in adata.var.loc[list(genes), gene_symbols]]


def metagenes(
    adata: ad.AnnData,
    *,
    rank: int | None = None,
    key: str = "nmf",
    annotate: Sequence[str] | str | None = None,
    signatures: str | None = None,
    n_genes: int = 20,
    gene_symbols: str | None = None,
    cmap: str = "YlOrRd",
    show: bool = False,
    save: str | Path | None = None,
) -> Figure:
    """Coefficients H over samples (coefmap) above the basis W of the signature genes (basismap).

    Top: each sample's metagene proportions (the share of its modelled expression coming from
    each metagene; columns sum to 1), samples grouped by consensus cluster and, within a
    cluster, by the proportion of the cluster's metagene; tracks show the cluster and any
    ``obs`` column. Bottom: for the first ``n_genes`` signature genes of every metagene, the
    share of the gene's loading held by each metagene, genes grouped by metagene. Both panels
    have metagenes as rows, so a clean result looks block-diagonal in each. Above
    ``MAX_DRAWN_SAMPLES`` (20,000) samples, that many are drawn, evenly spaced in the plotted
    order.

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran, or onto which :func:`bionmf.tl.project`
        projected a reference (``key`` its ``key_added``: the usages and argmax clusters).
    rank
        A surveyed rank; default the chosen one.
    key
        ``key_added`` of the survey or projection.
    annotate
        ``obs`` column(s) to draw as tracks over the samples.
    signatures
        ``key_added`` of :func:`bionmf.tl.signatures` to take genes from (default
        ``f"{key}_signatures"`` when it holds this rank, else the Kim & Park selection computed
        here, or the top genes by loading when Kim & Park selects none).
    n_genes
        Signature genes per metagene in the basismap.
    gene_symbols
        ``var`` column to label genes with (default: var names).
    cmap
        Colour map of both panels (values 0 to 1).
    show, save
        Call ``plt.show()``; save the figure (format from the suffix).

    Returns
    -------
    The Figure; axes labelled ``"heatmap:coef"`` (image: proportions, metagenes x samples in
    plotted order), ``"heatmap:basis"``, ``"track:<name>"``, ``"colorbar:<label>"``, ``"legend:<name>"``.
    """
    survey, k, clusters, P, strength, order = sample_layout(adata, key, rank)
    columns = U.check_obs_columns(adata, annotate)
    table, method = signature_table(adata, key=key, rank=k, signatures=signatures, n_genes=n_genes)
    W = np.asarray(survey["basis"][str(k)], dtype=np.float64)
    gene_idx = adata.var_names.get_indexer(table["gene"])
    shares = F.shares(F.scale_basis(W[W.sum(axis=1) > 0]))
    fitted_pos = np.cumsum(W.sum(axis=1) > 0) - 1
    B = shares[fitted_pos[gene_idx]].T  # k x genes

    tracks = [U.cluster_track(clusters, k, "consensus cluster")] + U.obs_tracks(adata, columns)
    n, g = adata.n_obs, len(table)
    order = U.drawn_samples(order)
    fig = plt.figure(figsize=(11, 2.2 + 0.45 * k * 2 + 0.25 * len(tracks) + (1.2 if g <= U.MAX_TICK_LABELS else 0.3)
                              + (1.0 if n <= U.MAX_TICK_LABELS else 0.3)))
    heights = [0.25] * len(tracks) + [0.45 * k, 1.6 if n <= U.MAX_TICK_LABELS else 0.5, 0.45 * k]
    gs = fig.add_gridspec(len(heights), 4, height_ratios=heights, width_ratios=[8.0, 0.18, 1.0, 1.8],
                          hspace=0.08, wspace=0.05)
    for i, track in enumerate(tracks):
        track.draw(fig.add_subplot(gs[i, 0]), order)
    U.side_legends(fig, gs[:, 3], tracks)
    row_labels = [f"metagene {a}" for a in range(k)]

    ax_h = fig.add_subplot(gs[len(tracks), 0])
    im = ax_h.imshow(P[order].T, aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax_h.set_label(f"{U.HEATMAP}:coef")
    ax_h.set_yticks(np.arange(k))
    ax_h.set_yticklabels(row_labels, fontsize=8)
    U.sample_ticks(ax_h, adata.obs_names[order].astype(str), axis="x")
    ax_h.set_xlabel(f"samples, grouped by consensus cluster ({n}{_drawn_note(order, n)})", fontsize=9)
    U.colorbar(fig, im, fig.add_subplot(gs[len(tracks), 1]), "metagene proportion")
    fig.axes[0].set_title(f"Coefficients H (coefmap), rank {k}", fontsize=11, loc="left", pad=8)

    ax_w = fig.add_subplot(gs[len(tracks) + 2, 0])
    im = ax_w.imshow(B, aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax_w.set_label(f"{U.HEATMAP}:basis")
    ax_w.set_yticks(np.arange(k))
    ax_w.set_yticklabels(row_labels, fontsize=8)
    U.sample_ticks(ax_w, gene_labels(adata, table["gene"], gene_symbols), axis="x")
    counts = table.groupby("metagene", observed=False).size()
    for b in np.cumsum(counts.to_numpy())[:-1]:
        ax_w.axvline(b - 0.5, color="black", lw=0.8)
    ax_w.set_title(f"Basis W (basismap): top {n_genes} signature genes per metagene ({method})",
                   fontsize=11, loc="left")
    ax_w.set_xlabel(f"signature genes, grouped by metagene ({g})", fontsize=9)
    U.colorbar(fig, im, fig.add_subplot(gs[len(tracks) + 2, 1]), "share of gene's loading")
    return U.finish(fig, show=show, save=save)


def signatures(
    adata: ad.AnnData,
    *,
    rank: int | None = None,
    key: str = "nmf",
    signatures: str | None = None,
    n_genes: int = 20,
    annotate: Sequence[str] | str | None = None,
    layer: str | None = None,
    log1p: bool | None = None,
    gene_symbols: str | None = None,
    vmax: float = 2.5,
    cmap: str = "RdBu_r",
    show: bool = False,
    save: str | Path | None = None,
) -> Figure:
    """Expression of each metagene's signature genes over samples ordered by consensus cluster.

    Rows: the first ``n_genes`` signature genes of each metagene, grouped by metagene (left
    track). Columns: samples grouped by consensus cluster, strongest members first (top
    tracks). Values: expression standardized per gene (z-score over samples, clipped at
    +-``vmax``), after log1p when the data are on a raw scale. A good signature shows a
    block of high expression where its metagene's cluster is. Above ``MAX_DRAWN_SAMPLES``
    (20,000) samples, that many are drawn, evenly spaced in the plotted order, still
    standardized over all samples (read a block at a time: nothing samples x genes is made).

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran.
    rank
        A surveyed rank; default the chosen one.
    key
        ``key_added`` of the survey.
    signatures
        ``key_added`` of :func:`bionmf.tl.signatures` (default: ``f"{key}_signatures"`` when
        it holds this rank, else the Kim & Park selection computed here, or the top genes by
        loading when Kim & Park selects none).
    n_genes
        Genes per metagene.
    annotate
        ``obs`` column(s) to draw as tracks.
    layer
        Expression from ``adata.layers[layer]`` instead of ``adata.X``.
    log1p
        Apply log1p before standardizing; default: when the maximum exceeds 50 (counts or
        intensities rather than log values).
    gene_symbols
        ``var`` column to label genes with.
    vmax
        z-scores are clipped to [-vmax, vmax].
    cmap
        Diverging colour map.
    show, save
        Call ``plt.show()``; save the figure (format from the suffix).

    Returns
    -------
    The Figure; axes labelled ``"heatmap"`` (image: z-scores, genes x samples in plotted
    order), ``"track:<name>"`` (samples), ``"track:metagene"`` (genes), ``"colorbar:<label>"``.
    """
    survey, k, clusters, P, strength, order = sample_layout(adata, key, rank)
    columns = U.check_obs_columns(adata, annotate)
    table, method = signature_table(adata, key=key, rank=k, signatures=signatures, n_genes=n_genes)
    if layer is not None and layer not in adata.layers:
        raise ValueError(f"layer {layer!r} not found; adata.layers has {list(adata.layers)}")
    X = adata.X if layer is None else adata.layers[layer]
    gene_idx = adata.var_names.get_indexer(table["gene"])
    drawn = U.drawn_samples(order)
    if drawn.size == order.size:
        E = _expression(X, gene_idx, None, False)
        if log1p is None:
            log1p = float(np.nanmax(E)) > RAW_SCALE_MAX if E.size else False
        if log1p:
            E = np.log1p(np.clip(E, 0, None))
        mean, sd = E.mean(axis=0), E.std(axis=0)
        E = E[order]
    else:  # standardized over all samples, a block at a time; only the drawn samples made dense
        shown = np.sort(drawn)
        E, log1p, mean, sd = _drawn_expression(X, gene_idx, shown, log1p)
        E = E[np.searchsorted(shown, drawn)]
        order = drawn
    Z = np.divide(E - mean, sd, out=np.zeros_like(E), where=sd > 0)
    Z = np.clip(Z, -vmax, vmax).T  # genes x samples, plotted order

    tracks = [U.cluster_track(clusters, k, "consensus cluster")] + U.obs_tracks(adata, columns)
    g = Z.shape[0]
    # rows are given the height a label needs, so gene names stay readable up to MAX_GENE_LABELS
    label_genes = g <= MAX_GENE_LABELS
    heat_h = max(3.0, min(0.14 * g, 14.0))
    names = gene_labels(adata, table["gene"], gene_symbols)
    # room for the gene names: about 0.06 inch per character at 7 points
    label_w = 0.06 * max(len(t) for t in names) + 0.3 if label_genes else 0.05
    fig = plt.figure(figsize=(10.5 + label_w, heat_h + 0.25 * len(tracks) + 1.6))
    heights = [0.25] * len(tracks) + [heat_h]
    # columns: gene track, heatmap, gene names, colour bar and legends
    gs = fig.add_gridspec(len(heights), 4, height_ratios=heights,
                          width_ratios=[0.18, 8.0, label_w, 1.8], hspace=0.06, wspace=0.04)
    for i, track in enumerate(tracks):
        track.draw(fig.add_subplot(gs[i, 1]), order)
    gene_meta = U.cluster_track(table["metagene"].astype(int).to_numpy(), k, "metagene")
    gax = fig.add_subplot(gs[-1, 0])
    gene_meta.draw(gax, np.arange(g), vertical=True)
    side = gs[:, 3].subgridspec(2, 1, height_ratios=[1.0, 3.0], hspace=0.15)
    U.side_legends(fig, side[1], [*tracks, gene_meta])

    ax = fig.add_subplot(gs[-1, 1])
    im = ax.imshow(Z, aspect="auto", cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_label(U.HEATMAP)
    U.sample_ticks(ax, adata.obs_names[order].astype(str), axis="x")
    if label_genes:
        ax.yaxis.tick_right()
        ax.set_yticks(np.arange(g))
        ax.set_yticklabels(names, fontsize=7)
    else:
        ax.set_yticks([])
    counts = table.groupby("metagene", observed=False).size()
    for b in np.cumsum(counts.to_numpy())[:-1]:
        ax.axhline(b - 0.5, color="black", lw=0.8)
    for b in np.flatnonzero(np.diff(clusters[order])) + 0.5:
        ax.axvline(b, color="black", lw=0.8)
    ax.set_xlabel(f"samples, grouped by consensus cluster ({adata.n_obs}{_drawn_note(order, adata.n_obs)})",
                  fontsize=9)
    cax = side[0].subgridspec(2, 1, height_ratios=[0.25, 1.0])[0]
    U.colorbar(fig, im, fig.add_subplot(cax), "z-score" + (" of log1p" if log1p else ""), orientation="horizontal")
    fig.axes[0].set_title(
        f"Signature genes, rank {k}: top {n_genes} per metagene by {method} ({g} genes x {adata.n_obs} samples)",
        fontsize=11, loc="left", pad=8,
    )
    return U.finish(fig, show=show, save=save)


def _drawn_note(order: np.ndarray, n: int) -> str:
    return "" if len(order) == n else f"; {len(order)} drawn, evenly spaced"


def _expression(X, genes: np.ndarray, rows, log1p: bool) -> np.ndarray:
    """Dense float64 expression of ``genes`` in ``rows`` (None: all samples), after log1p when
    ``log1p``."""
    E = X[:, genes] if rows is None else X[rows][:, genes]
    E = E.toarray() if sp.issparse(E) else np.asarray(E, dtype=np.float64)
    E = E.astype(np.float64)
    return np.log1p(np.clip(E, 0, None)) if log1p else E


def _drawn_expression(X, genes: np.ndarray, drawn: np.ndarray, log1p: bool | None, block: int = 50_000):
    """Expression of ``genes`` in the ``drawn`` samples (sorted indices), and the per-gene mean and
    standard deviation over all samples, computed a block of samples at a time (two passes), so
    that no samples x genes array larger than a block is made. Returns (E, log1p, mean, sd)."""
    blocks = [slice(a, min(a + block, X.shape[0])) for a in range(0, X.shape[0], block)]
    if log1p is None:
        top = max((float(np.nanmax(_expression(X, genes, b, False))) for b in blocks), default=0.0)
        log1p = top > RAW_SCALE_MAX
    total = sum(_expression(X, genes, b, log1p).sum(axis=0) for b in blocks)
    mean = total / X.shape[0]
    spread = sum(((_expression(X, genes, b, log1p) - mean) ** 2).sum(axis=0) for b in blocks)
    return _expression(X, genes, drawn, log1p), log1p, mean, np.sqrt(spread / X.shape[0])
