"""The cluster files of GenePattern's NMFConsensus module, for users coming from it.

NMFConsensus (Brunet et al. 2004; the GenePattern module of the Broad Institute) writes, beside
its plots, two kinds of GCT 1.2 files with the samples as rows, the sample name in both the
``Name`` and the ``Description`` column, and cluster numbers 1..k (R's ``cutree`` numbering)
as values:

``membership.gct``
    every sample in input order, one column per surveyed rank: its consensus cluster there.
``consensus.k.<k>.gct``
    the samples in the leaf order of the rank's consensus tree (average linkage of 1 - C, the
    order of the consensus heatmap), one column: the consensus cluster of each.

The writers here produce that layout (with the prefix NMFConsensus adds, when one is given:
``<prefix>.membership.gct``). Column headers differ between NMFConsensus versions (repeated
``membership`` names, or ``k= 2``); bionmf writes ``k=2``, ``k=3``, ... and ``membership``.
Clusters are bionmf's consensus clusters plus one, so cluster a still goes with metagene a - 1
of ``varm``/``obsm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ..core.consensus import consensus_linkage
from ._common import as_path
from ._gct import write_gct

MEMBERSHIP_FILE = "membership.gct"


def consensus_k_name(rank: int) -> str:
    """File name NMFConsensus gives the membership of rank ``rank`` in tree order."""
    return f"consensus.k.{int(rank)}.gct"


def _with_prefix(name: str, prefix: str | None) -> str:
    return name if not prefix else f"{prefix}.{name}"


def _samples_as_rows(values: np.ndarray, samples: pd.Index, columns: Sequence[str]) -> ad.AnnData:
    """An AnnData that :func:`write_gct` writes with the samples as GCT rows (its var)."""
    var = pd.DataFrame({"description": samples.astype(str)}, index=samples.astype(str))
    obs = pd.DataFrame(index=pd.Index(list(columns), dtype=str))
    return ad.AnnData(X=np.asarray(values, dtype=np.int64).reshape(len(columns), len(samples)), obs=obs, var=var)


def write_membership_gct(membership: pd.DataFrame, path) -> None:
    """Write NMFConsensus's ``membership.gct``: the cluster of every sample at every rank.

    Parameters
    ----------
    membership
        Samples x ranks: index the sample names (in input order), columns the ranks (ints), values
        bionmf's 0-based cluster numbers; they are written 1-based, as NMFConsensus does.
    path
        Output file (written through a temporary file: a failure leaves none).

    Returns
    -------
    None. The file: GCT 1.2, one row per sample (``Name`` and ``Description`` the sample name),
    one column ``k=<rank>`` per rank in ascending order.
    """
    if not isinstance(membership, pd.DataFrame):
        raise TypeError(f"membership must be a DataFrame (samples x ranks), got {type(membership).__name__}")
    if membership.empty:
        raise ValueError("membership is empty: give at least one sample and one rank")
    ranks = sorted(int(k) for k in membership.columns)
    values = membership[sorted(membership.columns, key=int)].to_numpy()
    _check_clusters(values, ranks, "membership")
    columns = [f"k={k}" for k in ranks]
    write_gct(_samples_as_rows(values.T + 1, membership.index, columns), path, version="1.2")


def write_consensus_k_gct(clusters, path, *, order: np.ndarray | None = None, rank: int | None = None) -> None:
    """Write NMFConsensus's ``consensus.k.<k>.gct``: one rank's clusters in consensus-tree order.

    Parameters
    ----------
    clusters
        Series indexed by sample name (input order), bionmf's 0-based consensus cluster of each;
        written 1-based.
    path
        Output file.
    order
        Positions of the samples in the order to write (the consensus tree's leaves, see
        :func:`bionmf.io._genepattern.consensus_order`); default: by cluster, then input order.
    rank
        The rank, checked against the cluster numbers (default: their count).

    Returns
    -------
    None. The file: GCT 1.2, one row per sample in ``order``, one column ``membership``.
    """
    if not isinstance(clusters, pd.Series):
        raise TypeError(f"clusters must be a Series indexed by sample, got {type(clusters).__name__}")
    values = clusters.to_numpy()
    n = values.size
    if n == 0:
        raise ValueError("clusters is empty")
    if rank is None:
        rank = int(np.max(values)) + 1 if np.issubdtype(values.dtype, np.number) else 0
    _check_clusters(values[:, None], [rank], "clusters")
    if order is None:
        order = np.argsort(values, kind="stable")
    order = np.asarray(order)
    if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"order must be a permutation of the {n} sample positions")
    write_gct(_samples_as_rows(values[order][None, :] + 1, clusters.index[order], ["membership"]), path,
              version="1.2")


def _check_clusters(values: np.ndarray, ranks: Sequence[int], what: str) -> None:
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{what}: cluster numbers must be integers, got dtype {values.dtype}")
    for j, k in enumerate(ranks):
        bad = (values[:, j] < 0) | (values[:, j] >= k)
        if bad.any():
            raise ValueError(f"{what}: rank {k} has cluster numbers outside 0..{k - 1} "
                             f"(e.g. {int(values[bad, j][0])})")


def consensus_order(survey: dict, rank: int, clusters: np.ndarray) -> np.ndarray:
    """Sample positions in the leaf order of the rank's consensus tree when the survey holds the
    full consensus matrix (as NMFConsensus orders ``consensus.k.<k>.gct``); otherwise (component
    consensus, or a consensus read on a subsample of a large data set) by cluster, then input
    order."""
    from scipy.cluster.hierarchy import leaves_list

    C = survey.get("consensus", {}).get(str(rank))
    if C is not None and "consensus_subsample" not in survey and np.shape(C)[0] == clusters.size:
        return np.asarray(leaves_list(consensus_linkage(np.asarray(C, dtype=np.float64))))
    return np.argsort(clusters, kind="stable")


def write_genepattern(adata: ad.AnnData, directory, *, key: str = "nmf", prefix: str | None = None) -> list[Path]:
    """Write a survey's clusters as NMFConsensus does: ``membership.gct`` and one
    ``consensus.k.<k>.gct`` per surveyed rank, into ``directory``.

    Parameters
    ----------
    adata
        AnnData on which :func:`bionmf.tl.nmf` ran.
    directory
        Existing directory to write into.
    key
        ``key_added`` of the survey.
    prefix
        File-name prefix, as NMFConsensus's output prefix: ``<prefix>.membership.gct``.

    Returns
    -------
    The paths written: ``membership.gct`` first, then ``consensus.k.<k>.gct`` by ascending rank.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"adata must be an AnnData object, got {type(adata).__name__}")
    survey = adata.uns.get(key)
    if not isinstance(survey, dict) or "clusters" not in survey:
        raise ValueError(f"adata.uns has no survey under {key!r}; run bionmf.tl.nmf(adata, key_added={key!r}) first")
    directory = as_path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"directory {directory} does not exist")
    ranks = sorted(int(k) for k in survey["clusters"])
    clusters = {k: np.asarray(survey["clusters"][str(k)], dtype=np.int64) for k in ranks}
    wrong = [k for k in ranks if clusters[k].shape != (adata.n_obs,)]
    if wrong:
        raise ValueError(f"uns[{key!r}]['clusters'] of ranks {wrong} do not have one entry per sample "
                         f"({adata.n_obs}); was adata subset after the survey?")
    membership = pd.DataFrame(clusters, index=adata.obs_names)
    paths = [directory / _with_prefix(MEMBERSHIP_FILE, prefix)]
    write_membership_gct(membership, paths[0])
    for k in ranks:
        path = directory / _with_prefix(consensus_k_name(k), prefix)
        write_consensus_k_gct(membership[k], path, order=consensus_order(survey, k, clusters[k]), rank=k)
        paths.append(path)
    return paths
