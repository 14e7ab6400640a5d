"""``tl.convergence``: the objective trace of the best run of each rank, computed again from its seed."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping

import anndata as ad
import numpy as np
import pandas as pd

from .._survey_record import survey_record
from ..core.convergence import trace_run
from ._survey import Survey


def convergence(
    adata: ad.AnnData,
    *,
    key: str = "nmf",
    ranks: Iterable[int] | int | None = None,
    runs: Mapping[int, int] | int | None = None,
    use_genes: str | np.ndarray | None = None,
    key_added: str | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Objective of the best run of each rank at every check, as R's ``residuals(fit, track=TRUE)``.

    A survey keeps no per-iteration record (it would cost one objective per check for every run).
    Run r of rank k is seeded by (random_state, k, r) alone, so the run is computed again here,
    on the same matrix with the same options, recording its objective at the start and at each
    check (every ``check_interval`` iterations, where the stopping rule looks). It ends where the
    survey's run ended, at the same objective.

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran, unchanged since (same matrix and genes).
    key
        ``key_added`` of the survey.
    ranks
        Ranks to trace (default: every surveyed rank).
    runs
        The run to trace, per rank (``{rank: run}``) or one run index for every rank. Default:
        the best run (lowest objective) of each rank, from ``uns[key]['best_run']``.
    use_genes
        The genes the survey fitted, when it was given a boolean mask (the survey records only
        the name of a ``var`` column or that all genes were used).
    key_added
        Where to write; default ``f"{key}_convergence"``.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the new AnnData when ``copy=True``. Writes ``uns[key_added]`` (default
    ``'nmf_convergence'``):

    ``trace``
        DataFrame, one row per record: ``rank``, ``run``, ``iteration`` (0, then every check),
        ``objective`` (KL divergence or squared Frobenius residual of the run there).
    ``runs``
        DataFrame indexed by rank: ``run``, ``n_iter``, ``converged`` (the stopping rule ended
        the run before ``max_iter``), ``objective`` (final).
    ``params``
        ``key`` (the survey traced), ``loss``, ``check_interval``.
    """
    survey = survey_record(adata, key)
    surveyed = sorted(int(k) for k in survey["clusters"])
    ranks = _ranks_to_trace(ranks, surveyed, key)
    chosen_runs = _check_runs(runs, ranks, survey, key)
    rebuilt = Survey.from_record(adata, key, use_genes=use_genes)
    X, options = rebuilt.matrix(), rebuilt.solver

    rows, summary = [], []
    for k in ranks:
        tr = trace_run(X, k, chosen_runs[k], random_state=rebuilt.options.random_state, options=options)
        rows.append(pd.DataFrame({"rank": k, "run": tr.run, "iteration": tr.iteration, "objective": tr.objective}))
        summary.append({"rank": k, "run": tr.run, "n_iter": tr.n_iter, "converged": tr.converged,
                        "objective": tr.final_objective})
    adata = adata.copy() if copy else adata
    adata.uns[key_added or f"{key}_convergence"] = {
        "trace": pd.concat(rows, ignore_index=True),
        "runs": pd.DataFrame(summary).set_index("rank"),
        "params": {"key": key, "loss": options.loss, "check_interval": int(options.check_interval)},
    }
    return adata if copy else None


def _ranks_to_trace(ranks, surveyed: list[int], key: str) -> list[int]:
    if ranks is None:
        return surveyed
    if isinstance(ranks, numbers.Integral):
        ranks = [ranks]
    ranks = sorted({int(k) for k in ranks})
    unknown = [k for k in ranks if k not in surveyed]
    if unknown:
        raise ValueError(f"ranks {unknown} were not surveyed under uns[{key!r}]; surveyed ranks: {surveyed}")
    return ranks


def _check_runs(runs, ranks: list[int], survey: Mapping, key: str) -> dict[int, int]:
    if runs is None:
        best = survey.get("best_run")
        if best is None:
            raise ValueError(f"uns[{key!r}] does not record each rank's best run; pass runs={{rank: run}} "
                             "(run indices 0..n_runs-1)")
        runs = {int(k): int(v) for k, v in best.items()}
    elif isinstance(runs, numbers.Integral) and not isinstance(runs, bool):
        runs = {k: int(runs) for k in ranks}
    elif isinstance(runs, Mapping):
        runs = {int(k): v for k, v in runs.items()}
    else:
        raise TypeError(f"runs must be an int or a mapping rank -> run, got {type(runs).__name__}")
    n_runs = int(survey.get("params", {}).get("n_runs", np.iinfo(np.int64).max))
    out = {}
    for k in ranks:
        if k not in runs:
            raise ValueError(f"runs names no run for rank {k}")
        r = runs[k]
        if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 0 <= r < n_runs:
            raise ValueError(f"run {r!r} of rank {k} is not one of the survey's runs 0..{n_runs - 1}")
        out[k] = int(r)
    return out
