"""The workflow config: schema violations named by key, and the checks the schema cannot make.

The JSON schema (``config/schema/config.schema.yaml``) holds the types and defaults; the survey's
options are checked where the library checks them (:class:`bionmf.core.SurveyOptions`,
:class:`bionmf.core.solvers.SolverOptions`), here reported by config key before any job runs.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from pathlib import Path

from .. import io, pp
from ..core import ConsensusKind, SurveyOptions, resolve_consensus
from ..core.survey_options import warn_few_runs
from .datasets import BUNDLED_PREFIX, BUNDLED_SHAPES, bundled_name, data_shape, dataset_files, is_bundled
from .projection import PROJECT_ONTO, check_projections

#: the config keys that are :class:`bionmf.core.SurveyOptions` fields
SURVEY_KEYS = ("ranks", "n_runs", "consensus", "rank_rule", "density_threshold", "n_permutations", "random_state",
               "crossval", "crossval_runs")


def survey_options(config: Mapping) -> SurveyOptions:
    """The :class:`SurveyOptions` of the config's survey keys (those it leaves out take the defaults)."""
    return SurveyOptions(**{key: config[key] for key in SURVEY_KEYS if key in config})


def dataset_kind(config: Mapping, shape: tuple[int, int]) -> ConsensusKind:
    """The consensus kind of a data set of ``shape`` (``auto`` decided on its samples).

    The workflow decides it once, on the input file (the rules a data set needs depend on it),
    and hands the resolved kind to every job of the data set.
    """
    return resolve_consensus(config.get("consensus", "auto"), shape[0])


def check_config(config: Mapping, *, workdir: str | Path = ".") -> None:
    """Checks the JSON schema cannot express; a ValueError naming the key, before any job runs.

    Every input file exists, bundled data sets exist, the ``read`` and ``normalize`` options of
    each data set are keywords of the functions they go to, the survey and solver options
    are accepted by the library for each surveyed data set's consensus kind, and every
    projection target names a surveyed reference (:func:`check_projections`).
    """
    workdir = Path(workdir)
    try:
        options = survey_options(config)
    except (ValueError, TypeError) as error:
        raise ValueError(f"config[{getattr(error, 'option', '...')!r}]: {error}") from None
    warn_few_runs(options.n_runs, stacklevel=2)
    for name, spec in config["datasets"].items():
        for key, path in dataset_files(spec).items():
            if not (workdir / path).exists():
                raise ValueError(f"config['datasets'][{name!r}][{key!r}]: input file {path} does not exist "
                                 f"(relative paths are read from {workdir.resolve()})")
        if is_bundled(spec["path"]) and bundled_name(spec["path"]) not in BUNDLED_SHAPES:
            raise ValueError(f"config['datasets'][{name!r}]['path']: unknown bundled data set "
                             f"{spec['path']!r}; bundled: {', '.join(BUNDLED_PREFIX + b for b in BUNDLED_SHAPES)}")
        _check_options(name, spec, workdir)
        if spec.get(PROJECT_ONTO):
            continue  # a projection target is not surveyed: no survey options to check on it
        shape = _fitted_shape(name, spec, workdir)
        n_samples = shape[0] if shape is not None else data_shape(spec, workdir=workdir)[0]
        try:
            resolved = options.for_data(shape) if shape is not None else options.for_samples(n_samples)
        except ValueError as error:
            kind = dataset_kind(config, (n_samples, 0))
            raise ValueError(f"config[{getattr(error, 'option', 'consensus')!r}] (data set {name!r}, {kind} "
                             f"consensus): {error}") from None
        try:
            resolved.solver_options(config.get("solver"), algorithm=config.get("algorithm"))
        except (ValueError, TypeError) as error:
            raise ValueError(f"config['solver']: {error}") from None
    check_projections(config)


def _fitted_shape(name: str, spec: Mapping, workdir: Path) -> tuple[int, int] | None:
    """(samples, genes the fit may use) of a data set entry, from its file's headers: the ranks
    are checked against it before any job runs. The genes are capped by the preset's (or the
    ``normalize`` options') ``n_top_genes``; None for a format whose shape cannot be read cheaply."""
    from ..pp import PRESET_OPTIONS

    path = spec["path"]
    if is_bundled(path):
        samples, genes = BUNDLED_SHAPES[bundled_name(path)]
    else:
        read = {k: v for k, v in dict(spec.get("read") or {}).items()
                if k in ("sep", "header", "index_col", "transpose", "genes", "var_names", "obs_names", "meta_columns")}
        try:
            samples, genes = io.read_exact_shape(workdir / path, format=spec.get("format"), **read)
        except (ValueError, OSError, KeyError) as error:
            raise ValueError(f"config['datasets'][{name!r}]['path']: {error}") from None
    normalize = dict(spec.get("normalize") or {})
    n_top = normalize.get("n_top_genes", PRESET_OPTIONS.get(spec.get("preset", "bulk"), {}).get("n_top_genes"))
    if n_top is not None:
        genes = min(genes, int(n_top))
    return samples, genes


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
