"""The jobs of the workflow: the survey a job works on, its inputs and outputs, its log.

Every rule script reads its inputs, calls one stage of :class:`bionmf.tl.Survey` (or one function
here) and writes its outputs, so the workflow computes what :func:`bionmf.tl.nmf` computes.
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .._atomic import atomic_file
from .._logging import logger
from .._matrix import class_column
from ..core import ConsensusKind, RankRuns, RankSummary
from ..tl import Survey
from .config import survey_options


class DamagedFile(ValueError):
    """An intermediate file of the workflow that cannot be read; it has been removed."""


def load_checked(path: str | Path, load: Callable):
    """``load(path)``, or, when the file is damaged (truncated, overwritten, half-copied), a
    :class:`DamagedFile` error naming it, after removing it: Snakemake then sees the file missing
    and the same command, run again, recomputes it with the job that writes it.

    Every intermediate (runs, summaries, the prepared data, the rank choice) is read through here.
    """
    path = Path(path)
    try:
        return load(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, TypeError) as error:
        detail = f"{type(error).__name__}: {str(error)[:200]}"
        try:
            path.unlink()
            action = "removed it, so that running the same snakemake command again recomputes it"
        except OSError as unlink_error:
            action = f"could not remove it ({unlink_error}); delete it and run the same snakemake command again"
        logger.error("damaged intermediate file %s (%s); %s", path, detail, action)
        raise DamagedFile(f"intermediate file {path} is damaged ({detail}); {action}") from None


def read_intermediate(path: str | Path) -> ad.AnnData:
    """An h5ad file the workflow wrote (see :func:`load_checked`)."""
    return load_checked(path, ad.read_h5ad)


def job_survey(prepared: ad.AnnData | str | Path, params: Mapping) -> Survey:
    """The survey of a job: the prepared data set and the config entries in the rule's ``params``.

    ``params`` holds the survey keys the job depends on (see :data:`bionmf.workflow.config.SURVEY_KEYS`;
    ``consensus`` already resolved for the data set), ``algorithm`` and ``solver``.
    """
    adata = prepared if isinstance(prepared, ad.AnnData) else read_intermediate(prepared)
    return Survey(adata, options=survey_options(params), solver=params.get("solver"),
                  algorithm=params.get("algorithm"))


def load_runs(paths: Iterable[str | Path]) -> list[RankRuns]:
    """Chunks of runs written by the factorize rules (see :func:`load_checked`)."""
    return [load_checked(p, RankRuns.load) for p in paths]


def load_summaries(paths: Iterable[str | Path], kind: ConsensusKind) -> list[RankSummary]:
    """Summaries written by ``kind.save_summary`` (see :func:`load_checked`)."""
    return [load_checked(p, kind.load_summary) for p in paths]


def load_null(paths: Sequence[str | Path], permutations: Sequence[int], kind: ConsensusKind) -> pd.DataFrame | None:
    """The null model's metrics (:meth:`bionmf.tl.Survey.null_metrics`) from the summary of each
    (permutation, rank); ``permutations`` names the permutation of each file."""
    return Survey.null_metrics(zip(permutations, load_summaries(paths, kind)))


def load_crossval_runs(paths: Iterable[str | Path]) -> list:
    """Cross-validation runs written by the ``crossval`` rule (:func:`bionmf.core.crossval.save_cv_runs`)."""
    from ..core.crossval import load_cv_runs as load

    return [load_checked(p, load) for p in paths]


def load_crossval(survey: Survey, paths: Iterable[str | Path]) -> pd.DataFrame | None:
    """The held-out error table (:meth:`bionmf.tl.Survey.crossval_table`) of the ``crossval``
    rule's files; None when the survey is not cross-validated."""
    runs = load_crossval_runs(paths)
    return survey.crossval_table(runs) if runs else None


def job_classes(adata: ad.AnnData, classes: str | None) -> pd.Series | None:
    """The obs column of known classes named in the data set's config (checked), or None."""
    return None if classes is None else class_column(adata, classes)


def load_choice(path: str | Path) -> dict:
    """The rank choice written by the ``select`` rule (:meth:`bionmf.tl.Survey.choose`)."""
    return load_checked(path, lambda p: json.loads(p.read_text()))


def consensus_frame(summary: RankSummary, samples: Sequence[str]) -> pd.DataFrame:
    """The consensus matrix as a samples x samples table."""
    return pd.DataFrame(summary.consensus, index=pd.Index(samples), columns=pd.Index(samples))


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


def sharing_matrices(adata: ad.AnnData) -> ad.AnnData:
    """A new AnnData that shares ``adata``'s matrices (X, layers, obsm, varm arrays) and holds
    copies of its annotations (obs, var, and the mapping ``uns``, not its values).

    The output functions write a tool's results into an AnnData they then read and drop; with
    this one instead of ``adata.copy()`` (``copy=True``) they never copy X, which at a million
    cells is gigabytes. The tools only add entries, so ``adata`` is left as it was.
    """
    return ad.AnnData(X=adata.X, obs=adata.obs.copy(), var=adata.var.copy(), uns=dict(adata.uns),
                      obsm=dict(adata.obsm), varm=dict(adata.varm), layers=dict(adata.layers))


def signature_sets(
    adata: ad.AnnData, *, rank: int, options: Mapping, key: str = "nmf"
) -> tuple[pd.DataFrame, dict[str, list[str]], dict[str, str]]:
    """Signature genes of every metagene at ``rank`` (:func:`bionmf.tl.signatures`).

    Returns the table (one row per metagene and gene), the gene sets and their GMT descriptions.
    """
    from ..tl import signatures

    result = sharing_matrices(adata)
    signatures(result, rank=rank, key=key, **dict(options))
    entry = result.uns[f"{key}_signatures"]
    gene_sets = {name: [str(g) for g in genes] for name, genes in entry["gene_sets"].items()}
    descriptions = {name: str(text) for name, text in dict(entry.get("descriptions", {})).items()}
    return entry["table"], gene_sets, descriptions


def write_tsv(frame: pd.DataFrame, path: str | Path) -> None:
    """Tab-separated, index included; the file appears whole or not at all."""
    with atomic_file(path, "w") as file:
        frame.to_csv(file, sep="\t")


def write_json(data: Mapping, path: str | Path) -> None:
    with atomic_file(path, "w") as file:
        file.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


#: the line :func:`job_log` ends every job's log with; benchmarks/singlecell_1m.py reads it
USAGE_LINE = "job usage: CPU %.2f s, peak RSS %.1f MB"


def _log_usage() -> None:
    """The job process's CPU time (user + system, since it started) and its peak resident memory,
    exact from the kernel (Snakemake's ``benchmark:`` files sample both every 30 s). Linux units:
    ``ru_maxrss`` is in KiB there."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    logger.info(USAGE_LINE, cpu, max(usage.ru_maxrss, children.ru_maxrss) / 1024.0)


@contextmanager
def job_log(path: str | Path | None, *, threads: int = 1) -> Iterator[logging.Logger]:
    """Run a rule's body: its ``bionmf`` log, warnings and any error's traceback go to ``path``,
    and BLAS and numba use ``threads`` threads (the rule's ``threads``), no more. The log ends
    with the job's CPU time and peak memory (``USAGE_LINE``).
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
        _log_usage()
        numba.set_num_threads(previous_threads)
        logging.captureWarnings(False)
        logger.setLevel(previous_level)
        for log in loggers:
            log.removeHandler(handler)
        handler.close()
