"""Rules that pick the factorization rank from the per-rank metrics table.

Every rule takes the metrics table (pandas DataFrame indexed by rank, ascending, with at least the
column the rule reads) and returns one rank. ``ALL_RULES`` maps each rule's name to its function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from . import crossval as _crossval


def cophenetic_drop(metrics: pd.DataFrame, *, min_drop: float = 0.0) -> int:
    """Brunet et al. (2004): the rank at which the cophenetic correlation begins to fall.

    The smallest rank k whose cophenetic exceeds that of the next rank in the grid by more than
    ``min_drop``; the largest rank of the grid when it never falls.
    """
    coph = _column(metrics, "cophenetic")
    for k, k_next in zip(coph.index[:-1], coph.index[1:]):
        if coph[k] - coph[k_next] > min_drop:
            return int(k)
    return int(coph.index[-1])


def largest_drop(metrics: pd.DataFrame) -> int:
    """The rank just before the largest fall of the cophenetic correlation along the grid.

    Ranks below the true one often merge groups stably, so their cophenetic stays near 1; the
    sharpest loss of stability follows the last rank the data support. Without any fall, the
    largest rank.
    """
    coph = _column(metrics, "cophenetic")
    drops = coph.to_numpy()[:-1] - coph.to_numpy()[1:]
    if drops.size == 0 or drops.max() <= 0:
        return int(coph.index[-1])
    return int(coph.index[int(np.argmax(drops))])


def max_cophenetic(metrics: pd.DataFrame) -> int:
    """The rank with the highest cophenetic correlation (the largest rank on ties)."""
    return _arg_best(_column(metrics, "cophenetic"), higher=True)


def min_pac(metrics: pd.DataFrame) -> int:
    """Senbabaoglu et al. (2014): the rank with the lowest PAC (the largest rank on ties)."""
    return _arg_best(_column(metrics, "pac"), higher=False)


def max_dispersion(metrics: pd.DataFrame) -> int:
    """Kim & Park (2007): the rank with the highest dispersion (the largest rank on ties)."""
    return _arg_best(_column(metrics, "dispersion"), higher=True)


def max_silhouette(metrics: pd.DataFrame) -> int:
    """The rank with the highest mean consensus silhouette (the largest rank on ties)."""
    return _arg_best(_column(metrics, "silhouette"), higher=True)


#: ranks whose component stability is within this of the best are "stable enough" for
#: :func:`stability_error`
STABILITY_TOLERANCE = 0.05


def max_stability(metrics: pd.DataFrame) -> int:
    """Component consensus: the rank whose programs recur most across runs (highest stability)."""
    return _arg_best(_column(metrics, "stability"), higher=True)


def stability_error(metrics: pd.DataFrame, *, tolerance: float = STABILITY_TOLERANCE) -> int:
    """Component consensus (Kotliar et al. 2019): the best trade-off of stability and error.

    Among the ranks whose stability (silhouette of the spectra clustering) is within
    ``tolerance`` of the highest, the one with the lowest reconstruction error: as stable as the
    data allow, and otherwise explaining as much as possible. Above the number of programs in the
    data, runs split programs differently and stability falls; below it, error stays high.
    """
    stability = _column(metrics, "stability")
    error = _column(metrics, "error")
    candidates = stability.index[stability.to_numpy() >= stability.max() - tolerance]
    return int(error.loc[candidates].idxmin())


#: rules that read the sample consensus's figures
SAMPLE_RULES: dict[str, Callable[[pd.DataFrame], int]] = {
    "cophenetic_drop": cophenetic_drop,
    "largest_drop": largest_drop,
    "max_cophenetic": max_cophenetic,
    "min_pac": min_pac,
    "max_dispersion": max_dispersion,
    "max_silhouette": max_silhouette,
}
#: rules for the component consensus (its metrics table has stability and error instead of the
#: sample-consensus figures)
COMPONENT_RULES: dict[str, Callable[[pd.DataFrame], int]] = {
    "max_stability": max_stability,
    "stability_error": stability_error,
}
#: every rule by name; which apply to a survey, and its default, are its consensus kind's
#: (:attr:`bionmf.core.summary.ConsensusKind.rules`, ``default_rule``)
#: rules that read the held-out error of a cross-validated survey (either consensus kind)
CV_RULES: dict[str, Callable[[pd.DataFrame], int]] = dict(_crossval.CV_RULES)
ALL_RULES = {**SAMPLE_RULES, **COMPONENT_RULES, **CV_RULES}


def choose_rank(metrics: pd.DataFrame, rule: str) -> int:
    """Apply the rule named ``rule`` to the metrics table."""
    if rule not in ALL_RULES:
        raise ValueError(f"rank_rule must be one of {sorted(ALL_RULES)}, got {rule!r}")
    return ALL_RULES[rule](metrics)


def apply_all(metrics: pd.DataFrame) -> dict[str, int]:
    """The rank every rule picks, keyed by rule name (rules whose column is missing are left out)."""
    chosen = {}
    for name, rule in ALL_RULES.items():
        try:
            chosen[name] = rule(metrics)
        except KeyError:
            continue
    return chosen


def _column(metrics: pd.DataFrame, column: str) -> pd.Series:
    if column not in metrics.columns:
        raise KeyError(f"the metrics table has no column {column!r}")
    values = metrics[column].sort_index()
    if values.empty:
        raise ValueError("the metrics table is empty")
    return values


def _arg_best(values: pd.Series, *, higher: bool, atol: float = 1e-9) -> int:
    best = values.max() if higher else values.min()
    ties = values.index[np.isclose(values.to_numpy(), best, rtol=0, atol=atol)]
    return int(ties.max())
