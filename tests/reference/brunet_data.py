"""Brunet et al.'s (2004) three data sets as bionmf and the R reference both factorize them.

``load(name)`` gives the samples x genes AnnData that bionmf surveys; ``python
tests/reference/brunet_data.py DIR`` writes the same matrices (genes x samples, gene and sample
names, values as float64 text with 17 significant digits) to ``DIR/<name>.tsv`` for
``r_reference_surveys.R``, so that both programs factorize exactly the same numbers.

- golub: ``bionmf.datasets.golub()`` (5000 genes x 38 samples, the R package NMF's esGolub).
- medulloblastoma: Brunet's preprocessing (values thresholded to 20..16000, genes kept with
  max/min >= 3 and max - min >= 100), as in the README's example.
- cns: the shared file is already thresholded (10..16000) and gene-filtered (de Souto et al. 2008);
  it is used as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
NAMES = ("golub", "medulloblastoma", "cns")


def load(name: str):
    import bionmf

    if name == "golub":
        return bionmf.datasets.golub()
    if name == "medulloblastoma":
        folder = DATA / "medulloblastoma"
        adata = bionmf.io.read(folder / "Medulloblastoma_data.txt", header=False,
                               genes=folder / "Medulloblastoma_genes.txt",
                               annotation=folder / "Medulloblastoma_sample_labels.tsv")
        bionmf.pp.normalize(adata, preset="bulk", floor=20, ceiling=16000, min_fold=3, min_delta=100)
        # the genes normalize marks for the fit (all 5893 pass: the file is Brunet's filtered set)
        return adata[:, adata.var["nmf_use"].to_numpy(bool)].copy()
    if name == "cns":
        adata = bionmf.io.read(DATA / "cns" / "CNS34_genes_x_samples.tsv")
        adata.obs["class"] = pd.Categorical([s.split("_")[0] for s in adata.obs_names])
        return adata
    raise ValueError(f"unknown data set {name!r}; one of {NAMES}")


def write(name: str, folder: Path) -> Path:
    adata = load(name)
    X = np.asarray(adata.X, dtype=np.float64)
    table = pd.DataFrame(X.T, index=pd.Index(adata.var_names, name="gene"), columns=adata.obs_names)
    path = folder / f"{name}.tsv"
    table.to_csv(path, sep="\t", float_format="%.17g")
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or NAMES:
        print(write(name, out))
