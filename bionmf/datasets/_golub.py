"""The Golub ALL/AML data set bundled with the package."""

from __future__ import annotations

import gzip
from importlib.resources import files

import anndata as ad
import numpy as np
import pandas as pd

_DATA = files("bionmf.datasets") / "data"


def golub() -> ad.AnnData:
    """Golub et al. (1999) leukemia data as used by Brunet et al. (2004).

    38 bone-marrow samples x 5000 genes (the most variable probes of the Hu6800 array), the same
    values as the R package NMF's ``esGolub``: integers floored at 20. Samples are observations.

    Returns
    -------
    AnnData with

    ``X``
        float64 array, samples x genes.
    ``obs``
        index: sample names; ``ALL_AML`` (ALL/AML), ``cell`` (B-cell/T-cell/NA for AML) and
        ``class3`` (ALL-B/ALL-T/AML), all categorical.
    ``var``
        index: Affymetrix probe id (e.g. ``M12759_at``); ``description``.
    """
    with gzip.open(_DATA / "golub_ALL_AML_data.txt.gz", "rt", newline="") as handle:
        values = np.loadtxt(handle, delimiter="\t", dtype=np.float64)
    with gzip.open(_DATA / "golub_ALL_AML_genes.txt.gz", "rt") as handle:
        genes = pd.read_csv(handle, sep="\t", dtype=str)
    with gzip.open(_DATA / "golub_ALL_AML_sample_labels.tsv.gz", "rt") as handle:
        samples = pd.read_csv(handle, sep="\t", dtype=str, keep_default_na=False)

    genes["Name"] = genes["Name"].str.strip()
    obs = samples.set_index("sample")
    obs.index.name = None
    for column in obs.columns:
        obs[column] = pd.Categorical(obs[column])
    var = pd.DataFrame({"description": genes["Description"].str.strip().to_numpy()},
                       index=pd.Index(genes["Name"].to_numpy()))
    return ad.AnnData(X=values.T.copy(), obs=obs, var=var)
