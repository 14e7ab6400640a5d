"""The rank survey of one data set as stages: the matrix to fit, factorize a chunk of runs of a
rank, summarize a rank, choose the rank, write the AnnData.

:func:`bionmf.tl.nmf` is a loop over these stages, and every job of the Snakemake workflow runs
one of them, so both compute the same thing by construction: runs are seeded by (random_state,
rank, run) alone, chunks of runs merge into what one batch computes, and one writer fills the
AnnData.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._logging import logger
from .._matrix import class_column, gene_mask, get_matrix, matrix_name
from .._progress import run_progress
from .._threads import solver_threads
from ..core import RankRuns, RankSummary, SurveyOptions, run_rank, run_ranks
from ..core import crossval as cv
from ..core.metrics import entropy, purity
from ..core.permutation import permutation_seed, permute_within_genes
from ..core.rank_selection import apply_all, choose_rank
from ..core.solvers import SolverOptions, prepare_matrix
from ..core.survey_options import warn_few_runs
from ..pp import validate_matrix
from ._store import check_key_added, null_tables, write_survey


@dataclasses.dataclass
class SurveyResult:
    """Everything :meth:`Survey.run` computed, ready for :meth:`Survey.write`."""

    #: the runs of every rank, merged (what :meth:`Survey.summarize` returns first)
    runs: list
    #: one :class:`~bionmf.core.RankSummary` per rank
    summaries: list
    #: the permuted data's metrics (:meth:`Survey.null_metrics`), None without permutations
    null: pd.DataFrame | None
    #: the cross-validation runs of every rank, None without cross-validation
    crossval: list | None
    #: the metrics table with its ``chosen`` column, and the choice (:meth:`Survey.choose`)
    table: pd.DataFrame
    choice: dict
    #: str(rank) -> runs x k x genes spectra (only with ``keep_spectra``)
    spectra: dict


class Survey:
    """A rank survey of ``adata`` with checked options, run stage by stage.

    Parameters
    ----------
    adata
        Samples x genes, non-negative (the matrix is read once, here).
    options
        The survey's :class:`~bionmf.core.SurveyOptions`; ``auto`` consensus and the default rank
        rule are resolved on the data and recorded in :attr:`options` and :attr:`params`.
    solver
        :class:`~bionmf.core.solvers.SolverOptions`, or a mapping of its fields.
    algorithm
        Solver algorithm; None: ``solver``'s, else the consensus kind's default.
    layer, use_genes
        The matrix (``adata.X`` or a layer) and the genes to fit (see :func:`bionmf.tl.nmf`).
    verbose
        Log what each stage did at INFO level (else DEBUG).
    """

    def __init__(
        self,
        adata: ad.AnnData,
        *,
        options: SurveyOptions | None = None,
        solver: Mapping | SolverOptions | None = None,
        algorithm: str | None = None,
        layer: str | None = None,
        use_genes: str | np.ndarray | None = None,
        verbose: bool = True,
    ):
        options = SurveyOptions() if options is None else options
        if not isinstance(options, SurveyOptions):
            raise TypeError(f"options must be SurveyOptions, got {type(options).__name__}")
        X = get_matrix(adata, layer)
        genes, gene_key = gene_mask(adata, use_genes)
        X = X[:, genes] if not genes.all() else X
        if not (isinstance(X, np.ndarray) or sp.issparse(X)):
            X = np.asarray(X)
        validate_matrix(X, obs_names=adata.obs_names, var_names=adata.var_names[genes], what=matrix_name(layer))
        # the solver's default depends on the consensus kind, and its options are named before the
        # ranks are checked against the data's size
        self.solver = options.for_samples(X.shape[0]).solver_options(solver, algorithm=algorithm)
        #: the survey's options, with ``auto`` consensus and the default rank rule resolved
        self.options = options.for_data(X.shape)
        warn_few_runs(options.n_runs, stacklevel=3)
        self.kind = self.options.kind
        self.genes = genes
        self.layer = layer
        self._log = logger.info if verbose else logger.debug
        self._X = prepare_matrix(X, self.solver.np_dtype)
        self._permuted: tuple[int, object] | None = None
        o = self.options
        #: every option as recorded in ``uns[key]['params']``
        self.params = {
            "ranks": list(o.ranks),
            "n_runs": int(o.n_runs),
            "random_state": int(o.random_state),
            "rank_rule": o.rank_rule,
            "layer": "X" if layer is None else layer,
            "use_genes": gene_key,
            "n_genes_used": int(np.sum(genes)),
            "n_permutations": int(o.n_permutations),
            **{k: v for k, v in self.solver.to_dict().items() if v is not None},
            "consensus": self.kind.name,
            **self.kind.params(density_threshold=o.density_threshold, n_samples=X.shape[0]),
        }
        if o.crossval is not None:
            self.params.update(crossval=o.crossval, crossval_runs=int(o.crossval_runs))

    @classmethod
    def from_record(cls, adata: ad.AnnData, key: str = "nmf", *, use_genes: str | np.ndarray | None = None,
                    verbose: bool = False, **changes) -> Survey:
        """The survey that wrote ``uns[key]``, rebuilt from its ``params`` on the same data: the same
        matrix, genes, options and seeds, so its stages compute the same runs again (a run's trace,
        another density threshold). ``changes`` replace :class:`~bionmf.core.SurveyOptions` fields.

        ``use_genes``: the genes the survey fitted when it was given a boolean mask, which the
        record does not keep (it keeps a ``var`` column name, or that all genes were used).
        """
        from .._survey_record import survey_record

        params = survey_record(adata, key).get("params", {})
        solver_fields = [f.name for f in dataclasses.fields(SolverOptions)]
        needed = ["ranks", "n_runs", "random_state", "layer", "use_genes", "consensus", "algorithm"]
        missing = [f for f in needed if f not in params]
        if missing:
            raise ValueError(f"uns[{key!r}]['params'] lacks {missing}; it does not record how the survey ran")
        if use_genes is None:
            if params["use_genes"] == "mask":
                raise ValueError(f"uns[{key!r}] was fitted on a gene mask it does not record; pass the same "
                                 "mask as use_genes=")
            # 'all' is recorded as such: a var['nmf_use'] added since must not narrow it
            use_genes = np.ones(adata.n_vars, dtype=bool) if params["use_genes"] == "all" else params["use_genes"]
        fields = {f.name for f in dataclasses.fields(SurveyOptions)}
        options = SurveyOptions(**{**{f: params[f] for f in fields if f in params}, **changes})
        survey = cls(adata, options=options, solver={f: params[f] for f in solver_fields if f in params},
                     layer=None if params["layer"] == "X" else params["layer"], use_genes=use_genes, verbose=verbose)
        n_used = params.get("n_genes_used")
        if n_used is not None and int(survey.genes.sum()) != int(n_used):
            raise ValueError(f"{int(survey.genes.sum())} genes selected but uns[{key!r}] was fitted on {n_used}; "
                             "adata changed since the survey, or pass use_genes=")
        return survey

    @property
    def ranks(self) -> tuple[int, ...]:
        return self.options.ranks

    def matrix(self, permutation: int | None = None):
        """The samples x genes matrix the runs fit (solver layout); with ``permutation`` p, the
        same with each gene's values permuted across samples, seeded by (random_state, p) alone."""
        if permutation is None:
            return self._X
        if self._permuted is None or self._permuted[0] != permutation:
            seed = permutation_seed(self.options.random_state, permutation)
            self._permuted = (permutation, prepare_matrix(permute_within_genes(self._X, seed), self.solver.np_dtype))
        return self._permuted[1]

    def factorize(self, rank: int, runs: Iterable[int], *, permutation: int | None = None,
                  n_jobs: int | None = None) -> RankRuns:
        """Runs ``runs`` of ``rank`` (a chunk; any chunking merges to the same result)."""
        X, runs = self.matrix(permutation), list(runs)
        self._check_rank(rank)
        self._log("rank %d, runs %d..%d of %d samples x %d genes%s (%s, random_state %d)",
                    rank, runs[0], runs[-1], X.shape[0], X.shape[1],
                    "" if permutation is None else f", permutation {permutation}", self.solver.algorithm,
                    self.options.random_state)
        with solver_threads(n_jobs, uses_blas=self.solver.algorithm != "brunet"):
            result = run_rank(X, rank, runs, random_state=self.options.random_state, options=self.solver,
                              batch_size=self.solver.batch_size, keep_spectra=self._keeps_spectra(permutation))
        self._log("mean iterations %.1f, %d of %d runs at max_iter; lowest objective %.6g (run %d)",
                    result.n_iter.mean(), int((result.n_iter >= self.solver.max_iter).sum()), len(runs),
                    result.objective.min(), result.best_run)
        return result

    def factorize_ranks(self, *, permutation: int | None = None, n_jobs: int = 1,
                        progress: Callable[[int], None] | None = None) -> Iterator[RankRuns]:
        """All runs of every rank, rank by rank; the runs of all ranks share one pool of ``n_jobs``
        threads where the solver allows (:func:`bionmf.core.run_ranks`). The caller sets the
        threads (:func:`bionmf._threads.solver_threads`); ``progress(n)`` is called as n runs finish."""
        return run_ranks(self.matrix(permutation), self.ranks, range(self.options.n_runs),
                         random_state=self.options.random_state, options=self.solver, n_jobs=n_jobs,
                         batch_size=self.solver.batch_size, keep_spectra=self._keeps_spectra(permutation),
                         progress=progress)

    def summarize(self, chunks: RankRuns | Sequence[RankRuns], *,
                  permutation: int | None = None) -> tuple[RankRuns, RankSummary]:
        """Merge the chunks of one rank (checked to hold runs 0..n_runs-1) and combine them by the
        consensus kind. Returns the merged runs (without spectra) and the rank's summary."""
        runs = RankRuns.merge([chunks] if isinstance(chunks, RankRuns) else list(chunks))
        self._check_rank(runs.rank)
        n_runs = self.options.n_runs
        if not np.array_equal(runs.runs, np.arange(n_runs)):
            raise ValueError(f"rank {runs.rank}: the chunks hold runs {runs.runs.min()}..{runs.runs.max()} "
                             f"({runs.runs.size}), expected 0..{n_runs - 1}")
        summary = self.kind.summarize(self.matrix(permutation), runs, random_state=self.options.random_state,
                                      density_threshold=self.options.density_threshold)
        self._log("rank %d: %d runs, %s consensus, %s", runs.rank, runs.runs.size, self.kind.name,
                    ", ".join(f"{k} {v:.4g}" for k, v in summary.metrics.items()))
        return dataclasses.replace(runs, spectra=None), summary

    def crossvalidate(self, rank: int, runs: Iterable[int] | None = None, *, n_jobs: int | None = None) -> cv.CVRuns:
        """Held-out error of the cross-validation runs ``runs`` (default: all ``crossval_runs``) of
        ``rank``, by the survey's scheme and its solver's loss (:func:`bionmf.core.crossval.crossval_rank`,
        in float64; run r seeded by (random_state, rank, r), its held-out data by (random_state, r);
        any chunking merges to the same result)."""
        if self.options.crossval is None:
            raise ValueError("this survey is not cross-validated: set crossval (SurveyOptions.crossval)")
        self._check_rank(rank)
        runs = range(self.options.crossval_runs) if runs is None else list(runs)
        with solver_threads(n_jobs, uses_blas=self.solver.algorithm != "brunet"):
            result = cv.crossval_rank(self._X, rank, runs, random_state=self.options.random_state,
                                      scheme=self.options.crossval, loss=self.solver.loss)
        self._log("rank %d: %s cross-validation, held-out error %.6g (runs %s)", rank, self.options.crossval,
                  result.error.mean(), list(result.runs))
        return result

    def crossval_table(self, chunks: Iterable[cv.CVRuns]) -> pd.DataFrame:
        """Per rank: ``cv_error`` (mean held-out error), ``cv_error_sd``, ``cv_error_se``,
        ``cv_runs``, from the cross-validation chunks of every rank (checked to be complete)."""
        by_rank: dict[int, list] = {}
        for chunk in chunks:
            by_rank.setdefault(chunk.rank, []).append(chunk)
        if sorted(by_rank) != list(self.ranks):
            raise ValueError(f"ranks of the cross-validation runs {sorted(by_rank)} do not match the survey's "
                             f"ranks {list(self.ranks)}")
        merged = [cv.CVRuns.merge(c) for c in by_rank.values()]
        expected = np.arange(self.options.crossval_runs)
        for m in merged:
            if not np.array_equal(m.runs, expected) or m.scheme != self.options.crossval:
                raise ValueError(f"rank {m.rank}: cross-validation runs {m.runs.tolist()} ({m.scheme}), expected "
                                 f"0..{expected[-1]} ({self.options.crossval})")
        return cv.cv_table(merged)

    @staticmethod
    def class_table(summaries: Iterable[RankSummary], classes) -> pd.DataFrame:
        """Per rank: ``purity`` and ``entropy`` of the consensus clusters against known ``classes``
        (one per sample), as the R package NMF's ``summary(fit, class=)``."""
        rows = {s.rank: {"purity": purity(s.clusters, classes), "entropy": entropy(s.clusters, classes)}
                for s in summaries}
        table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
        table.index.name = "rank"
        return table

    @staticmethod
    def null_metrics(summaries: Iterable[tuple[int, RankSummary]]) -> pd.DataFrame | None:
        """The metrics of the surveys of permuted data, one row per (permutation, summary); None without any."""
        rows = [{"permutation": int(p), "rank": s.rank, **s.metrics} for p, s in summaries]
        return pd.DataFrame(rows) if rows else None

    def choose(self, summaries: Iterable[RankSummary], *, null: pd.DataFrame | None = None,
               crossval: pd.DataFrame | None = None, classes: pd.Series | None = None) -> tuple[pd.DataFrame, dict]:
        """The metrics of every rank with a ``chosen`` column (and ``null_<metric>`` columns, the
        permuted data's means, with ``null``; the held-out error columns with ``crossval``, from
        :meth:`crossval_table`; ``purity`` and ``entropy`` against known ``classes``, one per
        sample), and the choice: the rank, the rule, every rule's rank."""
        by_rank = self._by_rank(summaries, "summaries")
        table = self.kind.metrics_table(by_rank)
        if (crossval is None) != (self.options.crossval is None):
            raise ValueError("the cross-validation table must be given exactly when the survey is cross-validated "
                             f"(crossval={self.options.crossval!r})")
        if crossval is not None:
            table = table.join(crossval)
        if classes is not None:
            table = table.join(self.class_table(by_rank.values(), classes))
        chosen = choose_rank(table, self.options.rank_rule)
        choice = {"rank": int(chosen), "rank_rule": self.options.rank_rule,
                  "rank_rules": {name: int(k) for name, k in apply_all(table).items()}}
        if null is not None:
            table = table.join(null_tables(null)["null_metrics"].drop(columns="n_runs").add_prefix("null_"))
        table.insert(0, "chosen", table.index == chosen)
        return table, choice

    def write(self, adata: ad.AnnData, runs: Iterable[RankRuns | None], summaries: Iterable[RankSummary], *,
              choice: Mapping, null: pd.DataFrame | None = None, crossval: Iterable[cv.CVRuns] | None = None,
              classes: str | None = None, key_added: str = "nmf") -> None:
        """Write the survey into ``adata`` (see :func:`bionmf.tl.nmf`'s Returns): the rank of
        ``choice`` (from :meth:`choose`), every rank's results, ``null`` (:meth:`null_metrics`),
        the cross-validation runs ``crossval`` (:meth:`crossvalidate`) and, with ``classes`` (an
        ``obs`` column of known classes), the purity and entropy of every rank's clusters."""
        check_key_added(key_added)
        summaries = self._by_rank(summaries, "summaries")
        extra = []
        crossval = None if crossval is None else list(crossval)
        if crossval is not None:
            extra.append(self.crossval_table(crossval))
        if classes is not None:
            extra.append(self.class_table(summaries.values(), class_column(adata, classes)))
        runs = {r.rank: r for r in runs if r is not None}
        if self.kind.writes_best_run and sorted(runs) != list(self.ranks):
            raise ValueError(f"ranks of the runs {sorted(runs)} do not match the survey's ranks {list(self.ranks)}")
        tables = {} if null is None else null_tables(null)  # checks the columns before anything is written
        n_null = 0 if null is None else tables["null_metrics_permutations"]["permutation"].nunique()
        if n_null != self.options.n_permutations:
            raise ValueError(f"the survey has n_permutations {self.options.n_permutations} but {n_null} "
                             "permutations were given")
        if choice["rank_rule"] != self.options.rank_rule or int(choice["rank"]) not in summaries:
            raise ValueError(f"choice {dict(choice)} was not made by this survey's rule {self.options.rank_rule!r} "
                             f"on ranks {list(self.ranks)}")
        write_survey(adata, self.kind, runs, summaries, genes=self.genes, params=self.params, choice=choice,
                     key_added=key_added, layer=self.layer, null_tables=tables,
                     extra_metrics=pd.concat(extra, axis=1) if extra else None,
                     crossval_runs=None if crossval is None else cv.cv_runs_table(crossval))

    def run(self, *, n_jobs: int = 1, verbose: bool = False, keep_spectra: bool = False) -> SurveyResult:
        """Every stage but :meth:`write`, in one process: all ranks' runs (with a progress bar in
        an interactive session when ``verbose``), the permutations, the cross-validation and the
        choice. ``n_jobs`` threads; ``keep_spectra`` keeps every run's spectra (component consensus)."""
        if keep_spectra and not self.kind.keeps_spectra:
            raise ValueError(f"keep_spectra=True applies to consensus='components' (this survey: {self.kind.name!r})")
        log = logger.info if verbose else logger.debug
        n_permutations = self.options.n_permutations
        runs, summaries, null, spectra = [], [], [], {}
        start = time.perf_counter()
        total = len(self.ranks) * self.options.n_runs * (1 + n_permutations)
        headline = self.kind.headline
        with run_progress(total, verbose=verbose) as progress, \
                solver_threads(n_jobs, uses_blas=self.solver.algorithm != "brunet") as threads:
            for i, rank_runs in enumerate(self.factorize_ranks(n_jobs=threads, progress=progress), start=1):
                if keep_spectra:
                    spectra[str(rank_runs.rank)] = rank_runs.spectra
                merged, summary = self.summarize(rank_runs)
                runs.append(merged)
                summaries.append(summary)
                progress.describe(f"rank {summary.rank}: {headline} {summary.metrics[headline]:.3f}")
                log("rank %d (%d/%d): %s %.4f, %.0f iterations per run, %.1f s elapsed", summary.rank, i,
                    len(self.ranks), headline, summary.metrics[headline], summary.metrics["n_iter"],
                    time.perf_counter() - start)
            for p in range(n_permutations):
                progress.describe(f"permutation {p + 1}/{n_permutations}")
                null += [(p, self.summarize(r, permutation=p)[1])
                         for r in self.factorize_ranks(permutation=p, n_jobs=threads, progress=progress)]
                log("permutation %d/%d done, %.1f s elapsed", p + 1, n_permutations, time.perf_counter() - start)
            held_out = None
            if self.options.crossval is not None:
                progress.describe(f"{self.options.crossval} cross-validation")
                held_out = [self.crossvalidate(k, n_jobs=threads) for k in self.ranks]
                log("%s cross-validation done, %.1f s elapsed", self.options.crossval, time.perf_counter() - start)
        null = self.null_metrics(null)
        table, choice = self.choose(summaries, null=null,
                                    crossval=None if held_out is None else self.crossval_table(held_out))
        log("chosen rank %d (%s)", choice["rank"], choice["rank_rule"])
        return SurveyResult(runs=runs, summaries=summaries, null=null, crossval=held_out, table=table, choice=choice,
                            spectra=spectra)

    def _keeps_spectra(self, permutation: int | None) -> bool:
        return self.kind.keeps_spectra and permutation is None

    def _check_rank(self, rank: int) -> None:
        if rank not in self.ranks:
            raise ValueError(f"rank {rank} is not among the survey's ranks {list(self.ranks)}")

    def _by_rank(self, items: Iterable[RankSummary], what: str) -> dict[int, RankSummary]:
        by_rank = {s.rank: s for s in items}
        if sorted(by_rank) != list(self.ranks):
            raise ValueError(f"ranks of the {what} {sorted(by_rank)} do not match the survey's ranks {list(self.ranks)}")
        return by_rank
