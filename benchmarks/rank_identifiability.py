"""Is the planted rank of each data set of the planted grid identifiable at all? Oracles, no NMF.

For every data set of ``benchmarks/rank_cv.py``'s grid (same simulation, same seeds), measures
what an analysis that knows more than a rank rule could recover:

- ``ari_markers``: k-means (k = planted groups) on the samples' mean log expression of each
  group's planted marker genes (an oracle that knows the markers), adjusted Rand index against
  the planted groups;
- ``ari_pca_log`` / ``ari_pca_linear``: k-means on the first (groups - 1) principal components
  of log1p of the data (of the data as surveyed), no oracle knowledge but the number of groups;
- ``pa_log`` / ``pa_linear``: the rank that parallel analysis reads (Horn 1965, Psychometrika
  30:179: 1 + the number of principal components of the centred data whose eigenvalue exceeds
  the 95th percentile of the same component over data sets with every gene permuted across
  samples), on log1p of the data and on the data as surveyed;
- ``spike_ratio``: the planted signal's strength on the log scale against the Baik-Ben Arous-
  Peche detection threshold sqrt(genes / samples) (bulk only; above 1 a principal component can
  see the weakest group, below 1 no spectral method can, in the large-size limit).

Single-cell data sets: log1p of counts per 10,000; ``ari_*`` against the planted cell types
(k = identities), the planted rank is identities + 1 activity program.

    PYTHONPATH=. python benchmarks/rank_identifiability.py --out benchmarks/rank_grid/identifiability.tsv
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rank_cv import LEVELS, simulate


def parallel_analysis(Y: np.ndarray, rng: np.random.Generator, n_null: int = 20, max_rank: int = 12) -> int:
    """1 + the number of leading components of centred Y above the permuted data's 95th percentile."""
    def eig(M):
        M = M - M.mean(axis=0)
        s = np.linalg.svd(M, compute_uv=False)[:max_rank]
        return s ** 2
    real = eig(Y)
    null = np.array([eig(rng.permuted(Y, axis=0)) for _ in range(n_null)])
    above = real > np.quantile(null, 0.95, axis=0)
    # components in order: stop at the first one that does not stand out
    n = int(np.argmin(above)) if not above.all() else above.size
    return n + 1


def kmeans_ari(features: np.ndarray, k: int, truth: np.ndarray, seed: int) -> float:
    labels = KMeans(n_clusters=k, n_init=20, random_state=seed).fit_predict(features)
    return float(adjusted_rand_score(truth, labels))


def pcs(Y: np.ndarray, n: int) -> np.ndarray:
    Yc = Y - Y.mean(axis=0)
    U, s, _ = np.linalg.svd(Yc, full_matrices=False)
    return U[:, :n] * s[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk-planted", type=int, nargs="*", default=[2, 3, 4, 6])
    parser.add_argument("--sc-planted", type=int, nargs="*", default=[3, 5])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--sc-seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--genes", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    grid = [("bulk", p, lv, s) for p, lv, s in itertools.product(args.bulk_planted, LEVELS, args.seeds)]
    grid += [("singlecell", p, lv, s) for p, lv, s in itertools.product(args.sc_planted, LEVELS, args.sc_seeds)]
    rows = []
    for kind, planted, level, seed in grid:
        adata = simulate(kind, planted, level, seed, args)
        X = np.asarray(adata.X, dtype=np.float64)
        rng = np.random.default_rng(seed)
        if kind == "bulk":
            truth = adata.obs["group"].cat.codes.to_numpy()
            k = planted
            logX = np.log1p(X)
            marker_of = adata.var["marker_of"].astype(str).to_numpy()
            scores = np.column_stack([logX[:, marker_of == str(a)].mean(axis=1) for a in range(k)])
            # the weakest group's signal on the log scale: per marker, the between-group variance
            # of the planted log fold (mixing shrinks it), 50 markers, against the noise variance
            p = adata.uns["simulation"]
            fold = np.log((1 - p["mixing"]) * p["fold_change"] + p["mixing"])
            share = 1.0 / k
            spike = share * (1 - share) * fold ** 2 * p["markers_per_group"] / p["noise"] ** 2
            spike_ratio = spike / np.sqrt(X.shape[1] / X.shape[0])
        else:
            truth = adata.obs["identity"].cat.codes.to_numpy()
            k = planted - 1
            logX = np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)
            program_of = adata.var["program_of"].astype(str).to_numpy()
            scores = np.column_stack([logX[:, program_of == f"I{a}"].mean(axis=1) for a in range(k)])
            spike_ratio = np.nan
        rows.append({
            "kind": kind, "planted": planted, "difficulty": level, "seed": seed,
            "ari_markers": kmeans_ari(scores, k, truth, seed),
            "ari_pca_log": kmeans_ari(pcs(logX, k - 1), k, truth, seed),
            "ari_pca_linear": kmeans_ari(pcs(X, k - 1), k, truth, seed),
            "pa_log": parallel_analysis(logX, rng), "pa_linear": parallel_analysis(X, rng),
            "spike_ratio": spike_ratio,
        })
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, sep="\t", index=False, float_format="%.4g")
    table["pa_log_ok"] = table["pa_log"] == table["planted"]
    table["pa_linear_ok"] = table["pa_linear"] == table["planted"]
    print(table.groupby(["kind", "difficulty"])[["ari_markers", "ari_pca_log", "ari_pca_linear", "pa_log_ok",
                                                  "pa_linear_ok"]].mean().round(2).to_string())


if __name__ == "__main__":
    main()
