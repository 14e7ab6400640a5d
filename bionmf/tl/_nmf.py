"""``tl.nmf``: the consensus NMF rank survey on an AnnData object."""

from __future__ import annotations

import numbers
import time
from collections.abc import Iterable, Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._logging import logger
from .._threads import resolve_n_jobs, solver_threads
from ..core import METRIC_COLUMNS, RankRuns, RankSummary, run_ranks, summarize_rank
from ..core.component_survey import summarize_components
from ..core.components import DENSITY_THRESHOLD
from ..core.consensus import CONSENSUS_SUBSAMPLE, EXACT_CONSENSUS_MAX
from ..core.permutation import permutation_seed, permute_within_genes
from ..core.rank_selection import (
    ALL_RULES,
    COMPONENT_RULES,
    DEFAULT_COMPONENT_RULE,
    DEFAULT_RULE,
    RULES,
)
from ..core.seeding import check_random_state
from ..core.solvers import SolverOptions, prepare_matrix
from ..pp._validate import validate_matrix
from ._components import resolve_consensus, store_components
from ._store import rank_table, write_survey

DEFAULT_RANKS = range(2, 7)


def nmf(
    adata: ad.AnnData,
    *,
    ranks: Iterable[int] = DEFAULT_RANKS,
    n_runs: int = 50,
    algorithm: str = "brunet",
    consensus: str = "auto",
    rank_rule: str | None = None,
    random_state: int = 0,
    layer: str | None = None,
    use_genes: str | np.ndarray | None = None,
    key_added: str = "nmf",
    density_threshold: float = DENSITY_THRESHOLD,
    stop: str | None = None,
    max_iter: int = 2000,
    check_interval: int = 10,
    n_stable: int = 20,
    tol: float | None = None,
    dtype: str = "float32",
    init: str | None = None,
    batch_size: int | None = None,
    n_jobs: int | None = None,
    n_permutations: int = 0,
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
        ``"brunet"`` (Kullback-Leibler multiplicative updates, the bulk default), ``"lee"``
        (Frobenius multiplicative updates) or ``"hals"`` (Frobenius HALS, fast on large data).
    consensus
        How the runs of a rank are combined. ``"samples"``: the sample consensus matrix of Brunet
        et al., exact up to :data:`bionmf.core.consensus.EXACT_CONSENSUS_MAX` (5000) samples and
        above that read on a fixed random subsample of
        :data:`bionmf.core.consensus.CONSENSUS_SUBSAMPLE` (2000) samples (no n x n array for large
        n). ``"components"``: the component consensus of Kotliar et al. (2019, eLife 8:e43803;
        cNMF): the runs' gene spectra are pooled, outliers dropped (``density_threshold``),
        clustered into k programs (median of each cluster), and every sample's usage refit with
        the programs fixed; cost linear in the samples. ``"auto"`` (default): ``"samples"`` up to
        :data:`bionmf.tl._components.AUTO_COMPONENTS_ABOVE` (2000) samples, ``"components"``
        above. Both use the same runs.
    rank_rule
        Rule picking the rank. Sample consensus (:data:`bionmf.core.rank_selection.RULES`):
        ``"max_dispersion"`` (default: highest dispersion of the consensus, Kim & Park 2007; it
        recovered planted ranks best on simulated data, see ``benchmarks/rank_rules.py``),
        ``"cophenetic_drop"`` (Brunet's: the first rank after which cophenetic falls),
        ``"max_cophenetic"``, ``"min_pac"``, ``"max_silhouette"``, ``"largest_drop"``. Component
        consensus (:data:`~bionmf.core.rank_selection.COMPONENT_RULES`): ``"stability_error"``
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
    stop, max_iter, check_interval, n_stable, tol
        Stopping rule per run (:class:`bionmf.core.solvers.SolverOptions`). The default for
        ``brunet`` and ``lee`` is Brunet's connectivity rule: stop when the sample assignment
        has not changed for ``n_stable`` = 20 checks made every ``check_interval`` = 10
        iterations, at most 2000 iterations. Brunet et al. (2004) and the R package NMF wait
        40 checks (``n_stable=40``); 20 reaches the same consensus clusters on Golub with 37 %
        fewer iterations. For ``hals``: a relative objective change below ``tol`` (default
        1e-5) between checks; ``stop="gradient"`` instead stops once the projected gradient is
        below ``tol`` (default 1e-4) times the first iteration's (scikit-learn's rule, which
        cNMF uses; more iterations: 1.3x on pbmc3k, 6x on 20,000 simulated cells).
    dtype
        ``"float32"`` (default) or ``"float64"`` arithmetic.
    init
        Random starts: ``"max"`` (entries uniform on (0, max X), as the R package NMF seeds;
        default for ``brunet`` and ``lee``) or ``"mean"`` (entries sqrt(mean X / k) ``|N(0, 1)|``,
        as scikit-learn and cNMF seed; default for ``hals``).
        ``algorithm="hals", init="mean", stop="gradient"`` factorizes as cNMF does.
    batch_size
        Runs advanced together (default: all runs of a rank). Results do not depend on it.
    n_jobs
        Threads (default: all cores).
    n_permutations
        Also run the same survey (ranks, runs, options) on this many copies of the data with
        each gene's values permuted across samples, the null model of Frigyesi & Hoglund (2008):
        ranks whose metrics stand clear of the null's are supported by the data. The shuffle of
        permutation p is seeded by (random_state, p) alone, its runs as the real survey's. Costs
        (1 + n_permutations) times the survey.
    verbose
        Log one line per rank at INFO level.
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
    ``uns['nmf']``
        ``params`` (every option), ``rank`` (chosen), ``rank_rules`` (rank each rule picks),
        ``metrics`` (DataFrame indexed by rank: cophenetic, dispersion, silhouette, pac, rss,
        evar, sparseness_basis, sparseness_coef, objective (best run), objective_mean, n_iter
        (mean), n_runs), ``consensus`` (str(rank) -> samples x samples consensus matrix),
        ``clusters`` (str(rank) -> consensus cluster per sample), ``basis`` (str(rank) -> genes x
        k loadings of the best run) and ``coefficients`` (str(rank) -> samples x k). With
        ``n_permutations`` > 0 also ``null_metrics`` (DataFrame indexed by rank, the columns of
        ``metrics`` averaged over permutations) and ``null_metrics_permutations`` (long
        DataFrame: ``permutation``, ``rank`` and every metric, one row per permutation and rank).
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
        -1 for outliers).
    """
    random_state = check_random_state(random_state)
    n_jobs = resolve_n_jobs(n_jobs)
    options = SolverOptions(
        algorithm=algorithm,
        stop=stop,
        max_iter=max_iter,
        check_interval=check_interval,
        n_stable=n_stable,
        tol=tol,
        dtype=dtype,
        init=init,
    )
    if rank_rule is not None and rank_rule not in ALL_RULES:
        raise ValueError(f"rank_rule must be one of {sorted(ALL_RULES)}, got {rank_rule!r}")
    if isinstance(n_runs, bool) or not isinstance(n_runs, numbers.Integral) or n_runs < 1:
        raise ValueError(f"n_runs must be a positive int, got {n_runs!r}")
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, numbers.Integral) or n_permutations < 0:
        raise ValueError(f"n_permutations must be a non-negative int, got {n_permutations!r}")
    X, genes, gene_key = fit_matrix(adata, layer=layer, use_genes=use_genes)
    ranks = check_ranks(ranks, X.shape)
    mode = resolve_consensus(consensus, X.shape[0])
    rank_rule = check_rank_rule(rank_rule, mode)
    if mode == "components" and n_runs < 2:
        raise ValueError(f"consensus='components' needs n_runs >= 2, got {n_runs}")
    if mode == "components" and n_permutations:
        raise ValueError("n_permutations (the null model of the sample-consensus figures) needs consensus='samples'")
    X = prepare_matrix(X, options.np_dtype)

    params = survey_params(
        ranks=ranks, n_runs=n_runs, random_state=random_state, rank_rule=rank_rule, layer=layer,
        genes=genes, gene_key=gene_key, n_permutations=n_permutations, options=options,
        consensus=mode, n_samples=X.shape[0], density_threshold=density_threshold,
    )
    if verbose:
        logger.info(
            "NMF rank survey: %d samples x %d genes, ranks %s, %d runs each, %s, %s consensus",
            X.shape[0], X.shape[1], params["ranks"], n_runs, algorithm, mode,
        )
    runs: dict[int, RankRuns] = {}
    summaries: dict = {}
    start = time.perf_counter()
    with solver_threads(n_jobs, uses_blas=options.algorithm != "brunet") as threads:
        surveyed = run_ranks(
            X, ranks, range(n_runs), random_state=random_state, options=options, n_jobs=threads,
            batch_size=batch_size, keep_spectra=mode == "components",
        )
        for i, (k, rank_runs) in enumerate(zip(ranks, surveyed), start=1):
            runs[k] = rank_runs
            if mode == "components":
                summaries[k] = summarize_components(
                    X, runs[k], density_threshold=density_threshold, random_state=random_state
                )
                runs[k].spectra = None  # summarized; free them
                figure = f"stability {summaries[k].metrics['stability']:.4f}"
            else:
                summaries[k] = summarize_rank(X, runs[k], random_state=random_state)
                figure = f"cophenetic {summaries[k].metrics['cophenetic']:.4f}"
            if verbose:
                logger.info(
                    "rank %d (%d/%d): %s, %.0f iterations per run, %.1f s elapsed",
                    k, i, len(ranks), figure, summaries[k].metrics["n_iter"], time.perf_counter() - start,
                )
        null_rows = []
        for p in range(n_permutations):
            X_null = prepare_matrix(permute_within_genes(X, permutation_seed(random_state, p)), options.np_dtype)
            null_runs = run_ranks(X_null, ranks, range(n_runs), random_state=random_state, options=options,
                                  n_jobs=threads, batch_size=batch_size)
            for k, rr in zip(ranks, null_runs):
                null_rows.append({"permutation": p, "rank": k, **summarize_rank(X_null, rr, random_state=random_state).metrics})
            if verbose:
                logger.info("permutation %d/%d done, %.1f s elapsed", p + 1, n_permutations,
                            time.perf_counter() - start)

    adata = adata.copy() if copy else adata
    if mode == "components":
        store_components(adata, summaries, genes=genes, params=params, key_added=key_added, layer=layer)
    else:
        null_metrics = pd.DataFrame(null_rows) if n_permutations else None
        store_survey(adata, runs, summaries, genes=genes, params=params, key_added=key_added,
                     null_metrics=null_metrics)
    return adata if copy else None


def check_rank_rule(rank_rule: str | None, mode: str) -> str:
    """The rank rule to use with consensus ``mode``: the mode's default, or ``rank_rule`` if it fits."""
    if rank_rule is None:
        return DEFAULT_COMPONENT_RULE if mode == "components" else DEFAULT_RULE
    if rank_rule not in ALL_RULES:
        raise ValueError(f"rank_rule must be one of {sorted(ALL_RULES)}, got {rank_rule!r}")
    usable = COMPONENT_RULES if mode == "components" else RULES
    if rank_rule not in usable:
        raise ValueError(f"rank_rule {rank_rule!r} does not apply to consensus={mode!r}; use one of {sorted(usable)}")
    return rank_rule


def fit_matrix(adata: ad.AnnData, *, layer: str | None, use_genes) -> tuple[object, np.ndarray, str]:
    """The validated samples x genes matrix to fit, the gene mask, and how the genes were chosen."""
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"adata must be an AnnData object, got {type(adata).__name__}")
    if layer is None:
        X, what = adata.X, "adata.X"
    elif layer in adata.layers:
        X, what = adata.layers[layer], f"adata.layers[{layer!r}]"
    else:
        raise ValueError(f"layer {layer!r} not found; adata.layers has {list(adata.layers)}")
    if X is None:
        raise ValueError("adata.X is empty; pass layer= to use a layer")

    if use_genes is None:
        use_genes = "nmf_use" if "nmf_use" in adata.var.columns else None
    if use_genes is None:
        genes, gene_key = np.ones(adata.n_vars, dtype=bool), "all"
    elif isinstance(use_genes, str):
        if use_genes not in adata.var.columns:
            raise ValueError(f"use_genes: adata.var has no column {use_genes!r}")
        column = adata.var[use_genes]
        if column.dtype != bool:
            raise TypeError(f"use_genes: adata.var[{use_genes!r}] must be boolean, got {column.dtype}")
        genes, gene_key = column.to_numpy(), use_genes
    else:
        genes = np.asarray(use_genes)
        if genes.dtype != bool or genes.shape != (adata.n_vars,):
            raise ValueError(f"use_genes must be a boolean mask of length n_vars={adata.n_vars}")
        gene_key = "mask"
    if not genes.any():
        raise ValueError(f"use_genes ({gene_key}) selects no gene")

    X = X[:, genes] if not genes.all() else X
    if not (isinstance(X, np.ndarray) or sp.issparse(X)):
        X = np.asarray(X)
    validate_matrix(X, obs_names=adata.obs_names, var_names=adata.var_names[genes], what=what)
    return X, genes, gene_key


def check_ranks(ranks: Iterable[int], shape: tuple[int, int]) -> list[int]:
    """Sorted unique ranks, each an int >= 2 and < min(shape); a ValueError naming any other."""
    if isinstance(ranks, numbers.Integral):
        ranks = [ranks]
    ranks = list(ranks)
    if not ranks:
        raise ValueError("ranks is empty; give at least one rank >= 2")
    bad = [k for k in ranks if isinstance(k, bool) or not isinstance(k, numbers.Integral)]
    if bad:
        raise TypeError(f"ranks must be ints, got {bad}")
    limit = min(shape)
    low = [int(k) for k in ranks if k < 2]
    if low:
        raise ValueError(f"ranks {low} below 2: consensus clustering needs at least 2 metagenes")
    high = [int(k) for k in ranks if k >= limit]
    if high:
        raise ValueError(
            f"ranks {high} too large for {shape[0]} samples x {shape[1]} genes: every rank must be "
            f"below min(n_samples, n_genes) = {limit}"
        )
    return sorted({int(k) for k in ranks})


def survey_params(
    *,
    ranks: Iterable[int],
    n_runs: int,
    random_state: int,
    rank_rule: str,
    layer: str | None,
    genes: np.ndarray,
    gene_key: str,
    n_permutations: int,
    options: SolverOptions,
    consensus: str = "samples",
    n_samples: int | None = None,
    density_threshold: float = DENSITY_THRESHOLD,
) -> dict:
    """The ``params`` record of a survey, as stored in ``uns[key]['params']`` (h5ad-writable).

    ``consensus`` is the resolved kind (``"samples"`` or ``"components"``); with the component
    consensus the record holds ``density_threshold``, with the sample consensus of more than
    :data:`bionmf.core.consensus.EXACT_CONSENSUS_MAX` samples (``n_samples``) the subsample size
    ``consensus_subsample``.
    """
    params = {
        "ranks": sorted({int(k) for k in ranks}),
        "n_runs": int(n_runs),
        "random_state": int(random_state),
        "rank_rule": rank_rule,
        "layer": "X" if layer is None else layer,
        "use_genes": gene_key,
        "n_genes_used": int(np.sum(genes)),
        "n_permutations": int(n_permutations),
        **{k: v for k, v in options.to_dict().items() if v is not None},
        "consensus": consensus,
    }
    if consensus == "components":
        params["density_threshold"] = float(density_threshold)
    elif n_samples is not None and n_samples > EXACT_CONSENSUS_MAX:
        params["consensus_subsample"] = CONSENSUS_SUBSAMPLE
    return params


def metrics_table(summaries: Mapping[int, RankSummary]) -> pd.DataFrame:
    """One row per rank (ascending), the columns of :data:`bionmf.core.METRIC_COLUMNS`."""
    return rank_table(summaries, METRIC_COLUMNS, int_columns=("n_runs",))


def store_survey(
    adata: ad.AnnData,
    runs: Mapping[int, RankRuns],
    summaries: Mapping[int, RankSummary],
    *,
    genes: np.ndarray,
    params: dict,
    key_added: str = "nmf",
    null_metrics: pd.DataFrame | None = None,
) -> int:
    """Write a finished survey into ``adata`` exactly as :func:`nmf` does; return the chosen rank.

    ``runs`` and ``summaries`` map each rank to its merged runs and summary; ``params`` must hold
    at least ``rank_rule``. ``null_metrics``, the metrics of the surveys of permuted data (one
    row per permutation and rank: columns ``permutation``, ``rank`` and those of
    :data:`bionmf.core.METRIC_COLUMNS`), is stored as ``null_metrics_permutations`` and,
    averaged per rank, as ``null_metrics``. Used by :func:`nmf` and by the workflow, which
    computes the ranks in separate jobs.
    """
    extra = {} if null_metrics is None else null_tables(null_metrics)  # checked before anything is written
    table = metrics_table(summaries)
    basis, coefficients = {}, {}
    for k, rr in runs.items():
        W = np.zeros((adata.n_vars, k), dtype=np.float64)
        W[genes] = rr.best_W
        basis[str(k)] = W
        coefficients[str(k)] = np.asarray(rr.best_H.T, dtype=np.float64)
    subsamples = [s.subsample for s in summaries.values() if s.subsample is not None]
    if subsamples:
        extra["consensus_subsample"] = np.asarray(subsamples[0], dtype=np.int64)
    return write_survey(
        adata, key_added, params=params, table=table, summaries=summaries, basis=basis,
        coefficients=coefficients, consensus={str(k): s.consensus for k, s in summaries.items()}, **extra,
    )


def null_tables(null_metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``null_metrics`` (mean per rank) and ``null_metrics_permutations`` (long) from the long table."""
    needed = ["permutation", "rank", *METRIC_COLUMNS]
    missing = [c for c in needed if c not in null_metrics.columns]
    if missing:
        raise ValueError(f"null_metrics lacks the columns {missing}")
    long = null_metrics[needed].sort_values(["permutation", "rank"]).reset_index(drop=True)
    long = long.astype({"permutation": int, "rank": int, "n_runs": int})
    mean = long.drop(columns="permutation").groupby("rank").mean()
    return {"null_metrics": mean.astype({"n_runs": int}), "null_metrics_permutations": long}
