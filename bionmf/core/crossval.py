"""Cross-validated rank selection: how well does each rank predict data it was not fitted to?

Two schemes, both pure functions of a matrix X (samples x genes, dense or CSR; V = X^T is
factorized as everywhere in bionmf), returning a held-out error per run:

``"speckled"`` (Wold 1978, "Cross-validatory estimation of the number of components in factor
    and principal components models", Technometrics 20:397; the random held-out entries of
    RcppML's ``crossValidate`` and nmfkc's ``nmfkc.ecv``): a random ``holdout`` fraction of the
    entries is hidden, the factors are fitted to the others with weighted updates
    (:mod:`bionmf.core.solvers._masked`) and the hidden entries are predicted. Past the rank the
    data support, the extra factors fit noise in the observed entries and the error on the hidden
    ones rises.
``"bicross"`` (Owen & Perry 2009, "Bi-cross-validation of the SVD and the nonnegative matrix
    factorization", Ann. Appl. Stat. 3:564; for NMF rank as in Kanagal & Sindhwani 2010 and
    cvanmf): samples and genes are each split into ``folds`` groups; for a held-out block A =
    X[I, J] the retained block D = X[I^c, J^c] is factorized (D^T ~ W_D H_D, the ordinary
    solvers), the held-out samples' coefficients are fitted to B = X[I, J^c] with W_D fixed, the
    held-out genes' loadings to C = X[I^c, J] with H_D fixed, and A is predicted by their product.
    Owen & Perry found holding out half the rows and half the columns (``folds=2``) works well.

Run ``r`` of rank ``k`` starts from ``run_seed(random_state, k, r)``, like every survey run; its
held-out entries (or its partition) come from ``fold_seed(random_state, r)``, which leaves out the
rank on purpose: every rank is judged on the same held-out data, so the differences between ranks
are paired and not blurred by the choice of fold. A run's result depends on (random_state, k, r)
alone, whatever the batch or chunk it is computed in.

The error is the loss of the fit per held-out entry: the generalized KL divergence for
``loss="kullback-leibler"``, the squared error for ``loss="frobenius"``.

Cost. A speckled run fits the whole matrix to convergence with two passes over every entry per
iteration (zeros included: on sparse data it costs as much as on dense); a bi-cross run fits a
quarter of the matrix (``folds=2``) and two small regressions. On the planted grid of
``benchmarks/rank_cv.py`` (4 CV runs per rank against a 10-run brunet survey of the same ranks,
KL loss, timed in the same process), the speckled scheme cost a median 3.4x the survey (bulk
3.7x, single-cell 1.3x; range 0.7-6.4x) and the bi-cross scheme 0.33x (range 0.06-0.8x).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._atomic import save_npz
from .seeding import check_random_state, random_init, run_seed
from .solvers import SolverOptions, factorize_batch, prepare_matrix
from .solvers._masked import count_held_out, masked_fit, observed_mean

SCHEMES = ("speckled", "bicross")
LOSSES = ("kullback-leibler", "frobenius")
#: tag mixed into the fold seeds so that they never coincide with a run seed
_FOLD_TAG = 0xC5_0F01D
#: default share of entries held out by the speckled scheme: RcppML holds out 5 %, nmfkc's
#: 5-fold element-wise CV 20 %; 10 % keeps enough held-out entries on small bulk data
DEFAULT_HOLDOUT = 0.1
#: held-out entries below which a speckled error is too noisy to compare ranks
MIN_HELD_OUT = 200
#: default stopping rule of the fits: relative change of the training loss, checked every 10
#: iterations (the batched solvers' objective rule)
DEFAULT_TOL = 1e-4
DEFAULT_MAX_ITER = 1000
#: iterations of the fold-in regressions of the bi-cross scheme (one factor fixed)
FOLD_IN_ITER = 200
#: the largest dense block a bi-cross run may make (its held-out block and the two blocks it folds
#: in are dense float64 arrays of about samples / folds x genes / folds each): beyond it the run is
#: refused up front rather than exhausting memory after the survey (1M cells x 2000 genes: 4 GB each)
BICROSS_MAX_DENSE_BYTES = 2 * 1024**3


def fold_seed(random_state: int, fold: int) -> np.random.SeedSequence:
    """The seed of the held-out data of run ``fold`` (the same at every rank)."""
    return np.random.SeedSequence([check_random_state(random_state), _FOLD_TAG, int(fold)])


@dataclass
class CVRuns:
    """Cross-validation runs of one rank.

    Attributes
    ----------
    rank : factorization rank k
    runs : (r,) run indices, sorted
    error : (r,) held-out loss per held-out entry of each run
    train_error : (r,) loss per entry the run was fitted to
    n_iter : (r,) iterations of the fit (of the retained block for ``"bicross"``)
    scheme, loss : how the errors were computed
    """

    rank: int
    runs: np.ndarray
    error: np.ndarray
    train_error: np.ndarray
    n_iter: np.ndarray
    scheme: str
    loss: str

    @classmethod
    def merge(cls, chunks: Sequence[CVRuns]) -> CVRuns:
        """Combine chunks of one rank, scheme and loss (any order) into one, runs sorted."""
        if not chunks:
            raise ValueError("no cross-validation chunks to merge")
        kinds = {(c.rank, c.scheme, c.loss) for c in chunks}
        if len(kinds) != 1:
            raise ValueError(f"cannot merge cross-validation runs of different (rank, scheme, loss): {sorted(kinds)}")
        runs = np.concatenate([c.runs for c in chunks])
        if np.unique(runs).size != runs.size:
            raise ValueError("cross-validation chunks overlap: some runs appear twice")
        order = np.argsort(runs, kind="stable")
        first = chunks[0]
        return cls(
            rank=first.rank,
            runs=runs[order],
            error=np.concatenate([c.error for c in chunks])[order],
            train_error=np.concatenate([c.train_error for c in chunks])[order],
            n_iter=np.concatenate([c.n_iter for c in chunks])[order],
            scheme=first.scheme,
            loss=first.loss,
        )


def save_cv_runs(runs: CVRuns, path) -> None:
    """Write to an .npz file."""
    save_npz(path, rank=runs.rank, runs=runs.runs, error=runs.error, train_error=runs.train_error,
             n_iter=runs.n_iter, scheme=runs.scheme, loss=runs.loss)


def load_cv_runs(path) -> CVRuns:
    """Read what :func:`save_cv_runs` wrote."""
    with np.load(path, allow_pickle=False) as f:
        return CVRuns(rank=int(f["rank"]), runs=f["runs"], error=f["error"], train_error=f["train_error"],
                      n_iter=f["n_iter"], scheme=str(f["scheme"]), loss=str(f["loss"]))


def crossval_rank(
    X,
    rank: int,
    runs: Iterable[int],
    *,
    random_state: int = 0,
    scheme: str = "speckled",
    loss: str = "kullback-leibler",
    holdout: float = DEFAULT_HOLDOUT,
    folds: int = 2,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    dtype: str = "float64",
) -> CVRuns:
    """Held-out error of the runs ``runs`` of rank ``rank`` (see the module docstring).

    Parameters
    ----------
    X
        samples x genes, non-negative, dense or scipy.sparse.
    rank
        factorization rank.
    runs
        run indices; run r starts from ``run_seed(random_state, rank, r)`` and holds out the data
        of ``fold_seed(random_state, r)`` (``"bicross"``: block r mod folds^2 of partition
        r // folds^2).
    scheme
        ``"speckled"`` or ``"bicross"``.
    loss
        ``"kullback-leibler"`` (Brunet's updates) or ``"frobenius"``.
    holdout
        share of entries held out (``"speckled"``).
    folds
        groups of samples and of genes (``"bicross"``): each run holds out one of folds x folds
        blocks.
    max_iter, tol
        stopping rule of each fit: relative change of the training loss below ``tol`` between
        checks every 10 iterations, at most ``max_iter`` iterations.
    dtype
        ``"float64"`` (default) or ``"float32"``.

    Returns
    -------
    :class:`bionmf.core.crossval.CVRuns`
    """
    runs = np.asarray(sorted(int(r) for r in runs), dtype=np.int64)
    if runs.size == 0 or runs.min() < 0:
        raise ValueError(f"runs must be non-negative run indices, got {runs.tolist()}")
    random_state = check_random_state(random_state)
    options = _options(loss, max_iter, tol, dtype)
    Xp = prepare_matrix(X, options.np_dtype)
    _check_data(Xp, rank, scheme, holdout, folds)
    if scheme == "speckled":
        out = _speckled(Xp, rank, runs, random_state, holdout, options)
    else:
        out = _bicross(Xp, rank, runs, random_state, folds, options)
    return CVRuns(rank=int(rank), runs=runs, error=out[:, 0], train_error=out[:, 1],
                  n_iter=out[:, 2].astype(np.int64), scheme=scheme, loss=loss)


def crossval_ranks(X, ranks: Iterable[int], n_runs: int, **kwargs) -> dict[int, CVRuns]:
    """:func:`crossval_rank` for runs 0..n_runs-1 of every rank in ``ranks``."""
    return {int(k): crossval_rank(X, int(k), range(n_runs), **kwargs) for k in sorted(set(ranks))}


def cv_runs_table(results: dict[int, CVRuns] | Iterable[CVRuns]) -> pd.DataFrame:
    """Long table of every run: rank, run, error (held-out), train_error, n_iter."""
    items = results.values() if isinstance(results, dict) else results
    frames = [pd.DataFrame({"rank": np.full(r.runs.size, int(r.rank)), "run": r.runs, "error": r.error,
                            "train_error": r.train_error, "n_iter": r.n_iter}) for r in items]
    return pd.concat(frames, ignore_index=True).sort_values(["rank", "run"]).reset_index(drop=True)


def cv_table(results: dict[int, CVRuns] | Iterable[CVRuns]) -> pd.DataFrame:
    """Per rank: mean held-out error ``cv_error``, its standard deviation over runs ``cv_error_sd``,
    the standard error of the mean ``cv_error_se`` and the runs ``cv_runs``; indexed by rank."""
    items = results.values() if isinstance(results, dict) else results
    rows = {}
    for res in items:
        e = np.asarray(res.error, dtype=np.float64)
        sd = float(e.std(ddof=1)) if e.size > 1 else 0.0
        rows[int(res.rank)] = dict(cv_error=float(e.mean()), cv_error_sd=sd, cv_error_se=sd / np.sqrt(e.size),
                                   cv_runs=int(e.size))
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table.index.name = "rank"
    return table


# ---------------------------------------------------------------------------------------------
# rank rules that read the held-out error


def min_cv_error(metrics: pd.DataFrame) -> int:
    """The rank with the lowest mean held-out error."""
    return int(_cv_column(metrics).idxmin())


def cv_one_se(metrics: pd.DataFrame) -> int:
    """The smallest rank whose mean held-out error is within one standard error of the lowest
    (Breiman et al. 1984's one-standard-error rule): the simplest model the held-out data cannot
    tell apart from the best."""
    return int(_within_one_se(metrics).min())


#: consensus columns :func:`cv_stable` reads, the first present: the sample consensus's
#: dispersion, the component consensus's stability
STABILITY_COLUMNS = ("dispersion", "stability")


def cv_stable(metrics: pd.DataFrame, *, column: str | None = None) -> int:
    """The most stable rank among those the held-out error cannot tell apart from its minimum.

    Of the ranks within one standard error of the lowest mean held-out error, the one with the
    highest consensus ``column`` (default: ``dispersion``, or ``stability`` for the component
    consensus; the smallest rank on ties): cross-validation bounds the rank from above, the
    consensus picks the clustering the runs reproduce.
    """
    candidates = _within_one_se(metrics)
    if column is None:
        column = next((c for c in STABILITY_COLUMNS if c in metrics.columns), STABILITY_COLUMNS[0])
    if column not in metrics.columns:
        raise KeyError(f"the metrics table has no column {column!r}")
    values = metrics.loc[candidates, column].astype(float)
    best = values.max()
    return int(values.index[np.isclose(values.to_numpy(), best, rtol=0, atol=1e-9)].min())


CV_RULES = {"min_cv_error": min_cv_error, "cv_one_se": cv_one_se, "cv_stable": cv_stable}


def _cv_column(metrics: pd.DataFrame) -> pd.Series:
    if "cv_error" not in metrics.columns:
        raise KeyError("the metrics table has no column 'cv_error' (run the survey with cross-validation)")
    values = metrics["cv_error"].sort_index()
    if values.isna().all():
        raise ValueError("the metrics table has no held-out error")
    return values


def _within_one_se(metrics: pd.DataFrame) -> pd.Index:
    err = _cv_column(metrics)
    se = metrics["cv_error_se"].reindex(err.index).fillna(0.0) if "cv_error_se" in metrics.columns else 0.0 * err
    best = err.idxmin()
    return err.index[err.to_numpy() <= err[best] + se[best]]


# ---------------------------------------------------------------------------------------------
# the two schemes


def _options(loss: str, max_iter: int, tol: float, dtype: str) -> SolverOptions:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    # fits run to convergence of their objective, from a start at the data's scale (the batched
    # solvers' "mean" start): a held-out error of a fit stopped early says little about the rank
    algorithm = "brunet" if loss == "kullback-leibler" else "hals"
    return SolverOptions(algorithm=algorithm, stop="objective", tol=tol, max_iter=max_iter, dtype=dtype, init="mean")


def bicross_dense_bytes(shape: tuple[int, int], folds: int = 2) -> int:
    """Bytes of the largest dense float64 block a bi-cross run of a samples x genes matrix makes."""
    n, m = shape
    held_n, held_m = -(-n // folds), -(-m // folds)
    return 8 * max(held_n * (m - m // folds), (n - n // folds) * held_m, held_n * held_m)


def check_bicross_size(shape: tuple[int, int], folds: int = 2) -> None:
    """Refuse a bi-cross-validation whose dense blocks would exceed :data:`BICROSS_MAX_DENSE_BYTES`."""
    need = bicross_dense_bytes(shape, folds)
    if need > BICROSS_MAX_DENSE_BYTES:
        raise ValueError(
            f"crossval='bicross' on {shape[0]} samples x {shape[1]} genes makes dense held-out blocks of "
            f"{need / 1024**3:.1f} GiB each (limit {BICROSS_MAX_DENSE_BYTES / 1024**3:.0f} GiB); set crossval=None "
            "(workflow config: crossval: null) for data this large, or cross-validate a subsample of the samples"
        )


def _check_data(X, rank: int, scheme: str, holdout: float, folds: int) -> None:
    n, m = X.shape
    if scheme not in SCHEMES:
        raise ValueError(f"cross-validation scheme must be one of {SCHEMES}, got {scheme!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    values = X.data if sp.issparse(X) else X
    if values.size and (not np.isfinite(values).all() or values.min() < 0):
        raise ValueError("cross-validation needs a finite, non-negative matrix")
    if scheme == "speckled":
        if not 0 < holdout < 0.5:
            raise ValueError(f"holdout must be in (0, 0.5), got {holdout!r}")
        expected = holdout * n * m
        # every sample and gene keeps most entries; the fit needs more observed entries per
        # sample and per gene than the rank
        kept = (1 - holdout) * min(n, m)
        if expected < MIN_HELD_OUT or kept <= rank:
            raise ValueError(
                f"data too small to hold out entries at rank {rank}: {n} samples x {m} genes with "
                f"holdout={holdout} hold out about {expected:.0f} entries (need {MIN_HELD_OUT}) and leave "
                f"about {kept:.0f} per sample or gene (need more than the rank); use more data, a larger "
                f"holdout or lower ranks"
            )
    else:
        if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
            raise ValueError(f"folds must be an int >= 2, got {folds!r}")
        check_bicross_size((n, m), folds)
        kept_n = n - -(-n // folds)
        kept_m = m - -(-m // folds)
        if n < folds or m < folds or min(kept_n, kept_m) <= rank:
            raise ValueError(
                f"data too small for bi-cross-validation at rank {rank}: {n} samples x {m} genes with "
                f"folds={folds} keep {kept_n} samples x {kept_m} genes to factorize (need more than the "
                f"rank in both); use more data, more folds or lower ranks"
            )


def _speckled(X, rank, runs, random_state, holdout, options) -> np.ndarray:
    n, m = X.shape
    dtype = options.np_dtype
    Xc = X if sp.issparse(X) else sp.csr_matrix(X)
    b = runs.size
    Wt = np.empty((b, rank, m), dtype=dtype)
    H = np.empty((b, rank, n), dtype=dtype)
    keys = np.empty(b, dtype=np.uint64)
    for t, r in enumerate(runs):
        keys[t] = fold_seed(random_state, r).generate_state(1, np.uint64)[0]
        # the start's scale (init "mean") from the observed entries only: nothing of the held-out
        # entries enters the fit
        scale = np.sqrt(observed_mean(Xc, int(keys[t]), holdout) / rank)
        W0, H0 = random_init(run_seed(random_state, rank, r), m, n, rank, scale, dtype, options.init)
        Wt[t], H[t] = W0.T, H0
    held = [count_held_out((n, m), int(key), holdout) for key in keys]
    if min(held) == 0:
        raise ValueError(f"a fold holds out no entry of the {n} x {m} matrix; use a larger holdout")
    out = masked_fit(Xc, Wt, H, keys, holdout, kl=options.loss == "kullback-leibler", max_iter=options.max_iter,
                     check_interval=options.check_interval, tol=options.tol, eps=np.finfo(dtype).eps)
    return np.column_stack([out[:, 3], out[:, 2], out[:, 0]])


def _partition(size: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Group (0..folds-1) of each of ``size`` items: a random split into near-equal groups."""
    return rng.permutation(np.arange(size) % folds)


def _bicross(X, rank, runs, random_state, folds, options) -> np.ndarray:
    n, m = X.shape
    blocks = folds * folds
    out = np.empty((runs.size, 3), dtype=np.float64)
    kl = options.loss == "kullback-leibler"
    for t, r in enumerate(runs):
        rng = np.random.default_rng(fold_seed(random_state, r // blocks))
        sample_group = _partition(n, folds, rng)
        gene_group = _partition(m, folds, rng)
        block = r % blocks
        I = sample_group == block // folds
        J = gene_group == block % folds
        D = _block(X, ~I, ~J)
        fit = factorize_batch(D, rank, [run_seed(random_state, rank, r)], options)
        W_D, H_D = fit.W[0], fit.H[0]  # (genes J^c, k), (k, samples I^c)
        # held-out samples: X[I, J^c]^T ~ W_D H_I; held-out genes: X[I^c, J]^T ~ W_J H_D
        H_I = _fold_in(_block(X, I, ~J), W_D.T, kl)  # (k, |I|) from rows = samples
        W_J = _fold_in(_block(X, ~I, J).T, H_D, kl)  # (k, |J|) from rows = genes
        pred = H_I.T @ W_J  # |I| x |J|, AnnData orientation
        A = _block(X, I, J)
        A = A.toarray() if sp.issparse(A) else A
        err = _loss(A.astype(np.float64), pred.astype(np.float64), kl)
        n_train = D.shape[0] * D.shape[1]
        out[t] = (err / A.size, float(fit.objective[0]) / n_train, float(fit.n_iter[0]))
    return out


def _block(X, rows: np.ndarray, cols: np.ndarray):
    sub = X[np.flatnonzero(rows)][:, np.flatnonzero(cols)]
    return prepare_matrix(sub, X.dtype)


def _loss(A: np.ndarray, P: np.ndarray, kl: bool) -> float:
    if not kl:
        return float(((A - P) ** 2).sum())
    pos = A > 0
    return float(P.sum() - A.sum() + (A[pos] * np.log(A[pos] / P[pos])).sum())


def _fold_in(Y, F: np.ndarray, kl: bool) -> np.ndarray:
    """G >= 0 (k x rows) minimizing the loss of Y (rows x cols) ~ (F^T G)^T = G^T F with F (k x cols)
    fixed: a non-negative regression of every row of Y on the rows of F.

    Frobenius: HALS on G (exact coordinate-wise least squares); KL: multiplicative updates. Both
    start from the same flat G and run ``FOLD_IN_ITER`` iterations.
    """
    F = F.astype(np.float64)
    k = F.shape[0]
    rows = Y.shape[0]
    Yd = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
    Yd = Yd.astype(np.float64)
    eps = np.finfo(np.float64).eps
    mean = max(float(Yd.mean()), eps)
    # flat start at the data's level: G^T F then averages to the mean of Y
    G = np.full((k, rows), mean / max(float(F.sum(axis=0).mean()), eps))
    if kl:
        f_sum = np.maximum(F.sum(axis=1), eps)[:, None]
        for _ in range(FOLD_IN_ITER):
            fitted = np.maximum(G.T @ F, eps)
            G *= (F @ (Yd / fitted).T) / f_sum
            np.maximum(G, eps, out=G)
        return G
    YF = F @ Yd.T  # (k, rows)
    FF = F @ F.T
    for _ in range(FOLD_IN_ITER):
        for a in range(k):
            diag = max(FF[a, a], eps)
            G[a] = np.maximum(G[a] + (YF[a] - FF[a] @ G) / diag, eps)
    return G
