"""The solver options and the one place that checks which of them go together."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..seeding import INITS

#: algorithm -> (loss, default stopping rule, default random start)
ALGORITHMS = {
    "brunet": ("kullback-leibler", "connectivity", "max"),
    "lee": ("frobenius", "connectivity", "max"),
    "hals": ("frobenius", "gradient", "mean"),
}
STOP_RULES = ("connectivity", "objective", "gradient")
#: default ``tol`` of the rules that read it: the objective rule's, chosen on pbmc3k and simulated
#: single-cell data (``benchmarks/SINGLECELL.md``), and scikit-learn's for the gradient rule
DEFAULT_TOL = {"objective": 1e-5, "gradient": 1e-4}
#: stopping rules that need a solver computing the projected gradient
GRADIENT_SOLVERS = ("hals",)
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class SolverOptions:
    """How each run is computed.

    Attributes
    ----------
    algorithm
        ``"brunet"`` (KL multiplicative updates), ``"lee"`` (Frobenius multiplicative updates) or
        ``"hals"`` (Frobenius HALS).
    stop
        ``"connectivity"``: Brunet's rule as the R package NMF (``nmf.stop.connectivity``,
        ``stopconv``) and Brunet's MATLAB code (GenePattern's NMFConsensus) run it: every
        ``check_interval`` iterations each sample is assigned to its largest metagene
        coefficient, and the connectivity (which samples share a metagene; a relabelling of
        the metagenes is no change) is compared with the previous check's; a run stops at the
        first check where it has been unchanged for more than ``n_stable`` consecutive checks.
        The first check only sets the baseline (R compares it with a zero matrix), so the
        fewest iterations are ``check_interval * (n_stable + 2)``. The defaults 10 and 40 are
        theirs. ``n_stable=20`` is a speed option: about 35 % fewer iterations and the same
        consensus clusters on Golub, but it lowers the dispersion of unstable ranks and can
        change the rank that the metrics pick (``benchmarks/README.md``).
        ``"objective"``: a run stops once its objective fell by less than ``tol`` (relative,
        default 1e-5) between two checks.
        ``"gradient"`` (``hals`` only): a run stops once the norm of its projected gradient, at a
        check, is below ``tol`` (default 1e-4) times that of its first iteration (Lin 2007,
        Neural Computation 19:2756; scikit-learn's coordinate-descent NMF, which cNMF runs,
        stops so).
        ``None`` picks the algorithm's default: ``"connectivity"`` for ``brunet`` and ``lee``,
        ``"gradient"`` for ``hals`` (``"objective"`` when ``init`` is not ``"mean"``).
    max_iter
        Iteration cap per run.
    dtype
        ``"float32"`` or ``"float64"``; factors and arithmetic in this precision.
    init
        Random starts: ``"max"`` (entries uniform on (0, max X), the R package NMF's seeding;
        the default of ``brunet`` and ``lee``) or ``"mean"`` (entries sqrt(mean X / k) ``|N(0, 1)|``,
        scikit-learn's and so cNMF's; the default of ``hals``, whose exact least-squares row
        updates fare worse from a start far above the data: on 20,000 simulated cells the spectra
        stability rose from 0.80 to 0.92, see ``benchmarks/SINGLECELL.md``); see
        :func:`bionmf.core.seeding.random_init`. ``None`` picks the algorithm's default.
        ``hals`` with ``stop="gradient"`` and ``init="mean"`` makes the updates, starts and
        stopping rule of cNMF's factorization (scikit-learn's coordinate descent; checked every
        ``check_interval`` iterations here).
    inner_sweeps
        ``hals`` only: up to this many sweeps over a factor for each product with the data, the
        later ones stopping once they move the factor by less than a tenth of what the first did
        (accelerated HALS, Gillis & Glineur 2012, Neural Computation 24:1085). 1 (default) is
        plain HALS, cNMF's factorization. 3 is a speed option, not the default: on 20,000 simulated
        cells (k = 10, 20 runs, four seeds) it took 31 % less CPU time with more reproducible
        programs (stability 0.9966 against 0.982), but on pbmc3k (ranks 5-11, 20 runs, ten seeds)
        it lowered the stability at k = 5 from 0.902 +- 0.032 to 0.847 +- 0.029 (cNMF 0.917), more
        than the seeds' spread and more than the 0.02 that the component defaults keep to cNMF,
        which can move the rank choice; see ``benchmarks/SINGLECELL.md``.
    batch_size
        Runs advanced together (None: all runs of a rank, or of a job). Results do not depend on
        it; it bounds the memory of a batch.
    """

    algorithm: str = "brunet"
    stop: str | None = None
    max_iter: int = 2000
    check_interval: int = 10
    n_stable: int = 40
    tol: float | None = None
    dtype: str = "float32"
    init: str | None = None
    batch_size: int | None = None
    inner_sweeps: int = 1

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {self.algorithm!r}")
        if self.stop is None:
            stop = ALGORITHMS[self.algorithm][1]
            if stop == "gradient" and self.init not in (None, "mean"):
                # the gradient rule is relative to a start at the data's scale (below); a user
                # who asks for another start gets the objective rule rather than an error
                stop = "objective"
            object.__setattr__(self, "stop", stop)
        if self.stop not in STOP_RULES:
            raise ValueError(f"stop must be one of {STOP_RULES}, got {self.stop!r}")
        if self.init is None:
            object.__setattr__(self, "init", ALGORITHMS[self.algorithm][2])
        if self.tol is None:
            object.__setattr__(self, "tol", DEFAULT_TOL.get(self.stop, DEFAULT_TOL["objective"]))
        if self.stop == "gradient" and self.algorithm not in GRADIENT_SOLVERS:
            raise ValueError(
                f"stop='gradient' needs algorithm in {GRADIENT_SOLVERS}, got algorithm={self.algorithm!r}"
            )
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.stop == "gradient" and self.init != "mean":
            # the rule is relative to the first iteration's gradient, which from a start at the
            # data's maximum is so large that runs stop after one check (~10 iterations)
            raise ValueError("stop='gradient' needs init='mean' (a start at the data's scale)")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        for name in ("max_iter", "check_interval", "n_stable", "inner_sweeps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.inner_sweeps > 1 and self.algorithm != "hals":
            raise ValueError(f"inner_sweeps > 1 needs algorithm='hals', got algorithm={self.algorithm!r}")
        if self.batch_size is not None and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int or None, got {self.batch_size!r}")
        if not (isinstance(self.tol, (int, float)) and 0 < self.tol < 1):
            raise ValueError(f"tol must be a number in (0, 1), got {self.tol!r}")
        if self.check_interval > self.max_iter:
            raise ValueError(
                f"check_interval ({self.check_interval}) must not exceed max_iter ({self.max_iter})"
            )

    @property
    def loss(self) -> str:
        return ALGORITHMS[self.algorithm][0]

    @property
    def np_dtype(self):
        return DTYPES[self.dtype]

    def to_dict(self) -> dict:
        return asdict(self)
