"""Sample consensus over runs (Brunet et al. 2004) and the clusters cut from it.

Each run assigns every sample to the metagene with its largest coefficient; two samples are
connected in that run when they share a metagene. The consensus matrix is the connectivity averaged
over runs. It is accumulated run by run from the assignments, so runs x n x n is never stored.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import squareform


def assign(H: np.ndarray) -> np.ndarray:
    """Metagene of each sample: argmax over the k coefficients. H: (k, n) or (runs, k, n)."""
    return np.asarray(H).argmax(axis=-2)


class ConsensusAccumulator:
    """Sum of connectivity matrices over runs, as counts.

    >>> acc = ConsensusAccumulator(n_samples=4)
    >>> acc.add(np.array([[0, 0, 1, 1], [0, 1, 1, 1]]))
    >>> acc.consensus()[0, 1]
    0.5
    """

    def __init__(self, n_samples: int):
        self.counts = np.zeros((n_samples, n_samples), dtype=np.uint32)
        self.n_runs = 0

    def add(self, labels: np.ndarray) -> None:
        """Add runs given as assignments: (runs, n) or (n,) integer labels."""
        labels = np.atleast_2d(labels)
        for row in labels:
            self.counts += row[:, None] == row[None, :]
        self.n_runs += labels.shape[0]

    def consensus(self) -> np.ndarray:
        """Consensus matrix C (n x n, float64): fraction of runs in which i and j share a cluster."""
        if self.n_runs == 0:
            raise ValueError("no runs were added to the consensus")
        return self.counts / float(self.n_runs)


def consensus_matrix(labels: np.ndarray) -> np.ndarray:
    """Consensus matrix of a set of runs' assignments (runs, n)."""
    acc = ConsensusAccumulator(np.shape(labels)[-1])
    acc.add(labels)
    return acc.consensus()


def consensus_linkage(C: np.ndarray) -> np.ndarray:
    """Average-linkage tree (scipy linkage matrix) of the distance 1 - C."""
    D = 1.0 - np.asarray(C, dtype=np.float64)
    np.fill_diagonal(D, 0.0)
    D = (D + D.T) / 2.0  # guard against rounding asymmetry
    return linkage(squareform(D, checks=False), method="average")


def consensus_clusters(C: np.ndarray, rank: int, reference: np.ndarray | None = None) -> np.ndarray:
    """Cut the average-linkage tree of 1 - C into ``rank`` clusters; labels 0..rank-1.

    With ``reference`` (a run's metagene assignment per sample, e.g. the best run's), clusters are
    renumbered to agree with it as far as possible (Hungarian matching on the overlap), so that
    cluster a is the group of samples driven by metagene a.
    """
    Z = consensus_linkage(C)
    labels = fcluster(Z, t=rank, criterion="maxclust") - 1
    if reference is not None:
        labels = match_labels(labels, np.asarray(reference), rank)
    return labels


def misassigned(labels, reference) -> int:
    """Samples outside the best one-to-one matching of the groups of ``labels`` and ``reference``.

    Any label values; the groups are matched to maximise the samples they share (Hungarian
    algorithm), so this counts how many samples two partitions put differently.
    """
    _, a = np.unique(np.asarray(labels), return_inverse=True)
    _, b = np.unique(np.asarray(reference), return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    rows, cols = linear_sum_assignment(-table)
    return int(a.size - table[rows, cols].sum())


def match_labels(labels: np.ndarray, reference: np.ndarray, n_labels: int) -> np.ndarray:
    """Renumber ``labels`` to maximise agreement with ``reference`` (both 0..n_labels-1)."""
    size = max(n_labels, labels.max() + 1, reference.max() + 1)
    overlap = np.zeros((size, size), dtype=np.int64)
    np.add.at(overlap, (labels, reference), 1)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.empty(size, dtype=np.int64)
    mapping[rows] = cols
    return mapping[labels]


#: The sample consensus is exact (an n x n matrix) up to this many samples. Above it the matrix,
#: and the figures read from it (cophenetic, dispersion, silhouette, PAC), come from a fixed random
#: subsample of CONSENSUS_SUBSAMPLE samples: at 5000 samples the exact matrix and its average-
#: linkage tree already take about 0.5 GB and tens of seconds per rank, and both grow as n^2.
EXACT_CONSENSUS_MAX = 5000
CONSENSUS_SUBSAMPLE = 2000


def consensus_subsample(n_samples: int, size: int, random_state: int) -> np.ndarray:
    """Sorted indices of a random subsample of ``size`` of ``n_samples`` samples.

    Seeded by (random_state, n_samples, size) alone, so every rank, chunk and job of a survey
    uses the same samples.
    """
    if not 2 <= size <= n_samples:
        raise ValueError(f"subsample size must be in [2, {n_samples}], got {size}")
    rng = np.random.default_rng(np.random.SeedSequence([int(random_state), int(n_samples), int(size)]))
    return np.sort(rng.choice(n_samples, size=size, replace=False))


def cluster_affinity(labels: np.ndarray, members: np.ndarray, member_clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean consensus of every sample with the members of each cluster, without an n x n matrix.

    ``labels``: (runs, n) assignments; ``members``: indices of the samples that carry a cluster;
    ``member_clusters``: their clusters (0..n_clusters-1). Entry (i, c) is the average over runs
    and over the members j of cluster c of [i and j share a metagene in the run], i.e. the mean of
    C_ij over j in c. Cost O(runs x n) time and O(n x n_clusters) memory.
    """
    labels = np.atleast_2d(labels)
    runs, n = labels.shape
    n_labels = int(labels.max()) + 1
    affinity = np.zeros((n, n_clusters))
    sizes = np.bincount(member_clusters, minlength=n_clusters).astype(np.float64)
    for row in labels:
        table = np.zeros((n_labels, n_clusters))
        np.add.at(table, (row[members], member_clusters), 1.0)
        affinity += table[row]
    return affinity / (runs * np.maximum(sizes, 1.0))
