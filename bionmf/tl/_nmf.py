"""``tl.nmf``: the consensus NMF rank survey on an AnnData object, a loop over :class:`Survey`'s stages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import anndata as ad
import numpy as np

from .._logging import logger
from .._threads import resolve_n_jobs
from ..core import SurveyOptions
from ..core.components import DENSITY_THRESHOLD
from ..core.solvers import SolverOptions
from ..core.survey_options import DEFAULT_RANKS
from ._store import check_key_added
from ._survey import Survey, class_column


def nmf(
    adata: ad.AnnData,
    *,
    ranks: Iterable[int] = DEFAULT_RANKS,
    n_runs: int = 50,
    algorithm: str | None = None,
    consensus: str = "auto",
    rank_rule: str | None = None,
    random_state: int = 0,
    layer: str | None = None,
    use_genes: str | np.ndarray | None = None,
    key_added: str = "nmf",
    density_threshold: float = DENSITY_THRESHOLD,
    solver: Mapping | SolverOptions | None = None,
    n_permutations: int = 0,
    crossval: str | None = None,
    crossval_runs: int = 4,
    classes: str | None = None,
    n_jobs: int | None = None,
    keep_spectra: bool = False,
    verbose: bool = True,
    copy: bool = False,
) -> ad.AnnData | None:
    """Consensus NMF rank survey (Brunet et al. 2004, PNAS 101:4164).

    For every rank k in ``ranks``, ``n_runs`` NMF runs from random starts factorize the samples x
    genes matrix as X^T ~ W H (W: genes x k metagenes, H: k x samples coefficients). Each run
    assigns every sample to its largest metagene; the consensus matrix is the fraction of runs in
    which two samples share a metagene. Stability measures of each rank's consensus (cophenetic
    correlation, dispersion, silhouette, PAC) and fit measures of its best run (lowest objective)
    go into one table, and ``rank_rule`` picks the rank whose results are written to ``adata``.

    Parameters
    ----------
    adata
        Samples (or cells) x genes, non-negative.
    ranks
        Ranks to survey, each >= 2 and below min(n_samples, n_genes).
    n_runs
        Runs per rank (Brunet et al. used 50; 20-100 is usual).
    algorithm
        ``"brunet"`` (Kullback-Leibler multiplicative updates), ``"lee"`` (Frobenius
        multiplicative updates) or ``"hals"`` (Frobenius HALS, fast on large data). None (default):
        ``solver``'s, else the consensus kind's default
        (:attr:`bionmf.core.ConsensusKind.default_algorithm`: ``"brunet"`` for the sample
        consensus, ``"hals"`` with cNMF's start and stop for the component consensus).
    consensus
        How the runs of a rank are combined. ``"samples"``: the sample consensus matrix of Brunet
        et al., exact up to :data:`bionmf.core.consensus.EXACT_CONSENSUS_MAX` (5000) samples and
        above that read on a fixed random subsample of
        :data:`bionmf.core.consensus.CONSENSUS_SUBSAMPLE` (2000) samples (no n x n array for large
        n). ``"components"``: the component consensus of Kotliar et al. (2019, eLife 8:e43803;
        cNMF): the runs' gene spectra are pooled, outliers dropped (``density_threshold``),
        clustered into k programs (median of each cluster), and every sample's usage refit with
        the programs fixed; cost linear in the samples. ``"auto"`` (default): ``"samples"`` up to
        :data:`bionmf.core.AUTO_COMPONENTS_ABOVE` (2000) samples, ``"components"``
        above. Both use the same runs.
    rank_rule
        Rule picking the rank. Sample consensus (:attr:`bionmf.core.SampleConsensus.rules`):
        ``"max_dispersion"`` (default: highest dispersion of the consensus, Kim & Park 2007; it
        recovered planted ranks best on simulated data, see ``benchmarks/rank_rules.py``),
        ``"cophenetic_drop"`` (Brunet's: the first rank after which cophenetic falls),
        ``"max_cophenetic"``, ``"min_pac"``, ``"max_silhouette"``, ``"largest_drop"``. Component
        consensus (:attr:`bionmf.core.ComponentConsensus.rules`): ``"stability_error"``
        (default: the lowest error among the ranks within 0.05
        of the highest stability) or ``"max_stability"``. Every applicable rule's choice is
        recorded in ``uns[key_added]['rank_rules']``.
    random_state
        Seed (non-negative int). Run r of rank k is seeded by (random_state, k, r) alone.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    use_genes
        Genes to fit on: name of a boolean ``var`` column, or a boolean mask. Default: the
        ``var['nmf_use']`` column written by :func:`bionmf.pp.normalize` when present, else all.
    key_added
        Base name of every field written (see Returns).
    density_threshold
        Component consensus: spectra whose mean distance to their nearest neighbours (30% of the
        runs) exceeds this are dropped as outliers before clustering (2 keeps all).
    solver
        How each run is computed: a :class:`bionmf.core.solvers.SolverOptions`, or a mapping of
        its fields (``stop``, ``max_iter``, ``check_interval``, ``n_stable``, ``tol``, ``dtype``,
        ``init``, ``batch_size``, ``inner_sweeps``; None: every default). The stopping rule for
        ``brunet`` and ``lee`` is Brunet's connectivity rule as the R package NMF and Brunet's
        code run it: every ``check_interval`` = 10 iterations the sample grouping is compared
        with the previous check's; a run stops once it has stayed the same for more than
        ``n_stable`` = 40 checks in a row, at most ``max_iter`` = 2000 iterations.
        ``n_stable=20`` is about 35 % faster and gives the same clusters, but can change the rank
        the metrics pick (``benchmarks/README.md``). For ``hals`` (the component consensus's
        default): cNMF's rule, stop once the projected gradient is below ``tol`` (default 1e-4)
        times the first iteration's (scikit-learn's coordinate descent, which cNMF runs);
        ``stop="objective"`` instead stops at a relative objective change below ``tol`` (default
        1e-5) between checks. ``dtype``: ``"float32"`` (default) or ``"float64"`` arithmetic.
        ``init``: random starts, ``"max"`` (entries uniform on (0, max X), as the R package NMF
        seeds; default for ``brunet`` and ``lee``) or ``"mean"`` (entries
        ``sqrt(mean X / k) |N(0, 1)|``, as scikit-learn and cNMF seed; default for ``hals``).
        ``batch_size``: runs advanced together (default: all runs of a rank); results do not
        depend on it. ``inner_sweeps``: accelerated HALS, a measured speed option
        (:class:`~bionmf.core.solvers.SolverOptions`).
    n_jobs
        Threads (default: all cores).
    crossval
        Also measure how well each rank predicts data its fit never saw
        (:mod:`bionmf.core.crossval`), with the loss of the survey's algorithm: ``"bicross"``
        (bi-cross-validation, Owen & Perry 2009: factorize half the samples x half the genes,
        predict the held-out block; 0.33x the cost of a 10-run survey with 4 runs) or
        ``"speckled"`` (10 % of the entries held out and fitted around, Wold 1978; 3.4x). Adds
        the rules ``min_cv_error``, ``cv_one_se`` and ``cv_stable`` (the most stable rank among
        those within one standard error of the lowest held-out error), which ``rank_rule`` may
        name. On planted data ``cv_stable`` with ``"bicross"`` recovered 23 of 30 ranks against
        19 for the best consensus rule, but no more of the hardest cases (whose groups the linear
        data do not show, README "Cross-validated rank"), and on Golub the held-out
        error keeps falling to rank 5-6 (README, "Cross-validated rank"): read it as an upper
        bound beside the consensus curves.
    crossval_runs
        Cross-validation runs per rank (``"bicross"``: the blocks of a 2 x 2 split of samples and
        genes, a new split every 4 runs; ``"speckled"``: a new random 10 % each).
    classes
        Name of an ``obs`` column of known classes (e.g. a diagnosis): adds the ``purity`` and
        ``entropy`` of every rank's consensus clusters against them to the metrics table (the R
        package NMF's ``summary(fit, class=)``).
    n_permutations
        Also run the same survey (ranks, runs, options) on this many copies of the data with
        each gene's values permuted across samples, the null model of Frigyesi & Hoglund (2008):
        ranks whose metrics stand clear of the null's are supported by the data. The shuffle of
        permutation p is seeded by (random_state, p) alone, its runs as the real survey's. Costs
        (1 + n_permutations) times the survey.
    keep_spectra
        Component consensus: keep every run's spectra in ``uns[key_added]['spectra']`` (runs x k x
        fitted genes per rank, float32), so that :func:`bionmf.tl.rethreshold` can redo the
        consensus at another ``density_threshold`` without refitting.
    verbose
        Show a progress bar over the runs on stderr when a person is watching (a terminal or a
        Jupyter notebook; never in a batch job or the workflow), and log one line per rank at
        INFO level (``logging.getLogger("bionmf")``). ``False`` silences both. An interrupted
        survey (Ctrl-C, ``KeyboardInterrupt``) stops within about a second and writes nothing
        into ``adata``.
    copy
        Return a new AnnData instead of writing into ``adata``.

    Returns
    -------
    ``None``, or the new AnnData when ``copy=True``. Written (default key ``nmf``):

    ``obsm['X_nmf']``
        samples x k coefficients (H transposed) of the best run at the chosen rank.
    ``varm['nmf']``
        genes x k metagene loadings (W) at the chosen rank; zero for genes not fitted.
    ``obs['nmf_cluster']``
        consensus cluster of each sample at the chosen rank (categorical ``'0'`` to ``'k-1'``;
        cluster a is matched to metagene a).
    ``obs['nmf_usage_0']`` to ``obs['nmf_usage_<k-1>']``
        the columns of ``obsm['X_nmf']``, so ``sc.pl.umap(adata, color="nmf_usage_0")`` works
        (with either consensus; a previous survey's columns under the key are replaced).
    ``obs['nmf_silhouette']``
        silhouette width of each sample in the consensus of the chosen rank
        (:func:`bionmf.tl.sample_silhouette`; NaN outside the consensus subsample).
    ``uns['nmf']``
        ``best_run`` (str(rank) -> index of the run of lowest objective, the one
        :func:`bionmf.tl.convergence` traces by default), ``params`` (every option), ``rank`` (chosen), ``rank_rules`` (rank each rule picks),
        ``metrics`` (DataFrame indexed by rank: cophenetic, dispersion, silhouette, pac, rss,
        evar, sparseness_basis, sparseness_coef, objective (best run), objective_mean, n_iter
        (mean), n_runs), ``consensus`` (str(rank) -> samples x samples consensus matrix),
        ``clusters`` (str(rank) -> consensus cluster per sample), ``basis`` (str(rank) -> genes x
        k loadings of the best run) and ``coefficients`` (str(rank) -> samples x k). With
        ``n_permutations`` > 0 also ``null_metrics`` (DataFrame indexed by rank, the columns of
        ``metrics`` averaged over permutations) and ``null_metrics_permutations`` (long
        DataFrame: ``permutation``, ``rank`` and every metric, one row per permutation and rank).
        With ``crossval``: the metrics table also holds ``cv_error`` (mean held-out error per
        held-out entry: KL divergence or squared error), ``cv_error_sd``, ``cv_error_se`` (its
        standard error) and ``cv_runs``, ``rank_rules`` the cross-validated rules, ``params``
        ``crossval`` and ``crossval_runs``, and ``uns['nmf']['crossval']`` every run's errors
        (DataFrame: rank, run, error, train_error, n_iter). With ``classes``: ``purity`` and
        ``entropy`` columns.
        Above 5000 samples, ``consensus`` covers the subsample whose sorted sample indices are in
        ``consensus_subsample`` (its size is ``params['consensus_subsample']``).

    With ``consensus="components"`` instead:

    ``obsm['X_nmf']``
        samples x k usages of the consensus programs (non-negative least squares, programs
        fixed), programs ordered by total usage.
    ``varm['nmf']``
        genes x k program loadings: the consensus programs (each summing to 1 over the fitted
        genes) and, for genes outside the fit, their least-squares fit on the usages.
    ``obs['nmf_cluster']``
        program of largest usage per sample (categorical ``'0'`` to ``'k-1'``).
    ``uns['nmf']``
        ``params``, ``rank``, ``rank_rules``, ``metrics`` (DataFrame indexed by rank: stability
        (silhouette of the spectra clustering), error (||X - usages programs||^2), evar,
        n_spectra_kept, objective, objective_mean, n_iter, n_runs), ``clusters``, ``basis`` and
        ``coefficients`` per rank as above (consensus programs and usages), ``spectra_density``
        and ``spectra_labels`` (str(rank) -> local density and program of each run's spectra,
        -1 for outliers), and with ``keep_spectra`` ``spectra`` (str(rank) -> runs x k x fitted
        genes); no ``best_run`` (the workflow does not merge a component survey's runs), so
        :func:`bionmf.tl.convergence` needs ``runs=``. The ``obs['nmf_usage_<a>']`` columns as above; no silhouette column.
    """
    check_key_added(key_added)  # before the survey runs, not after it
    n_jobs = resolve_n_jobs(n_jobs)
    options = SurveyOptions(ranks=ranks, n_runs=n_runs, consensus=consensus, rank_rule=rank_rule,
                            density_threshold=density_threshold, n_permutations=n_permutations,
                            random_state=random_state, crossval=crossval, crossval_runs=crossval_runs)
    if classes is not None:
        class_column(adata, classes)  # checked before anything is computed
    survey = Survey(adata, options=options, solver=solver, algorithm=algorithm, layer=layer, use_genes=use_genes,
                    verbose=False)
    X = survey.matrix()
    if verbose:
        logger.info("NMF rank survey: %d samples x %d genes, ranks %s, %d runs each, %s, %s consensus",
                    X.shape[0], X.shape[1], list(survey.ranks), n_runs, survey.solver.algorithm, survey.kind.name)
    result = survey.run(n_jobs=n_jobs, verbose=verbose, keep_spectra=keep_spectra)
    adata = adata.copy() if copy else adata
    survey.write(adata, result.runs, result.summaries, choice=result.choice, null=result.null,
                 crossval=result.crossval, classes=classes, key_added=key_added)
    if keep_spectra:
        adata.uns[key_added]["spectra"] = result.spectra
    return adata if copy else None
