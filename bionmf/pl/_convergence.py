"""Convergence of the best run of each rank: objective against iteration."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from . import _utils as U

_LOSS_LABELS = {"kullback-leibler": "KL divergence", "frobenius": "squared Frobenius residual"}


def convergence(
    adata: ad.AnnData,
    *,
    key: str = "nmf_convergence",
    ranks: Iterable[int] | int | None = None,
    relative: bool = False,
    log: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (6.0, 4.0),
    show: bool = False,
    save: str | Path | None = None,
) -> Figure | Axes:
    """Objective of each traced run against iteration, one line per rank.

    Draws what :func:`bionmf.tl.convergence` stored: the loss at the start and at every check,
    the last point where the stopping rule ended the run (a hollow marker when it hit
    ``max_iter`` instead).

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.convergence` ran.
    key
        Its ``key_added`` (default ``'nmf_convergence'``).
    ranks
        Ranks to draw (default: every traced rank).
    relative
        Plot objective / final objective - 1 (how far from where the run ended), so ranks of
        different loss scale share one axis.
    log
        Logarithmic y axis.
    ax
        Draw into this Axes.
    figsize
        Size of the new figure when no ``ax`` is given.
    show, save
        Call ``plt.show()``; save the figure (format from the suffix).

    Returns
    -------
    The Figure, or ``ax`` when one was given. The Axes is labelled ``"convergence"``; each
    rank's line is labelled ``"rank <k>"``.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"adata must be an AnnData object, got {type(adata).__name__}")
    record = adata.uns.get(key)
    if not isinstance(record, dict) or "trace" not in record:
        raise ValueError(f"adata.uns has no convergence trace under {key!r}; run bionmf.tl.convergence(adata) first")
    trace = record["trace"]
    runs = record["runs"]
    traced = sorted(int(k) for k in trace["rank"].unique())
    if ranks is None:
        ranks = traced
    else:
        ranks = sorted({int(ranks)} if np.isscalar(ranks) else {int(k) for k in ranks})
        unknown = [k for k in ranks if k not in traced]
        if unknown:
            raise ValueError(f"ranks {unknown} were not traced under uns[{key!r}]; traced: {traced}")

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    colors = sns.color_palette("viridis", n_colors=max(len(ranks), 2))
    for color, k in zip(colors, ranks):
        part = trace[trace["rank"] == k].sort_values("iteration")
        x = part["iteration"].to_numpy()
        y = part["objective"].to_numpy(dtype=np.float64)
        final = float(runs.loc[k, "objective"])
        if relative:
            y = y / final - 1.0
        ax.plot(x, y, color=color, lw=1.5, label=f"rank {k}")
        converged = bool(runs.loc[k, "converged"])
        ax.plot(x[-1:], y[-1:], "o", color=color, mfc=color if converged else "none", ms=6)
    loss = _LOSS_LABELS.get(record.get("params", {}).get("loss"), "objective")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{loss} / final - 1" if relative else loss)
    if log:
        # the first records of a run sit orders of magnitude above the rest: log shows both
        ax.set_yscale("symlog" if relative else "log", **({"linthresh": 1e-6} if relative else {}))
    ax.set_title("Convergence of the best run of each rank", fontsize=11, loc="left")
    ax.legend(frameon=False, fontsize=9)
    ax.set_label("convergence")
    return U.finish(fig if fig is not None else ax, show=show, save=save)
