"""Per-sample confidence in the consensus clusters: each sample's consensus silhouette."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .._survey_record import survey_rank
from ..core.metrics import silhouette_samples


def consensus_silhouettes(consensus: np.ndarray, clusters: np.ndarray, subsample: np.ndarray | None = None) -> np.ndarray:
    """Silhouette width of every sample under the distance 1 - C, NaN outside ``subsample``.

    ``consensus`` covers all samples, or the sorted sample indices ``subsample``; ``clusters``
    holds every sample's cluster.
    """
    clusters = np.asarray(clusters)
    members = np.arange(clusters.size) if subsample is None else np.asarray(subsample, dtype=np.int64)
    C = np.asarray(consensus, dtype=np.float64)
    if C.shape != (members.size, members.size):
        raise ValueError(f"the consensus matrix is {C.shape[0]} x {C.shape[1]} but covers {members.size} samples")
    values = np.full(clusters.size, np.nan)
    values[members] = silhouette_samples(1.0 - C, clusters[members])
    return values


def sample_silhouette(adata: ad.AnnData, *, key: str = "nmf", rank: int | None = None) -> pd.Series:
    """Silhouette width of every sample in the consensus of one rank, ready for an ``obs`` column.

    The distance is 1 - C (C the consensus matrix) and the groups the consensus clusters, as in
    the survey's mean ``silhouette`` metric and the silhouette track of
    :func:`bionmf.pl.consensus`: near 1, a sample sits firmly in its cluster across runs; near 0
    or below, runs disagree on where it belongs (Rousseeuw 1987; the R package NMF's
    ``silhouette(fit, what="consensus")``). :func:`bionmf.tl.nmf` stores the chosen rank's as
    ``obs['<key>_silhouette']``.

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran with the sample consensus.
    key
        ``key_added`` of the survey.
    rank
        A surveyed rank; default the chosen one.

    Returns
    -------
    Series of float indexed by ``adata.obs_names``, named ``f"{key}_silhouette"``:
    ``adata.obs[s.name] = s`` stores it. Above 5000 samples the consensus covers a subsample
    (``uns[key]['consensus_subsample']``); samples outside it get NaN.
    """
    survey, rank = survey_rank(adata, key, rank)
    if "consensus" not in survey:
        kind = survey.get("params", {}).get("consensus", "components")
        raise ValueError(f"uns[{key!r}] holds no consensus matrices (consensus={kind!r}); the consensus "
                         "silhouette needs bionmf.tl.nmf(..., consensus='samples')")
    clusters = np.asarray(survey["clusters"][str(rank)])
    if clusters.shape != (adata.n_obs,):
        raise ValueError(f"uns[{key!r}]['clusters'][{str(rank)!r}] has {clusters.size} entries for "
                         f"{adata.n_obs} samples; was adata subset after the survey?")
    values = consensus_silhouettes(survey["consensus"][str(rank)], clusters, survey.get("consensus_subsample"))
    return pd.Series(values, index=adata.obs_names.copy(), name=f"{key}_silhouette")
