"""Stability and quality measures of a rank, from its consensus matrix and its best run."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import cophenet
from scipy.spatial.distance import squareform

from .consensus import consensus_linkage
from .solvers._products import frobenius_residual, squared_norm


def cophenetic_correlation(C: np.ndarray) -> float:
    """Cophenetic correlation of the consensus matrix (Brunet et al. 2004).

    Pearson correlation between the distances 1 - C_ij and the cophenetic distances of the
    average-linkage tree built on them, over pairs i < j. 1 for a perfectly stable (0/1) consensus;
    lower as the consensus is more dispersed.
    """
    D = 1.0 - np.asarray(C, dtype=np.float64)
    np.fill_diagonal(D, 0.0)
    d = squareform((D + D.T) / 2.0, checks=False)
    if np.ptp(d) == 0:  # every pair equally connected: the tree carries no information
        return 1.0 if d[0] in (0.0, 1.0) else 0.0
    coph = cophenet(consensus_linkage(C))
    return float(np.corrcoef(d, coph)[0, 1])


def dispersion(C: np.ndarray) -> float:
    """Dispersion coefficient (Kim & Park 2007, Bioinformatics 23:1495).

    rho = (1/n^2) sum_ij 4 (C_ij - 1/2)^2: 1 when every entry is 0 or 1, 0 when all are 1/2.
    """
    C = np.asarray(C, dtype=np.float64)
    return float(np.mean(4.0 * (C - 0.5) ** 2))


def pac(C: np.ndarray, lower: float = 0.1, upper: float = 0.9) -> float:
    """Proportion of ambiguous clustering (Senbabaoglu et al. 2014, Sci. Rep. 4:6207).

    The fraction of sample pairs i < j whose consensus lies in (lower, upper]: CDF(upper) -
    CDF(lower) of the consensus values. 0 for a perfectly stable clustering; lower is better.
    """
    values = squareform(np.asarray(C, dtype=np.float64), checks=False)
    return float(np.mean((values > lower) & (values <= upper)))


def silhouette(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette width (Rousseeuw 1987) of ``labels`` under the distance matrix ``D``.

    s_i = (b_i - a_i) / max(a_i, b_i), with a_i the mean distance to the other members of i's
    cluster and b_i the smallest mean distance to another cluster; s_i = 0 for singletons.
    For the consensus silhouette, D = 1 - C and the labels are the consensus clusters.
    """
    return float(silhouette_samples(D, labels).mean())


def silhouette_samples(D: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Silhouette width of every sample (see :func:`silhouette`)."""
    D = np.asarray(D, dtype=np.float64)
    labels = np.asarray(labels)
    clusters, inverse = np.unique(labels, return_inverse=True)
    if clusters.size < 2:
        return np.zeros(labels.size)
    onehot = np.zeros((labels.size, clusters.size))
    onehot[np.arange(labels.size), inverse] = 1.0
    sizes = onehot.sum(axis=0)
    sums = D @ onehot  # (n, clusters): total distance to each cluster
    own_size = sizes[inverse]
    a = np.where(own_size > 1, sums[np.arange(labels.size), inverse] / np.maximum(own_size - 1, 1), 0.0)
    other = sums / sizes
    other[np.arange(labels.size), inverse] = np.inf
    b = other.min(axis=1)
    s = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), np.finfo(float).tiny), 0.0)
    return s


def hoyer_sparseness(A: np.ndarray) -> float:
    """Mean Hoyer (2004) sparseness of the columns of A.

    For a vector x of length d: (sqrt(d) - |x|_1 / |x|_2) / (sqrt(d) - 1), 0 for a constant vector
    and 1 for a vector with one non-zero entry. The basis W (genes x k) gives the sparseness of
    the metagenes; the coefficients H (k x samples) give it per sample, as in the R package NMF.
    """
    A = np.abs(np.asarray(A, dtype=np.float64))
    d = A.shape[0]
    if d < 2:
        return 0.0
    l1 = A.sum(axis=0)
    l2 = np.sqrt((A**2).sum(axis=0))
    ratio = np.divide(l1, l2, out=np.full_like(l1, np.sqrt(d)), where=l2 > 0)
    return float(np.mean((np.sqrt(d) - ratio) / (np.sqrt(d) - 1.0)))


def residuals(X, W: np.ndarray, H: np.ndarray) -> tuple[float, float]:
    """Residual sum of squares ||V - W H||_F^2 and explained variance 1 - RSS / ||V||_F^2.

    ``X`` is samples x genes (V = X^T), ``W`` genes x k, ``H`` k x samples. Matches the R package
    NMF's ``rss`` and ``evar``.
    """
    x_norm2 = squared_norm(X)
    rss = float(frobenius_residual(X, W.T[None], H[None], x_norm2)[0])
    return rss, 1.0 - rss / x_norm2


def _contingency(clusters, classes) -> np.ndarray:
    """clusters x classes counts; classes keep every category of a pandas Categorical (as R's
    factor levels), otherwise the distinct values present."""
    clusters = np.asarray(clusters)
    if hasattr(classes, "cat"):
        classes = classes.cat
    categories = getattr(classes, "categories", None)
    if categories is not None:
        codes = np.asarray(classes.codes)
        n_classes = len(categories)
    else:
        _, codes = np.unique(np.asarray(classes), return_inverse=True)
        n_classes = int(codes.max()) + 1 if codes.size else 0
    if clusters.shape[0] != codes.shape[0]:
        raise ValueError(f"clusters ({clusters.shape[0]}) and classes ({codes.shape[0]}) differ in length")
    if (codes < 0).any():
        raise ValueError("classes contain missing values; drop those samples or give them a class")
    _, cluster_codes = np.unique(clusters, return_inverse=True)
    table = np.zeros((int(cluster_codes.max()) + 1 if cluster_codes.size else 0, n_classes))
    np.add.at(table, (cluster_codes, codes), 1.0)
    return table


def purity(clusters, classes) -> float:
    """Purity of ``clusters`` against known ``classes`` (the R package NMF's ``purity``).

    The share of samples that belong to the most frequent class of their cluster:
    sum over clusters of max_j n_ij, divided by n. 1 when every cluster holds one class.
    """
    table = _contingency(clusters, classes)
    return float(table.max(axis=1).sum() / table.sum())


def entropy(clusters, classes) -> float:
    """Entropy of ``clusters`` against known ``classes`` (the R package NMF's ``entropy``).

    -1 / (n log2 q) sum_i sum_j n_ij log2(n_ij / n_i), with q the number of classes (every
    category of a Categorical) and n_i the size of cluster i: 0 when every cluster holds one
    class, 1 when every cluster mixes all classes evenly. NaN with a single class, as in R.
    """
    table = _contingency(clusters, classes)
    sizes = table.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(table > 0, table * np.log2(table / sizes), 0.0)
        return float(-terms.sum() / (table.sum() * np.log2(table.shape[1]))) + 0.0  # no -0.0
