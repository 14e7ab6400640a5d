"""Rank rules evaluated on the saved tables of the planted grid, without refitting anything.

``benchmarks/rank_cv.py --out DIR/rank_cv.tsv`` saves, per data set of the planted grid, the whole
per-rank metrics table (``rank_cv_tables.tsv``: the consensus figures, the purity of each rank's
clusters against the planted groups, ``<scheme>_cv_error``/``_sd``/``_se`` of every
cross-validation variant), the permuted-data surveys (``rank_cv_null.tsv``) and the consensus
matrices and clusters (``rank_cv_consensus.npz``). This script applies every rule to those tables:

- the library's rules (:data:`bionmf.core.rank_selection.ALL_RULES`; the cross-validated ones
  once per cross-validation variant, reading its ``<scheme>_cv_*`` columns);
- rules from the literature that need more than one survey:
  reference-null consensus measures (the rank whose measure stands furthest above the permuted
  data's: ``rcsi_pac``, M3C's relative cluster stability index on PAC, John et al. 2020, Sci.
  Rep. 10:1816, log(null PAC) - log(PAC), highest; ``null_gain_<measure>`` for dispersion,
  cophenetic and silhouette, the measure minus the null's, highest); the residual-error null of
  Frigyesi & Hoglund 2008 (Cancer Inform. 6:275: the largest rank up to which every step of rank
  lowers the residual sum of squares more than the same step on permuted data, ``frigyesi_rss``);
  a Gap statistic on the residuals (Tibshirani et al. 2001, J. R. Stat. Soc. B 63:411:
  gap(k) = log null RSS(k) - log RSS(k); ``gap_rss_first``: the first local maximum,
  ``gap_rss_max``: the highest); Monti et al. 2003's relative increase of the area under the
  consensus CDF (``monti_delta_area``: the rank before the first whose increase falls under 0.1);
- combined rules: the cross-validated set (ranks within one standard error of the lowest held-out
  error) searched with the reference-null measures.

It also reads how identifiable the planted rank is from the survey itself: the adjusted Rand
index of the planted rank's consensus clusters against the planted groups (``--diagnose``).

    PYTHONPATH=. python benchmarks/rank_grid_rules.py benchmarks/rank_grid/rank_cv
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from bionmf.core import crossval as cv
from bionmf.core import rank_selection as rs

LEVELS = ("easy", "medium", "hard")
KEYS = ["kind", "planted", "difficulty", "seed"]
CONSENSUS_MEASURES = ("dispersion", "cophenetic", "silhouette")
#: Monti et al.'s relative CDF-area increase below which a further cluster adds nothing
MONTI_DELTA = 0.1


def load(prefix: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, dict | None]:
    """The saved tables of one grid run: ``<prefix>_tables.tsv``, ``_null.tsv``, ``_consensus.npz``."""
    tables = pd.read_csv(prefix.with_name(prefix.name + "_tables.tsv"), sep="\t")
    null_path = prefix.with_name(prefix.name + "_null.tsv")
    null = None
    if null_path.exists():
        null = pd.read_csv(null_path, sep="\t").astype({"rank": int, "permutation": int})
    npz_path = prefix.with_name(prefix.name + "_consensus.npz")
    arrays = dict(np.load(npz_path)) if npz_path.exists() else None
    return tables, null, arrays


def cdf_area(consensus: np.ndarray) -> float:
    """Area under the empirical CDF of the consensus values above the diagonal (Monti et al. 2003)."""
    values = np.sort(consensus[np.triu_indices_from(consensus, k=1)])
    # the CDF is a step function on [0, 1]: its area is 1 - the mean value
    return float(1.0 - values.mean())


def data_sets(tables: pd.DataFrame, null: pd.DataFrame | None, arrays: dict | None):
    """(key, per-rank table) per data set, with ``null_<measure>`` (mean over permutations),
    ``cdf_area`` and ``ari`` (consensus clusters against the planted groups) when saved."""
    null_mean = None
    if null is not None:
        null_mean = null.drop(columns="permutation").groupby(KEYS + ["rank"]).mean()
    for key, table in tables.groupby(KEYS, sort=False):
        table = table.set_index("rank").drop(columns=KEYS).sort_index()
        if null_mean is not None:
            table = table.join(null_mean.loc[key].add_prefix("null_"))
        if arrays is not None:
            tag = "_".join(str(v) for v in key)
            truth = arrays[f"{tag}_truth"]
            table["cdf_area"] = [cdf_area(arrays[f"{tag}_consensus_{k}"]) for k in table.index]
            table["ari"] = [adjusted_rand_score(truth, arrays[f"{tag}_clusters_{k}"]) for k in table.index]
        yield dict(zip(KEYS, key)), table


def cv_schemes(tables: pd.DataFrame) -> list[str]:
    return sorted(c[: -len("_cv_error")] for c in tables.columns if c.endswith("_cv_error"))


def with_cv(table: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """The table with the scheme's ``<scheme>_cv_*`` columns named as the library's rules read them."""
    cols = {f"{scheme}_cv_{c}": f"cv_{c}" for c in ("error", "error_sd", "error_se", "runs")}
    return table.drop(columns=[c for c in cols.values() if c in table.columns]).rename(columns=cols)


# ---------------------------------------------------------------------------------------------
# literature rules that read the permuted-data surveys or the consensus matrices


def _best(values: pd.Series) -> int:
    return int(values.idxmax())


def rcsi_pac(t: pd.DataFrame) -> int:
    return _best(np.log(t["null_pac"].clip(lower=1e-6)) - np.log(t["pac"].clip(lower=1e-6)))


def null_gain(measure: str) -> Callable[[pd.DataFrame], int]:
    def rule(t: pd.DataFrame) -> int:
        return _best(t[measure] - t[f"null_{measure}"])
    return rule


def frigyesi_rss(t: pd.DataFrame) -> int:
    real = -np.diff(t["rss"].to_numpy())
    null = -np.diff(t["null_rss"].to_numpy())
    ranks = t.index.to_numpy()
    k = ranks[0]
    for step, (r, n) in enumerate(zip(real, null)):
        if r <= n:
            break
        k = ranks[step + 1]
    return int(k)


def _gap(t: pd.DataFrame) -> pd.Series:
    return np.log(t["null_rss"]) - np.log(t["rss"])


def gap_rss_first(t: pd.DataFrame) -> int:
    gap = _gap(t).to_numpy()
    for i in range(gap.size - 1):
        if gap[i] >= gap[i + 1]:
            return int(t.index[i])
    return int(t.index[-1])


def gap_rss_max(t: pd.DataFrame) -> int:
    return _best(_gap(t))


def monti_delta_area(t: pd.DataFrame) -> int:
    area = t["cdf_area"].to_numpy()
    delta = np.diff(area) / np.maximum(area[:-1], 1e-12)
    for i, d in enumerate(delta):
        if d < MONTI_DELTA:
            return int(t.index[i])
    return int(t.index[-1])


def cv_null(measure: str) -> Callable[[pd.DataFrame], int]:
    """Among the ranks within one standard error of the lowest held-out error, the highest gain of
    ``measure`` over the permuted data ("rcsi" for M3C's index on PAC)."""
    def rule(t: pd.DataFrame) -> int:
        candidates = cv._within_one_se(t)
        sub = t.loc[candidates]
        if measure == "rcsi":
            score = np.log(sub["null_pac"].clip(lower=1e-6)) - np.log(sub["pac"].clip(lower=1e-6))
        else:
            score = sub[measure] - sub[f"null_{measure}"]
        return _best(score)
    return rule


NULL_RULES = {
    "rcsi_pac": rcsi_pac,
    **{f"null_gain_{m}": null_gain(m) for m in CONSENSUS_MEASURES},
    "frigyesi_rss": frigyesi_rss,
    "gap_rss_first": gap_rss_first,
    "gap_rss_max": gap_rss_max,
}
CV_NULL_RULES = {"cv_null_rcsi": cv_null("rcsi"), "cv_null_dispersion": cv_null("dispersion")}
def cv_stable_on(column: str) -> Callable[[pd.DataFrame], int]:
    """The library's ``cv_stable`` searching the one-standard-error set with another measure."""
    def rule(t: pd.DataFrame) -> int:
        return cv.cv_stable(t, column=column)
    return rule


CV_EXTRA = {f"cv_stable_{m}": cv_stable_on(m) for m in ("cophenetic", "silhouette")}


def picks(key: dict, table: pd.DataFrame, schemes: list[str]) -> list[dict]:
    """The rank every applicable rule picks on one data set (and ``lowest_rank``, the grid's lowest
    rank whatever the data: the baseline a rule must beat)."""
    out = {"lowest_rank": int(table.index.min())}
    for name, rule in {**rs.SAMPLE_RULES, **rs.COMPONENT_RULES}.items():
        try:
            out[name] = rule(table)
        except KeyError:
            continue
    if "null_rss" in table.columns:
        out.update({name: rule(table) for name, rule in NULL_RULES.items()})
    if "cdf_area" in table.columns:
        out["monti_delta_area"] = monti_delta_area(table)
    for scheme in schemes:
        t = with_cv(table, scheme)
        rules = {**cv.CV_RULES, **CV_EXTRA}
        if "null_rss" in table.columns:
            rules.update(CV_NULL_RULES)
        for name, rule in rules.items():
            out[f"{scheme}:{name}"] = rule(t)
    return [dict(**key, rule=name, chosen=int(k)) for name, k in out.items()]


def summarize(long: pd.DataFrame) -> pd.DataFrame:
    long = long.assign(recovered=long["planted"] == long["chosen"])
    counts = long.pivot_table(index="rule", columns="difficulty", values="recovered", aggfunc="sum")
    totals = long.pivot_table(index="rule", columns="difficulty", values="recovered", aggfunc="count")
    summary = pd.DataFrame(index=counts.index)
    for level in [lv for lv in LEVELS if lv in counts.columns]:
        summary[level] = [f"{int(c)}/{int(n)}" for c, n in zip(counts[level], totals[level])]
    summary["all"] = [f"{int(c)}/{int(n)}" for c, n in zip(counts.sum(axis=1), totals.sum(axis=1))]
    order = counts.assign(all=counts.sum(axis=1)).sort_values("all", ascending=False, kind="stable").index
    return summary.loc[order]


def diagnose(sets: list[tuple[dict, pd.DataFrame]]) -> pd.DataFrame:
    """Per data set: the ARI of the planted rank's consensus clusters, the best ARI over ranks and
    the rank reaching it, and the held-out error's rank per variant."""
    rows = []
    for key, t in sets:
        row = dict(key)
        if "ari" in t.columns:
            planted = key["planted"] if key["kind"] == "bulk" else key["planted"] - 1
            row["ari_planted"] = float(t["ari"].get(planted, np.nan))
            row["ari_best"] = float(t["ari"].max())
            row["rank_ari_best"] = int(t["ari"].idxmax())
        for c in t.columns:
            if c.endswith("_cv_error") and not c.endswith("_sd"):
                row[f"argmin_{c}"] = int(t[c].idxmin())
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path, help="the --out of rank_cv.py without .tsv (e.g. benchmarks/rank_grid/rank_cv)")
    parser.add_argument("--diagnose", action="store_true", help="also print the identifiability read from the survey")
    parser.add_argument("--markdown", action="store_true", help="print the summary as a Markdown table")
    parser.add_argument("--rules", nargs="+", default=None, help="show only these rules, in this order")
    parser.add_argument("--out", type=Path, default=None, help="write every rule's pick per data set (TSV)")
    args = parser.parse_args()

    tables, null, arrays = load(args.prefix)
    schemes = cv_schemes(tables)
    sets = list(data_sets(tables, null, arrays))
    long = pd.DataFrame([row for key, table in sets for row in picks(key, table, schemes)])
    if args.out:
        long.to_csv(args.out, sep="\t", index=False)
    summary = summarize(long)
    if args.rules:
        summary = summary.loc[args.rules]
    print("Data sets whose planted rank each rule recovered:")
    if args.markdown:
        print("| rule | easy | medium | hard | all |\n|---|---|---|---|---|")
        for rule, row in summary.iterrows():
            print(f"| {rule} | " + " | ".join(row.get(c, "-") for c in ("easy", "medium", "hard", "all")) + " |")
    else:
        print(summary.to_string())
    if args.diagnose:
        pd.set_option("display.width", 200)
        diag = diagnose(sets)
        print("\nIdentifiability read from the survey (ARI of consensus clusters against the planted groups; "
              "single-cell: cell types, at rank = cell types):")
        print(diag.round(2).to_string(index=False))
        oracle_path = args.prefix.with_name("identifiability.tsv")
        if oracle_path.exists() and "ari_planted" in diag.columns:
            # the oracles of benchmarks/rank_identifiability.py beside the survey's own clusters
            oracle = pd.read_csv(oracle_path, sep="\t")
            both = diag.merge(oracle, on=KEYS)
            cols = ["ari_markers", "ari_pca_log", "ari_pca_linear", "ari_planted", "ari_best"]
            print("\nMean adjusted Rand index against the planted groups: oracles (rank_identifiability.py) "
                  "and the survey's consensus clusters at the planted rank / at its best rank:")
            print(both.groupby(["kind", "difficulty"], sort=False)[cols].mean().round(2).to_string())


if __name__ == "__main__":
    main()
