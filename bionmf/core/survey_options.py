"""The options of a rank survey, checked in one place: :class:`SurveyOptions`, beside
:class:`~bionmf.core.solvers.SolverOptions` (how each run is computed).

Built by :func:`bionmf.tl.nmf` from its arguments and by the workflow from its config; the
checks that need the data (ranks below the matrix's size, ``auto`` consensus, the kind's own
constraints, the kind's default rank rule) run when the survey meets its data
(:meth:`SurveyOptions.for_data`), and the result records what was resolved.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .components import DENSITY_THRESHOLD
from .consensus_kinds import CONSENSUS_MODES, consensus_kind, resolve_consensus
from .crossval import SCHEMES as CROSSVAL_SCHEMES
from .crossval import check_bicross_size
from .rank_selection import ALL_RULES, CV_RULES
from .seeding import check_random_state
from .solvers import SolverOptions
from .summary import ConsensusKind, SurveyOptionError

DEFAULT_RANKS = (2, 3, 4, 5, 6)
#: fewest runs per rank: a consensus needs runs that can disagree
MIN_RUNS = 2
#: below this many runs per rank a survey warns (see :func:`warn_few_runs`)
FEW_RUNS = 10


@dataclass(frozen=True)
class SurveyOptions:
    """What a rank survey computes.

    Attributes
    ----------
    ranks
        Ranks to survey (stored sorted and unique), each an int >= 2.
    n_runs
        Seeded runs per rank, at least ``MIN_RUNS`` = 2 (a survey warns below ``FEW_RUNS`` = 10).
    consensus
        ``"samples"``, ``"components"`` or ``"auto"`` (decided on the number of samples, see
        :func:`bionmf.core.consensus_kinds.resolve_consensus`).
    rank_rule
        Rule that picks the rank; None: the consensus kind's default.
    density_threshold
        Outlier filter of the component consensus.
    n_permutations
        Surveys of permuted data (null model); sample consensus only.
    random_state
        Seed: run r of rank k is seeded by (random_state, k, r) alone.
    crossval
        Cross-validation scheme of :mod:`bionmf.core.crossval` (``"speckled"`` or ``"bicross"``),
        or None for none: a held-out error per rank beside the consensus metrics.
    crossval_runs
        Cross-validation runs (folds) per rank, at least 2 (the rules read the standard error).
    """

    ranks: tuple[int, ...] = DEFAULT_RANKS
    n_runs: int = 50
    consensus: str = "auto"
    rank_rule: str | None = None
    density_threshold: float = DENSITY_THRESHOLD
    n_permutations: int = 0
    random_state: int = 0
    crossval: str | None = None
    crossval_runs: int = 4

    def __post_init__(self):
        object.__setattr__(self, "ranks", _check_ranks(self.ranks))
        object.__setattr__(self, "random_state", check_random_state(self.random_state))
        if self.rank_rule is not None and self.rank_rule not in ALL_RULES:
            raise SurveyOptionError("rank_rule", f"rank_rule must be one of {sorted(ALL_RULES)}, got {self.rank_rule!r}")
        if isinstance(self.n_runs, bool) or not isinstance(self.n_runs, numbers.Integral) or self.n_runs < 1:
            raise SurveyOptionError("n_runs", f"n_runs must be a positive int, got {self.n_runs!r}")
        if self.n_runs < MIN_RUNS:
            raise SurveyOptionError(
                "n_runs",
                f"n_runs={self.n_runs}: a consensus needs runs that can agree or disagree; with one run every "
                f"rank's consensus is all 0 and 1 (cophenetic correlation and dispersion 1.0) and any rank "
                f"choice is arbitrary; use n_runs >= {FEW_RUNS} (Brunet et al. used 50)")
        n = self.n_permutations
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise SurveyOptionError("n_permutations", f"n_permutations must be a non-negative int, got {n!r}")
        if not isinstance(self.consensus, ConsensusKind) and self.consensus not in CONSENSUS_MODES:
            raise SurveyOptionError("consensus", f"consensus must be one of {CONSENSUS_MODES}, got {self.consensus!r}")
        if self.crossval is not None and self.crossval not in CROSSVAL_SCHEMES:
            raise SurveyOptionError("crossval", f"crossval must be one of {CROSSVAL_SCHEMES} or None, got {self.crossval!r}")
        n = self.crossval_runs
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
            raise SurveyOptionError("crossval_runs", f"crossval_runs must be an int >= 2, got {n!r}")
        if self.rank_rule in CV_RULES and self.crossval is None:
            raise SurveyOptionError(
                "rank_rule", f"rank_rule {self.rank_rule!r} reads the held-out error: also set crossval "
                f"(one of {CROSSVAL_SCHEMES})")
        if isinstance(self.density_threshold, bool) or not isinstance(self.density_threshold, numbers.Real):
            raise SurveyOptionError("density_threshold", f"density_threshold must be a number, got {self.density_threshold!r}")

    @property
    def kind(self) -> ConsensusKind:
        """The consensus kind; a ValueError while it is still ``"auto"`` (see :meth:`for_data`)."""
        if self.consensus == "auto":
            raise ValueError("consensus 'auto' is decided on the data: use SurveyOptions.for_data(shape)")
        return consensus_kind(self.consensus)

    def for_samples(self, n_samples: int) -> SurveyOptions:
        """These options for ``n_samples``: the consensus kind and its rank rule resolved, and a
        :class:`~bionmf.core.summary.SurveyOptionError` for what the kind cannot honour."""
        kind = resolve_consensus(self.consensus, n_samples)
        kind.check(n_runs=self.n_runs, n_permutations=self.n_permutations)
        return dataclasses.replace(self, consensus=kind.name, rank_rule=kind.check_rule(self.rank_rule))

    def for_data(self, shape: tuple[int, int]) -> SurveyOptions:
        """:meth:`for_samples` for a samples x genes matrix of ``shape``, ranks checked to fit it."""
        limit = min(shape)
        high = [k for k in self.ranks if k >= limit]
        if high:
            raise SurveyOptionError(
                "ranks",
                f"ranks {high} too large for {shape[0]} samples x {shape[1]} genes: every rank must be "
                f"below min(n_samples, n_genes) = {limit}"
            )
        if self.crossval == "bicross":
            try:
                check_bicross_size(shape)
            except ValueError as error:
                raise SurveyOptionError("crossval", str(error)) from None
        return self.for_samples(shape[0])

    def solver_options(self, solver: Mapping | SolverOptions | None = None, *, algorithm: str | None = None) -> SolverOptions:
        """The :class:`SolverOptions` of ``solver`` (a mapping of its fields, or the record itself).

        ``algorithm`` (or the mapping's ``algorithm``) None: the consensus kind's default.
        """
        if isinstance(solver, SolverOptions):
            if algorithm is not None and algorithm != solver.algorithm:
                raise ValueError(f"algorithm={algorithm!r} contradicts solver.algorithm={solver.algorithm!r}")
            return solver
        if solver is not None and not isinstance(solver, Mapping):
            raise TypeError(f"solver must be a mapping or SolverOptions, got {type(solver).__name__}")
        settings = dict(solver or {})
        given = settings.pop("algorithm", None)
        if algorithm is not None and given is not None and algorithm != given:
            raise ValueError(f"algorithm={algorithm!r} contradicts solver['algorithm']={given!r}")
        names = [f.name for f in dataclasses.fields(SolverOptions) if f.name != "algorithm"]
        unknown = [name for name in settings if name not in names]
        if unknown:
            raise ValueError(f"solver has no option {unknown[0]!r}; its options: {', '.join(names)}")
        return SolverOptions(algorithm=algorithm or given or self.kind.default_algorithm, **settings)


def warn_few_runs(n_runs: int, *, stacklevel: int = 2) -> None:
    """A UserWarning when ``n_runs`` is below :data:`FEW_RUNS`: the consensus of a few runs takes
    only a few values, so its metrics are coarse and ties between ranks common."""
    if n_runs < FEW_RUNS:
        warnings.warn(f"n_runs={n_runs}: a consensus of so few runs takes only {n_runs + 1} values per pair of "
                      f"samples, so the rank metrics are coarse and the rank choice unstable; use n_runs >= "
                      f"{FEW_RUNS} (Brunet et al. used 50)", UserWarning, stacklevel=stacklevel + 1)


def _check_ranks(ranks: Iterable[int]) -> tuple[int, ...]:
    """Sorted unique ranks, each an int >= 2; a ValueError naming any other."""
    if isinstance(ranks, numbers.Integral):
        ranks = [ranks]
    ranks = list(ranks)
    if not ranks:
        raise SurveyOptionError("ranks", "ranks is empty; give at least one rank >= 2")
    bad = [k for k in ranks if isinstance(k, bool) or not isinstance(k, numbers.Integral)]
    if bad:
        raise TypeError(f"ranks must be ints, got {bad}")
    low = [int(k) for k in ranks if k < 2]
    if low:
        raise SurveyOptionError("ranks", f"ranks {low} below 2: consensus clustering needs at least 2 metagenes")
    return tuple(sorted({int(k) for k in ranks}))
