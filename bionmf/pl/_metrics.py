"""Rank-selection curves: each metric of the survey against rank, chosen rank marked, null overlaid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._survey_record import survey_rank
from . import _utils as U

DEFAULT_METRICS = ("cophenetic", "dispersion", "silhouette", "pac", "rss", "evar")

# title and the direction that reads as "better" for each metric
METRIC_LABELS = {
    "cophenetic": "Cophenetic correlation (higher = more stable)",
    "dispersion": "Dispersion (higher = more stable)",
    "silhouette": "Consensus silhouette (higher = better separated)",
    "pac": "PAC (lower = less ambiguous)",
    "rss": "Residual sum of squares",
    "evar": "Explained variance",
    "sparseness_basis": "Basis sparseness (Hoyer)",
    "sparseness_coef": "Coefficient sparseness (Hoyer)",
    "objective": "Objective of the best run",
    "objective_mean": "Mean objective over runs",
    "n_iter": "Iterations (mean over runs)",
    "cv_error": "Held-out error (lower = predicts better)",
    "purity": "Purity against known classes (higher = purer)",
    "entropy": "Entropy against known classes (lower = purer)",
}
DATA_COLOR, NULL_COLOR, CHOSEN_COLOR = "#1f4e79", "0.55", "#c0392b"


def rank_metrics(
    adata: ad.AnnData,
    *,
    metrics: Sequence[str] | str = DEFAULT_METRICS,
    key: str = "nmf",
    null: bool = True,
    crossval: bool = True,
    ncols: int | None = None,
    ax: Axes | None = None,
    show: bool = False,
    save: str | Path | None = None,
) -> Figure | Axes:
    """Each rank metric against rank, the chosen rank marked, with the permuted-data null overlaid.

    The chosen rank (``uns[key]['rank']``, picked by the survey's ``rank_rule``) gets a vertical
    line and a red marker in every panel. When the survey also ran on permuted data
    (``tl.nmf(..., n_permutations=...)``), the null's mean is drawn in grey with a band from
    its lowest to its highest permutation: a rank is worth taking where the real curve stands
    clear of it (Frigyesi & Hoglund 2008).

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran.
    metrics
        Columns of ``uns[key]['metrics']`` to plot, one panel each.
    key
        ``key_added`` of the survey.
    null
        Overlay the permuted-data metrics when present.
    crossval
        When the survey was cross-validated (``tl.nmf(..., crossval=...)``), add the held-out
        error panel (``cv_error``, mean over runs with bars of one standard error, and a dotted
        line one standard error above its lowest point: the ranks under it cannot be told apart
        from the best) beside the consensus curves.
    ncols
        Panels per row (default 3).
    ax
        Draw into this Axes; only with a single metric.
    show, save
        Call ``plt.show()``; save the figure (format from the suffix).

    Returns
    -------
    The Figure, or ``ax`` when one was given. Panels are labelled ``"metric:<name>"``; the chosen
    rank's marker is the line labelled ``"chosen rank"`` and the null's ``"permuted data"``.
    """
    survey, chosen = survey_rank(adata, key, None)
    table = survey["metrics"]
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if crossval and "cv_error" in table.columns and "cv_error" not in metrics and ax is None:
        metrics.append("cv_error")
    unknown = [m for m in metrics if m not in table.columns]
    if unknown or not metrics:
        raise ValueError(f"metrics {unknown or metrics} not in uns[{key!r}]['metrics']; columns: {list(table.columns)}")
    null_table = survey.get("null_metrics") if null else None
    null_runs = survey.get("null_metrics_permutations") if null else None
    if ax is not None and len(metrics) != 1:
        raise ValueError(f"ax= draws one metric; {len(metrics)} were asked for ({metrics})")

    if ax is not None:
        fig, axes = ax.figure, [ax]
    else:
        ncols = min(len(metrics), 3) if ncols is None else int(ncols)
        nrows = -(-len(metrics) // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 3.2 * nrows), squeeze=False)
        axes = list(grid.ravel())
        for extra in axes[len(metrics):]:
            extra.remove()
        axes = axes[: len(metrics)]

    ranks = table.index.to_numpy()
    for ax_i, m in zip(axes, metrics):
        _metric_panel(ax_i, table[m], chosen, m, null_table, null_runs, table)
    if ax is not None:
        return U.finish(ax, show=show, save=save)

    rule = survey.get("params", {}).get("rank_rule", "?")
    n_perm = survey.get("params", {}).get("n_permutations", 0)
    handles = [Line2D([], [], color=DATA_COLOR, marker="o", label="data"),
               Line2D([], [], color=CHOSEN_COLOR, marker="*", ms=12, ls="--", label=f"chosen rank ({chosen})")]
    if null_table is not None:
        handles.insert(1, Line2D([], [], color=NULL_COLOR, marker="s", ls="--",
                                 label=f"permuted data (mean, band: range of {n_perm} permutations)"))
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), frameon=False, fontsize=9,
               bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"Rank survey, ranks {ranks.min()}-{ranks.max()}: chosen rank {chosen} (rule {rule})",
                 fontsize=12, x=0.01, ha="left", y=1.0)
    fig.tight_layout(rect=(0, 0, 1, 0.97 if len(axes) > 3 else 0.93))
    return U.finish(fig, show=show, save=save)


def _metric_panel(ax: Axes, values, chosen: int, name: str, null_table, null_runs, table) -> None:
    ranks = values.index.to_numpy()
    if null_table is not None and name in null_table.columns:
        nv = null_table[name].reindex(ranks)
        if null_runs is not None and name in null_runs.columns and len(null_runs):
            spread = null_runs.groupby("rank")[name].agg(["min", "max"]).reindex(ranks)
            ax.fill_between(ranks, spread["min"], spread["max"], color=NULL_COLOR, alpha=0.2, lw=0)
        ax.plot(ranks, nv.to_numpy(), color=NULL_COLOR, ls="--", marker="s", ms=4, label="permuted data")
    ax.plot(ranks, values.to_numpy(), color=DATA_COLOR, marker="o", ms=5, lw=1.8, label="data")
    if name == "cv_error" and "cv_error_se" in table.columns:
        se = table["cv_error_se"].reindex(ranks).to_numpy()
        ax.errorbar(ranks, values.to_numpy(), yerr=se, fmt="none", ecolor=DATA_COLOR, capsize=3, lw=1)
        best = values.idxmin()
        ax.axhline(values[best] + table.loc[best, "cv_error_se"], color=DATA_COLOR, ls=":", lw=1,
                   label="lowest + 1 SE")
    ax.axvline(chosen, color=CHOSEN_COLOR, ls="--", lw=1, alpha=0.7)
    ax.plot([chosen], [values.loc[chosen]], marker="*", ms=14, color=CHOSEN_COLOR, ls="none",
            label="chosen rank", zorder=5)
    ax.set_title(METRIC_LABELS.get(name, name), fontsize=10)
    ax.set_xlabel("rank k")
    ax.set_ylabel(name)
    ax.set_xticks(ranks)
    ax.grid(alpha=0.3)
    if name == "rss":
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.set_label(f"metric:{name}")
    if np.isfinite(values.to_numpy()).sum() == 0:
        ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
