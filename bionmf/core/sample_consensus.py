"""The sample consensus of Brunet et al. (2004): how often two samples share a metagene across runs.

Per rank: the consensus matrix (exact, or on a fixed subsample above
:data:`~bionmf.core.consensus.EXACT_CONSENSUS_MAX` samples), its consensus clusters, the
stability figures read from it (cophenetic, dispersion, silhouette, PAC) and the fit figures of
the best run. :class:`SampleConsensus` is this kind of :class:`~bionmf.core.summary.ConsensusKind`.
"""

from __future__ import annotations

from . import metrics as M
from .consensus import (
    CONSENSUS_SUBSAMPLE,
    EXACT_CONSENSUS_MAX,
    ConsensusAccumulator,
    assign,
    cluster_affinity,
    consensus_clusters,
    consensus_subsample,
)
from .rank_selection import CV_RULES, SAMPLE_RULES
from .runs import RankRuns
from .summary import RUN_METRIC_COLUMNS, ConsensusKind, RankSummary, run_metrics

METRIC_COLUMNS = (
    "cophenetic",
    "dispersion",
    "silhouette",
    "pac",
    "rss",
    "evar",
    "sparseness_basis",
    "sparseness_coef",
    *RUN_METRIC_COLUMNS,
)


def summarize_rank(
    X,
    rank_runs: RankRuns,
    *,
    max_exact: int = EXACT_CONSENSUS_MAX,
    subsample_size: int = CONSENSUS_SUBSAMPLE,
    random_state: int = 0,
) -> RankSummary:
    """Consensus matrix, consensus clusters and every metric of one rank (see ``METRIC_COLUMNS``).

    Clusters are the average-linkage tree of 1 - C cut into k groups, numbered to agree with the
    best run's metagenes.

    Up to ``max_exact`` samples the consensus matrix is exact (n x n). Above, it is the consensus
    of a fixed random subsample of ``subsample_size`` samples (seeded by ``random_state``; see
    :func:`bionmf.core.consensus.consensus_subsample`), from which the stability figures are
    read; the subsample's clusters come from its tree and every other sample joins the cluster
    with which it shares a metagene most often across runs. No n x n array is made.
    """
    labels = rank_runs.labels
    n = labels.shape[1]
    k = rank_runs.rank
    reference = assign(rank_runs.best_H)
    subsample = None
    if n > max_exact:
        subsample = consensus_subsample(n, min(subsample_size, n), random_state)
        labels = labels[:, subsample]
        reference = reference[subsample]
    acc = ConsensusAccumulator(labels.shape[1])
    acc.add(labels)
    C = acc.consensus()
    clusters = consensus_clusters(C, k, reference=reference)
    rss, evar = M.residuals(X, rank_runs.best_W, rank_runs.best_H)
    values = {
        "cophenetic": M.cophenetic_correlation(C),
        "dispersion": M.dispersion(C),
        "silhouette": M.silhouette(1.0 - C, clusters),  # of the (sub)sample the matrix covers
        "pac": M.pac(C),
        "rss": rss,
        "evar": evar,
        "sparseness_basis": M.hoyer_sparseness(rank_runs.best_W),
        "sparseness_coef": M.hoyer_sparseness(rank_runs.best_H),
        **run_metrics(rank_runs),
    }
    if subsample is not None:
        affinity = cluster_affinity(rank_runs.labels, subsample, clusters, k)
        all_clusters = affinity.argmax(axis=1)
        all_clusters[subsample] = clusters
        clusters = all_clusters
    return RankSummary(rank=k, consensus=C, clusters=clusters, metrics=values, subsample=subsample)


class SampleConsensus(ConsensusKind):
    """The sample consensus (Brunet et al. 2004): consensus matrices, the bulk default."""

    name = "samples"
    metric_columns = METRIC_COLUMNS
    #: the cross-validated rules apply when the survey is cross-validated (``crossval``)
    rules = (*SAMPLE_RULES, *CV_RULES)
    #: Chosen by ``benchmarks/rank_rules.py``: on 36 simulated data sets (planted ranks 2-5 x easy,
    #: medium, hard x 3 seeds; 20 runs, ranks 2-7) it recovered the planted rank in 12/12 easy,
    #: 11/12 medium and 2/12 hard cases (25/36), with max_silhouette (25/36), max_cophenetic and
    #: min_pac (24/36) close behind and Brunet's cophenetic_drop at 20/36.
    default_rule = "max_dispersion"
    headline = "cophenetic"
    default_algorithm = "brunet"
    has_consensus_matrix = True
    has_null_model = True
    writes_best_run = True
    summary_arrays = ("consensus", "clusters")
    optional_arrays = ("subsample",)
    summary_file = "summary.npz"

    def params(self, *, density_threshold: float, n_samples: int) -> dict:
        return {"consensus_subsample": CONSENSUS_SUBSAMPLE} if n_samples > EXACT_CONSENSUS_MAX else {}

    def summarize(self, X, runs: RankRuns, *, random_state: int, density_threshold: float) -> RankSummary:
        return summarize_rank(X, runs, random_state=random_state)
