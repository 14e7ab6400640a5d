"""The rank survey of one data set as stages: the matrix to fit, factorize a chunk of runs of a
rank, summarize a rank, choose the rank, write the AnnData.

:func:`bionmf.tl.nmf` is a loop over these stages, and every job of the Snakemake workflow runs
one of them, so both compute the same thing by construction: runs are seeded by (random_state,
rank, run) alone, chunks of runs merge into what one batch computes, and one writer fills the
AnnData.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._logging import logger
from .._matrix import gene_mask, get_matrix, matrix_name
from .._threads import solver_threads
from ..core import RankRuns, RankSummary, SurveyOptions, run_rank, run_ranks
from ..core.permutation import permutation_seed, permute_within_genes
from ..core.rank_selection import apply_all, choose_rank
from ..core.solvers import SolverOptions, prepare_matrix
from ..pp import validate_matrix
from ._store import null_tables, write_survey


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

    @staticmethod
    def null_metrics(summaries: Iterable[tuple[int, RankSummary]]) -> pd.DataFrame | None:
        """The metrics of the surveys of permuted data, one row per (permutation, summary); None without any."""
        rows = [{"permutation": int(p), "rank": s.rank, **s.metrics} for p, s in summaries]
        return pd.DataFrame(rows) if rows else None

    def choose(self, summaries: Iterable[RankSummary], *,
               null: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
        """The metrics of every rank with a ``chosen`` column (and ``null_<metric>`` columns, the
        permuted data's means, with ``null``), and the choice: the rank, the rule, every rule's rank."""
        by_rank = self._by_rank(summaries, "summaries")
        table = self.kind.metrics_table(by_rank)
        chosen = choose_rank(table, self.options.rank_rule)
        choice = {"rank": int(chosen), "rank_rule": self.options.rank_rule,
                  "rank_rules": {name: int(k) for name, k in apply_all(table).items()}}
        if null is not None:
            table = table.join(null_tables(null)["null_metrics"].drop(columns="n_runs").add_prefix("null_"))
        table.insert(0, "chosen", table.index == chosen)
        return table, choice

    def write(self, adata: ad.AnnData, runs: Iterable[RankRuns | None], summaries: Iterable[RankSummary], *,
              choice: Mapping, null: pd.DataFrame | None = None, key_added: str = "nmf") -> None:
        """Write the survey into ``adata`` (see :func:`bionmf.tl.nmf`'s Returns): the rank of
        ``choice`` (from :meth:`choose`), every rank's results, ``null`` (:meth:`null_metrics`)."""
        summaries = self._by_rank(summaries, "summaries")
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
                     key_added=key_added, layer=self.layer, null_tables=tables)

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
