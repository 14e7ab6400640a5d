"""How the single-cell preset's two choices move pbmc3k's programs: which genes, and whether the
counts are normalized per cell first.

    PYTHONPATH=. python3 benchmarks/singlecell_preset_variants.py [--seeds 0 1 2]

Each variant is ``pp.normalize(preset="singlecell", ...)`` with the options named, then
``tl.nmf(ranks=[5, 7, 9, 11], n_runs=20, consensus="components")`` per seed, in this process.
Printed per variant: the mean stability per rank over the seeds and the adjusted Rand index of
the k = 9 argmax-usage clusters against the Seurat labels (each seed). The default (cNMF's gene
criterion on counts) is the first row; ``library="total", hvg_flavor="cell_ranger"`` is the
preset before session 5.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _singlecell_common import SHARED_DATA  # noqa: E402

VARIANTS = {
    "cnmf genes, counts (default)": {},
    "cell_ranger genes, counts": {"hvg_flavor": "cell_ranger"},
    "cell_ranger genes, normalized (before)": {"hvg_flavor": "cell_ranger", "library": "total"},
    "seurat genes, normalized": {"hvg_flavor": "seurat", "library": "total"},
}
RANKS = (5, 7, 9, 11)


def main() -> None:
    import anndata as ad
    from sklearn.metrics import adjusted_rand_score

    import bionmf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    raw = ad.read_h5ad(SHARED_DATA / "pbmc3k" / "pbmc3k_raw_counts.h5ad")
    labels = raw.obs["seurat_annotation"]
    for name, options in VARIANTS.items():
        prepared = raw.copy()
        bionmf.pp.normalize(prepared, preset="singlecell", **options)
        stability, ari = [], []
        for seed in args.seeds:
            adata = prepared.copy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bionmf.tl.nmf(adata, ranks=list(RANKS), n_runs=20, consensus="components", random_state=seed,
                              verbose=False)
            info = adata.uns["nmf"]
            stability.append([float(info["metrics"]["stability"][k]) for k in RANKS])
            cell_labels = labels.reindex(adata.obs_names)
            known = cell_labels.notna().to_numpy()
            clusters = np.asarray(info["coefficients"]["9"]).argmax(axis=1)
            ari.append(adjusted_rand_score(cell_labels[known], clusters[known]))
        print(f"{name:40s} stability k{'/'.join(map(str, RANKS))} "
              + " / ".join(f"{v:.3f}" for v in np.mean(stability, axis=0))
              + "; ARI k9 " + ", ".join(f"{v:.3f}" for v in ari), flush=True)


if __name__ == "__main__":
    main()
