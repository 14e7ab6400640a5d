"""The library side of the Snakemake workflow: one function per rule, config checks, job sizes.

The rule scripts in ``rules/scripts`` read their inputs, call one function of this module and
write the outputs, so the workflow computes exactly what :func:`bionmf.tl.nmf` computes: a
(rank, chunk of runs) job runs :func:`bionmf.core.run_rank` on the matrix that ``tl.nmf`` would
fit, seeds come from (random_state, rank, run) alone, and the final AnnData is written by the
same :func:`bionmf.tl.store_survey` (sample consensus) or :func:`bionmf.tl.store_components`
(component consensus, ``consensus: components``).
"""

from __future__ import annotations

import difflib
import gzip
import inspect
import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from . import io, pp
from ._threads import solver_threads
from .core import RankRuns, RankSummary, load_summary, run_rank, summarize_rank
from .core.component_survey import ComponentSummary, load_component_summary, summarize_components
from .core.components import DENSITY_THRESHOLD
from .core.permutation import permutation_seed, permute_within_genes
from .core.rank_selection import ALL_RULES, apply_all, choose_rank
from .core.solvers import SolverOptions, prepare_matrix
from .tl._components import component_metrics_table, resolve_consensus, store_components
from .tl._nmf import check_rank_rule, check_ranks, fit_matrix, metrics_table, null_tables, store_survey
from .tl._nmf import survey_params as _survey_params

logger = logging.getLogger("bionmf")

#: ``path: bundled:<name>`` in a data set entry reads a data set shipped with the package.
BUNDLED_PREFIX = "bundled:"
BUNDLED_SHAPES = {"golub": (38, 5000)}

#: Keys of a data set entry whose values name files that must exist before anything runs.
_READ_FILE_KEYS = ("genes",)


# -- config ---------------------------------------------------------------------------------------


def check_config(config: Mapping, *, workdir: str | Path = ".") -> None:
    """Checks the JSON schema cannot express; a ValueError naming the key, before any job runs.

    The schema (``config/schema/config.schema.yaml``) has already rejected unknown keys and wrong
    types. Here: every input file exists, bundled data sets exist, the ``read`` and ``normalize``
    options of each data set are keywords of the functions they go to, the solver options go
    together, and the rank grid has no rank below 2 (repeated for configs that skipped the
    schema).
    """
    workdir = Path(workdir)
    ranks = config.get("ranks", [])
    low = [k for k in ranks if k < 2]
    if low:
        raise ValueError(f"config['ranks']: {low} below 2; consensus clustering needs ranks >= 2")
    try:
        solver_options(config)
    except ValueError as error:
        raise ValueError(f"config['solver']: {error}") from None
    rank_rule = config.get("rank_rule")
    if rank_rule is not None and rank_rule not in ALL_RULES:
        raise ValueError(f"config['rank_rule']: must be one of {sorted(ALL_RULES)} or null, got {rank_rule!r}")
    for name, spec in config["datasets"].items():
        for key, path in dataset_files(spec).items():
            if not (workdir / path).exists():
                raise ValueError(f"config['datasets'][{name!r}][{key!r}]: input file {path} does not exist "
                                 f"(relative paths are read from {workdir.resolve()})")
        if is_bundled(spec["path"]) and bundled_name(spec["path"]) not in BUNDLED_SHAPES:
            raise ValueError(f"config['datasets'][{name!r}]['path']: unknown bundled data set "
                             f"{spec['path']!r}; bundled: {', '.join(BUNDLED_PREFIX + b for b in BUNDLED_SHAPES)}")
        _check_options(name, spec, workdir)
        _check_consensus(name, config, consensus_mode(config, data_shape(spec, workdir=workdir)))


def consensus_mode(config: Mapping, shape: tuple[int, int]) -> str:
    """``"samples"`` or ``"components"``: the config's ``consensus`` for a data set of ``shape``.

    ``auto`` is resolved as :func:`bionmf.tl.nmf` resolves it, on the number of samples; the
    workflow reads it from the input file (the rules a data set needs depend on it), and
    :func:`annotate_survey` checks that the prepared data resolve the same way.
    """
    return resolve_consensus(config.get("consensus", "auto"), shape[0])


def _check_consensus(name: str, config: Mapping, mode: str) -> None:
    """The options that :func:`bionmf.tl.nmf` refuses with consensus ``mode``, named by key."""
    try:
        check_rank_rule(config.get("rank_rule"), mode)
    except ValueError as error:
        raise ValueError(f"config['rank_rule'] (data set {name!r}, {mode} consensus): {error}") from None
    if mode == "components" and config.get("n_runs", 2) < 2:
        raise ValueError(f"config['n_runs']: the component consensus of data set {name!r} needs n_runs >= 2")
    if mode == "components" and config.get("n_permutations", 0):
        raise ValueError(f"config['n_permutations']: the null model needs consensus 'samples', but data set "
                         f"{name!r} uses the component consensus (set n_permutations: 0 or consensus: samples)")


#: The reader :func:`bionmf.io.read` hands each format to; its keywords are the ``read`` options.
_READERS = {"gct": "read_gct", "table": "read_table", "h5ad": "read_h5ad", "10x_h5": "read_10x", "10x_mtx": "read_10x"}


def _check_options(name: str, spec: Mapping, workdir: Path) -> None:
    """The ``read`` and ``normalize`` options of a data set entry are keywords their functions take."""
    where = f"config['datasets'][{name!r}]"
    checks = []
    if spec.get("read"):
        if is_bundled(spec["path"]):
            raise ValueError(f"{where}['read']: bundled data sets take no read options")
        try:
            format = spec.get("format") or io.detect_format(workdir / spec["path"])
        except ValueError as error:
            raise ValueError(f"{where}['format']: {error}") from None
        reader = getattr(io, _READERS[format])
        allowed = [p for p in inspect.signature(reader).parameters if p != "path"]
        checks.append(("read", spec["read"], allowed, f"bionmf.io.{reader.__name__} ({format} files)"))
    if spec.get("normalize"):
        allowed = [p for p in inspect.signature(pp.normalize).parameters if p not in ("adata", "preset", "copy")]
        checks.append(("normalize", spec["normalize"], allowed, "bionmf.pp.normalize"))
    for key, options, allowed, function in checks:
        for option in options:
            if option not in allowed:
                close = difflib.get_close_matches(str(option), allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"its options: {', '.join(allowed)}"
                raise ValueError(f"{where}[{key!r}]: {function} has no option {option!r}; {hint}")


def config_errors(config: Mapping, schema: Mapping) -> list[str]:
    """Every way ``config`` breaks the JSON ``schema``, one line each, naming the key.

    Unknown keys get a "did you mean" from the keys the schema allows at that place.
    """
    from jsonschema import Draft202012Validator

    messages = []
    validator = Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "config" + "".join(f"[{p!r}]" for p in error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = list(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
                    messages.append(f"{where}: unknown key {key!r}{hint}")
        else:
            messages.append(f"{where}: {error.message}")
    return messages


def validate_config(config: Mapping, schema_path: str | Path) -> None:
    """A ValueError listing every schema violation of ``config`` (see :func:`config_errors`)."""
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = config_errors(config, schema)
    if errors:
        raise ValueError("invalid workflow config:\n  " + "\n  ".join(errors))


def is_bundled(path: str) -> bool:
    return str(path).startswith(BUNDLED_PREFIX)


def bundled_name(path: str) -> str:
    return str(path)[len(BUNDLED_PREFIX):]


def dataset_files(spec: Mapping) -> dict[str, str]:
    """The files a data set entry reads, by key (``path``, ``annotation``, ``read.genes``)."""
    files = {}
    if not is_bundled(spec["path"]):
        files["path"] = spec["path"]
    if spec.get("annotation"):
        files["annotation"] = spec["annotation"]
    for key in _READ_FILE_KEYS:
        value = (spec.get("read") or {}).get(key)
        if isinstance(value, str):
            files[f"read.{key}"] = value
    return files


def solver_options(config: Mapping) -> SolverOptions:
    """The :class:`SolverOptions` of the config's ``algorithm`` and ``solver`` keys."""
    return SolverOptions(algorithm=config["algorithm"], **dict(config.get("solver") or {}))


def run_chunks(n_runs: int, runs_per_job: int) -> list[tuple[int, int]]:
    """Half-open run ranges [start, stop) of the factorization jobs of one rank.

    Named by their runs rather than a chunk number, so raising ``n_runs`` keeps every earlier
    full chunk (and its output file) as it was.
    """
    if n_runs < 1 or runs_per_job < 1:
        raise ValueError(f"n_runs and runs_per_job must be positive, got {n_runs} and {runs_per_job}")
    return [(start, min(start + runs_per_job, n_runs)) for start in range(0, n_runs, runs_per_job)]


def survey_params(config: Mapping, *, genes: np.ndarray, gene_key: str, n_samples: int) -> dict:
    """The ``params`` that :func:`bionmf.tl.nmf` records for the same survey of ``n_samples``."""
    mode = consensus_mode(config, (n_samples, int(np.sum(genes))))
    return _survey_params(
        ranks=config["ranks"], n_runs=config["n_runs"], random_state=config["random_state"],
        rank_rule=check_rank_rule(config.get("rank_rule"), mode), layer=None, genes=genes, gene_key=gene_key,
        n_permutations=config.get("n_permutations", 0), options=solver_options(config),
        consensus=mode, n_samples=n_samples, density_threshold=config.get("density_threshold", DENSITY_THRESHOLD),
    )


# -- rule bodies ----------------------------------------------------------------------------------


def prepare_dataset(spec: Mapping) -> ad.AnnData:
    """Read a data set entry and normalize it with its ``preset`` (and ``normalize`` options).

    ``path: bundled:golub`` reads :func:`bionmf.datasets.golub`; any other path goes to
    :func:`bionmf.io.read` with ``format``, ``annotation`` and the ``read`` options.
    """
    path = spec["path"]
    if is_bundled(path):
        from . import datasets

        adata = getattr(datasets, bundled_name(path))()
        if spec.get("annotation"):
            io.annotate(adata, spec["annotation"])
    else:
        adata = io.read(path, format=spec.get("format"), annotation=spec.get("annotation"),
                        **dict(spec.get("read") or {}))
    pp.normalize(adata, preset=spec.get("preset", "bulk"), **dict(spec.get("normalize") or {}))
    return adata


def _fit_input(prepared: ad.AnnData, options: SolverOptions, *, random_state: int = 0, permutation: int | None = None):
    """The matrix :func:`bionmf.tl.nmf` fits, or its permutation ``permutation`` (null model)."""
    X, genes, gene_key = fit_matrix(prepared, layer=None, use_genes=None)
    X = prepare_matrix(X, options.np_dtype)
    if permutation is not None:
        X = prepare_matrix(permute_within_genes(X, permutation_seed(random_state, permutation)), options.np_dtype)
    return X, genes, gene_key


def factorize_chunk(
    prepared: ad.AnnData,
    *,
    rank: int,
    runs: Iterable[int],
    config: Mapping,
    n_jobs: int | None = None,
    permutation: int | None = None,
    keep_spectra: bool = False,
) -> RankRuns:
    """Runs ``runs`` of rank ``rank`` on the prepared data set, seeded as in :func:`bionmf.tl.nmf`.

    With ``permutation`` p, on the data with each gene permuted across samples as permutation p
    of ``tl.nmf(..., n_permutations=...)`` (the null model). ``keep_spectra``: keep every run's
    basis, which the component consensus (:func:`component_rank`) reads.
    """
    options = solver_options(config)
    X, _, _ = _fit_input(prepared, options, random_state=config["random_state"], permutation=permutation)
    check_ranks([rank], X.shape)
    runs = list(runs)
    logger.info("rank %d, runs %d..%d of %d samples x %d genes%s (%s, random_state %d)",
                rank, runs[0], runs[-1], X.shape[0], X.shape[1],
                "" if permutation is None else f", permutation {permutation}", options.algorithm,
                config["random_state"])
    with solver_threads(n_jobs, uses_blas=options.algorithm != "brunet"):
        result = run_rank(X, rank, runs, random_state=config["random_state"], options=options,
                          keep_spectra=keep_spectra)
    logger.info("mean iterations %.1f, %d of %d runs at max_iter; lowest objective %.6g (run %d)",
                result.n_iter.mean(), int((result.n_iter >= options.max_iter).sum()), len(runs),
                result.objective.min(), result.best_run)
    return result


def consensus_rank(
    prepared: ad.AnnData, chunks: Sequence[RankRuns], *, config: Mapping, permutation: int | None = None
) -> tuple[RankRuns, RankSummary]:
    """Merge the chunks of one rank and summarize them (consensus, clusters, metrics).

    ``permutation``: the chunks were computed on that permutation of the data (null model).
    """
    runs = _merge_runs(chunks, config["n_runs"])
    X, _, _ = _fit_input(prepared, solver_options(config), random_state=config["random_state"],
                         permutation=permutation)
    summary = summarize_rank(X, runs, random_state=config["random_state"])
    logger.info("rank %d: %d runs, %s", runs.rank, runs.runs.size,
                ", ".join(f"{k} {v:.4g}" for k, v in summary.metrics.items()))
    return runs, summary


def _merge_runs(chunks: Sequence[RankRuns], n_runs: int) -> RankRuns:
    """The chunks of one rank as one, checked to hold runs 0..n_runs-1."""
    runs = RankRuns.merge(list(chunks))
    if not np.array_equal(runs.runs, np.arange(n_runs)):
        raise ValueError(f"rank {runs.rank}: the chunks hold runs {runs.runs.min()}..{runs.runs.max()} "
                         f"({runs.runs.size}), expected 0..{n_runs - 1}")
    return runs


def component_rank(prepared: ad.AnnData, chunks: Sequence[RankRuns], *, config: Mapping) -> ComponentSummary:
    """Merge the chunks of one rank (computed with ``keep_spectra``) into its component consensus.

    :func:`bionmf.core.summarize_components` with the config's ``density_threshold`` and
    ``random_state``, as :func:`bionmf.tl.nmf` with ``consensus="components"``.
    """
    runs = _merge_runs(chunks, config["n_runs"])
    X, _, _ = _fit_input(prepared, solver_options(config), random_state=config["random_state"])
    summary = summarize_components(X, runs, density_threshold=config.get("density_threshold", DENSITY_THRESHOLD),
                                   random_state=config["random_state"])
    logger.info("rank %d: %d runs, component consensus, %s", runs.rank, runs.runs.size,
                ", ".join(f"{k} {v:.4g}" for k, v in summary.metrics.items()))
    return summary


def consensus_frame(summary: RankSummary, samples: Sequence[str]) -> pd.DataFrame:
    """The consensus matrix as a samples x samples table."""
    return pd.DataFrame(summary.consensus, index=pd.Index(samples), columns=pd.Index(samples))


def rank_table(
    summaries: Iterable[RankSummary | ComponentSummary], *, rank_rule: str | None, null: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, dict]:
    """The metrics of every rank with a ``chosen`` column, and the choice (rank, rule, every rule's rank).

    Sample-consensus summaries give the columns of :data:`bionmf.core.METRIC_COLUMNS`, component
    summaries those of :data:`bionmf.core.component_survey.COMPONENT_METRIC_COLUMNS`;
    ``rank_rule`` None is the kind's default rule. With ``null`` (see :func:`null_table`), the
    permuted data's mean metrics are added as ``null_<metric>`` columns.
    """
    by_rank = {s.rank: s for s in summaries}
    components = _is_components(by_rank.values())
    table = component_metrics_table(by_rank) if components else metrics_table(by_rank)
    rank_rule = check_rank_rule(rank_rule, "components" if components else "samples")
    chosen = choose_rank(table, rank_rule)
    choice = {"rank": int(chosen), "rank_rule": rank_rule,
              "rank_rules": {name: int(k) for name, k in apply_all(table).items()}}
    if null is not None:
        mean = null_tables(null)["null_metrics"].drop(columns="n_runs").add_prefix("null_")
        table = table.join(mean)
    table.insert(0, "chosen", table.index == chosen)
    return table, choice


def _is_components(summaries: Iterable[RankSummary | ComponentSummary]) -> bool:
    """Whether the summaries are all component summaries (a ValueError if they are mixed)."""
    kinds = {isinstance(s, ComponentSummary) for s in summaries}
    if len(kinds) > 1:
        raise ValueError("summaries mix the sample and the component consensus")
    return kinds == {True}


def null_table(summaries: Iterable[tuple[int, RankSummary]]) -> pd.DataFrame | None:
    """Metrics of the surveys of permuted data, one row per (permutation, rank); None without any."""
    rows = [{"permutation": int(p), "rank": s.rank, **s.metrics} for p, s in summaries]
    return pd.DataFrame(rows) if rows else None


def annotate_survey(
    prepared: ad.AnnData,
    runs: Iterable[RankRuns],
    summaries: Iterable[RankSummary | ComponentSummary],
    *,
    config: Mapping,
    null: pd.DataFrame | None = None,
) -> ad.AnnData:
    """The prepared AnnData with everything :func:`bionmf.tl.nmf` writes, under ``key_added``.

    ``summaries`` of the component consensus (:func:`component_rank`; ``runs`` then empty) are
    written by :func:`bionmf.tl.store_components`, those of the sample consensus by
    :func:`bionmf.tl.store_survey`. ``null``: the permuted-data metrics (:func:`null_table`)
    when ``n_permutations`` > 0.
    """
    runs = {r.rank: r for r in runs}
    summaries = {s.rank: s for s in summaries}
    ranks = sorted(set(config["ranks"]))
    components = _is_components(summaries.values())
    if sorted(summaries) != ranks or (not components and sorted(runs) != ranks):
        raise ValueError(f"ranks of runs {sorted(runs)} and summaries {sorted(summaries)} do not match the config "
                         f"ranks {ranks}")
    _, genes, gene_key = fit_matrix(prepared, layer=None, use_genes=None)
    params = survey_params(config, genes=genes, gene_key=gene_key, n_samples=prepared.n_obs)
    if (params["consensus"] == "components") != components:
        raise ValueError(f"config consensus {config.get('consensus', 'auto')!r} resolves to {params['consensus']!r} for "
                         f"the {prepared.n_obs} prepared samples, but the rank jobs computed the "
                         f"{'component' if components else 'sample'} consensus (decided on the input file's "
                         f"samples); set consensus to 'samples' or 'components' explicitly")
    if components:
        store_components(prepared, summaries, genes=genes, params=params, key_added=config["key_added"])
        return prepared
    n_null = 0 if null is None else null["permutation"].nunique()
    if n_null != params["n_permutations"]:
        raise ValueError(f"config n_permutations is {params['n_permutations']} but {n_null} permutations were given")
    store_survey(prepared, runs, summaries, genes=genes, params=params, key_added=config["key_added"],
                 null_metrics=null)
    return prepared


def cluster_table(adata: ad.AnnData, *, key: str = "nmf") -> pd.DataFrame:
    """Samples x (consensus cluster at each rank, at the chosen rank, and the sample annotation)."""
    uns = adata.uns[key]
    table = pd.DataFrame(index=pd.Index(adata.obs_names, name="sample"))
    for rank in sorted(uns["clusters"], key=int):
        table[f"rank_{rank}"] = np.asarray(uns["clusters"][rank], dtype=int)
    table["chosen"] = adata.obs[f"{key}_cluster"].astype(int).to_numpy()
    for column in adata.obs.columns:
        if column != f"{key}_cluster" and not pd.api.types.is_float_dtype(adata.obs[column]):
            table[column] = adata.obs[column].to_numpy()
    return table


def signature_sets(
    adata: ad.AnnData, *, rank: int, options: Mapping, key: str = "nmf"
) -> tuple[pd.DataFrame, dict[str, list[str]], dict[str, str]]:
    """Signature genes of every metagene at ``rank`` (:func:`bionmf.tl.signatures`).

    Returns the table (one row per metagene and gene), the gene sets and their GMT descriptions.
    """
    from .tl import signatures

    result = signatures(adata, rank=rank, key=key, copy=True, **dict(options))
    entry = result.uns[f"{key}_signatures"]
    gene_sets = {name: [str(g) for g in genes] for name, genes in entry["gene_sets"].items()}
    descriptions = {name: str(text) for name, text in dict(entry.get("descriptions", {})).items()}
    return entry["table"], gene_sets, descriptions


#: Plots of the whole survey drawn by :func:`plot_survey`, by output name (either consensus).
SURVEY_PLOTS = ("rank_metrics", "metagenes", "signatures", "clusters")
#: Rank-metric panels of a component-consensus survey (it has no sample-consensus figures).
COMPONENT_PLOT_METRICS = ("stability", "error", "evar", "n_spectra_kept")


def annotation_columns(adata: ad.AnnData, *, key: str = "nmf", max_categories: int = 20) -> list[str]:
    """Categorical ``obs`` columns (sample annotation) worth a track beside the clusters."""
    columns = []
    for name, values in adata.obs.items():
        if name == f"{key}_cluster" or not isinstance(values.dtype, pd.CategoricalDtype):
            continue
        if 1 < len(values.cat.categories) <= max_categories:
            columns.append(str(name))
    return columns


def plot_consensus(adata: ad.AnnData, path: str | Path, *, rank: int, key: str = "nmf") -> None:
    """Consensus heatmap of one rank (:func:`bionmf.pl.consensus`) saved to ``path``."""
    _save(lambda pl: pl.consensus(adata, rank=rank, key=key, annotate=annotation_columns(adata, key=key)), path)


def plot_consensus_grid(adata: ad.AnnData, path: str | Path, *, key: str = "nmf") -> None:
    """The consensus matrices of every rank side by side (:func:`bionmf.pl.consensus_grid`)."""
    _save(lambda pl: pl.consensus_grid(adata, key=key), path)


def plot_survey(
    adata: ad.AnnData, paths: Mapping[str, str | Path], *, signatures: Mapping, key: str = "nmf"
) -> None:
    """The plots of :data:`SURVEY_PLOTS`, each saved to ``paths[name]``.

    A component-consensus survey draws the metrics of :data:`COMPONENT_PLOT_METRICS`. Signature genes at the chosen rank are selected with the config's ``signatures`` options
    (:func:`bionmf.tl.signatures`), so the plots show the genes of the signature files.
    """
    from .tl import signatures as select_signatures

    missing = [name for name in SURVEY_PLOTS if name not in paths]
    if missing:
        raise ValueError(f"plot_survey: no output path for {missing}")
    adata = adata.copy()
    select_signatures(adata, key=key, **dict(signatures))
    annotate = annotation_columns(adata, key=key)
    components = adata.uns[key]["params"].get("consensus") == "components"
    metric_kw = {"metrics": COMPONENT_PLOT_METRICS} if components else {}
    draw = {
        "rank_metrics": lambda pl: pl.rank_metrics(adata, key=key, **metric_kw),
        "metagenes": lambda pl: pl.metagenes(adata, key=key, annotate=annotate),
        "signatures": lambda pl: pl.signatures(adata, key=key, annotate=annotate),
        "clusters": lambda pl: pl.clusters(adata, key=key),
    }
    for name in SURVEY_PLOTS:
        _save(draw[name], paths[name])


def _save(draw, path: str | Path) -> None:
    """Draw with ``draw(bionmf.pl)`` on the non-interactive backend, save, close."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import pl

    result = draw(pl)
    figure = result if hasattr(result, "savefig") else result.figure
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Tab-separated, index included."""
    frame.to_csv(path, sep="\t")


def write_json(data: Mapping, path: str | Path) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_runs(paths: Iterable[str | Path]) -> list[RankRuns]:
    return [RankRuns.load(p) for p in paths]


def load_summaries(paths: Iterable[str | Path]) -> list[RankSummary | ComponentSummary]:
    """Sample-consensus or component summaries (told apart by their fields)."""
    return [load_component_summary(p) if _holds_programs(p) else load_summary(p) for p in paths]


def _holds_programs(path: str | Path) -> bool:
    with np.load(path) as f:
        return "programs" in f.files


# -- logging --------------------------------------------------------------------------------------


@contextmanager
def job_log(path: str | Path | None, *, threads: int = 1) -> Iterator[logging.Logger]:
    """Run a rule's body: its ``bionmf`` log, warnings and any error's traceback go to ``path``,
    and BLAS and numba use ``threads`` threads (the rule's ``threads``), no more.
    """
    import numba
    from threadpoolctl import threadpool_limits

    threads = max(1, min(int(threads), int(numba.config.NUMBA_NUM_THREADS)))
    handler = logging.FileHandler(path, mode="w") if path is not None else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logger, logging.getLogger("py.warnings")]
    previous_level, previous_threads = logger.level, numba.get_num_threads()
    for log in loggers:
        log.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.captureWarnings(True)
    numba.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield logger
    except BaseException:
        logger.exception("job failed")
        raise
    finally:
        numba.set_num_threads(previous_threads)
        logging.captureWarnings(False)
        logger.setLevel(previous_level)
        for log in loggers:
            log.removeHandler(handler)
        handler.close()


# -- job sizes ------------------------------------------------------------------------------------


def data_shape(spec: Mapping, *, workdir: str | Path = ".") -> tuple[int, int]:
    """(samples, genes) of a data set entry, read from file headers without loading the values."""
    path = spec["path"]
    if is_bundled(path):
        return BUNDLED_SHAPES[bundled_name(path)]
    path = Path(workdir) / path
    transpose = (spec.get("read") or {}).get("transpose")
    return _file_shape(str(path.resolve()), path.stat().st_mtime, spec.get("format"), transpose)


@lru_cache(maxsize=64)
def _file_shape(path: str, mtime: float, format: str | None, transpose: bool | None) -> tuple[int, int]:
    path = Path(path)
    try:
        format = format or io.detect_format(path)
        if format in ("h5ad", "10x_h5"):
            return _hdf5_shape(path, format)
        if format == "10x_mtx":
            mtx = next(p for p in (path / "matrix.mtx.gz", path / "matrix.mtx") if p.exists())
            with (gzip.open(mtx, "rt") if mtx.suffix == ".gz" else mtx.open()) as handle:
                line = next(x for x in handle if not x.startswith("%"))
            genes, cells = (int(v) for v in line.split()[:2])
            return cells, genes
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            first, rows = "", 0
            for rows, line in enumerate(handle, start=1):
                first = first or line
        sep = "," if ".csv" in path.suffixes else "\t"
        columns = len(first.rstrip("\r\n").split(sep))
        if format == "gct":
            rows, columns = max(rows - 3, 1), max(columns - 2, 1)
        shape = (columns, rows) if transpose is None or transpose else (rows, columns)
        return int(shape[0]), int(shape[1])
    except Exception as error:  # sizing must never stop the workflow; fall back on the file size
        logger.debug("could not read the shape of %s (%s); estimating from its size", path, error)
        size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
        values = max(size // 8, 1)
        n = int(math.sqrt(values / 100)) + 1
        return n, max(values // n, 1)


def _hdf5_shape(path: Path, format: str) -> tuple[int, int]:
    import h5py

    with h5py.File(path, "r") as f:
        if format == "10x_h5":
            group = f["matrix"] if "matrix" in f else f[next(iter(f))]
            genes, cells = (int(v) for v in group["shape"][:2])
            return cells, genes
        X = f["X"]
        shape = X.attrs["shape"] if isinstance(X, h5py.Group) else X.shape
        return int(shape[0]), int(shape[1])


#: Solver operations per second and thread assumed when sizing jobs: about what the KL kernels
#: reach on one core (Golub, 25 runs of rank 6 in ~13 s), so threads are given to jobs that can
#: use them; runtime requests multiply the estimate by a wide margin.
OPS_PER_SECOND = 5e9
RUNTIME_MARGIN = 20.0


def factorize_seconds(shape: tuple[int, int], *, rank: int, runs: int, max_iter: int = 2000) -> float:
    """Single-thread seconds of ``runs`` runs at ``rank``, were they to run ``max_iter`` / 2 iterations."""
    n, g = shape
    return 4.0 * n * g * rank * runs * (max_iter / 2) / OPS_PER_SECOND


def job_threads(shape: tuple[int, int], *, rank: int, runs: int, max_iter: int = 2000, most: int = 4) -> int:
    """Threads worth giving a factorization job: one per ~10 s of estimated work, 1 to ``most``.

    Small jobs get one thread, so that more of them run side by side (their cost is mostly Python
    start-up); numba parallelizes a job over its runs, so more threads than runs are useless.
    """
    seconds = factorize_seconds(shape, rank=rank, runs=runs, max_iter=max_iter)
    return int(max(1, min(most, runs, math.ceil(seconds / 10.0))))


#: memory every job needs before its data (MB): Snakemake in the job plus the Python step
JOB_BASE_MB = 1200


def job_resources(
    step: str, shape: tuple[int, int], *, threads: int = 1, rank: int = 2, runs: int = 1,
    n_ranks: int = 1, max_iter: int = 2000,
) -> dict[str, int]:
    """``mem_mb`` and ``runtime`` (minutes) requests of one job, from the data size.

    Generous estimates for cluster schedulers (a queue kill costs more than an oversized
    request): the matrix is held as float64
    on read and in the solver's precision; a factorization run costs about
    ``4 * samples * genes * rank`` operations per iteration (:func:`factorize_seconds`), and
    the runtime request is :data:`RUNTIME_MARGIN` times that estimate.
    """
    n, g = shape
    cells = float(n) * float(g)
    mb = 1e-6
    if step == "prepare":
        mem = JOB_BASE_MB + 6 * cells * 8 * mb
        minutes = 5 + cells * 2e-6 / 60
    elif step == "factorize":
        per_run = (g + n) * rank * 4 * 4
        mem = JOB_BASE_MB + (cells * 8 + cells * 4 * (1 + threads) + runs * per_run) * mb
        seconds = factorize_seconds(shape, rank=rank, runs=runs, max_iter=max_iter) / max(threads, 1)
        minutes = 5 + RUNTIME_MARGIN * seconds / 60
    elif step == "consensus":
        mem = JOB_BASE_MB + (cells * 12 + 6 * n * n * 8 + runs * n * 2) * mb
        minutes = 5 + (cells * rank + n * n * math.log2(n + 2)) * 1e-7 / 60
    elif step in ("annotate", "signatures", "plots", "clusters"):
        mem = JOB_BASE_MB + 200 + (4 * cells * 8 + n_ranks * (n * n + (g + n) * rank) * 8) * mb
        minutes = 5 + n_ranks * cells * 1e-7 / 60
    else:
        raise ValueError(f"unknown workflow step {step!r}")
    return {"mem_mb": int(math.ceil(mem / 100.0) * 100), "runtime": int(math.ceil(minutes))}


__all__ = [
    "BUNDLED_PREFIX",
    "annotate_survey",
    "check_config",
    "component_rank",
    "consensus_mode",
    "cluster_table",
    "consensus_frame",
    "consensus_rank",
    "data_shape",
    "dataset_files",
    "factorize_chunk",
    "job_log",
    "job_resources",
    "null_table",
    "prepare_dataset",
    "rank_table",
    "run_chunks",
    "solver_options",
    "survey_params",
]
