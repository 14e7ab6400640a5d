"""The metagenes or programs of a survey as a file of their own, for projecting new data onto them.

Format (``bionmf-programs``, version 1): one HDF5 file, readable with h5py in Python or rhdf5 in R.

========================  ====================================================================
``/loadings``             float64, genes x k: the loadings W of the genes the survey was fitted
                          on (non-negative, every program with some weight)
``/genes``                UTF-8 strings, the names of the rows (unique)
``/programs``             UTF-8 strings, the k program (metagene) names: the reference's cluster
                          names, ``"0"``..``"k-1"``
``/scale_sd``             float64 per gene, only when the reference's normalization scaled genes
                          (:func:`bionmf.pp.scale_genes`): the reference's standard deviations
attribute ``format``      ``"bionmf-programs"``
attribute ``version``     1
attribute ``meta``        JSON object: ``rank``, ``consensus`` (``"samples"`` or
                          ``"components"``), ``algorithm`` (the solver the survey ran),
                          ``preprocessing`` (the steps of :func:`bionmf.pp.preprocessing_steps`),
                          ``source`` (where the programs came from), ``key`` (the survey's
                          ``key_added``), ``bionmf_version``
========================  ====================================================================

:func:`read_programs` checks all of it and names what is wrong in a damaged file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .._messages import name_some, plural
from .._survey_record import survey_rank
from ..pp import preprocessing_steps
from ._common import as_path, require_file

FORMAT = "bionmf-programs"
FORMAT_VERSION = 1
CONSENSUS_KINDS = ("samples", "components")


@dataclass(frozen=True)
class Programs:
    """The metagenes (sample consensus) or programs (component consensus) of one rank of a survey.

    What :func:`bionmf.tl.project` projects new data onto; made from a survey by
    :func:`programs_from_survey`, written by :func:`write_programs`, read by :func:`read_programs`.

    Attributes
    ----------
    loadings
        genes x k, non-negative: the loadings of the genes the survey was fitted on.
    genes
        The row names of ``loadings``.
    names
        The k program names (the reference's cluster names).
    rank
        k.
    consensus
        ``"samples"`` or ``"components"``.
    algorithm
        The solver of the survey (``"brunet"``, ``"lee"``, ``"hals"``): ``tl.project`` refits
        usages under its objective (Kullback-Leibler for ``"brunet"``, least squares otherwise).
    preprocessing
        The reference's normalization steps, replayed on new data by ``tl.project``.
    scale_sd
        Per-gene standard deviations the reference was scaled by, or ``None``.
    source
        Where the programs came from (a description of the AnnData, or the file read).
    key
        The survey's ``key_added``.
    version
        The bionmf version that wrote them.
    """

    loadings: np.ndarray
    genes: pd.Index
    names: list[str]
    rank: int
    consensus: str
    algorithm: str
    preprocessing: list[dict[str, Any]] = field(default_factory=list)
    scale_sd: np.ndarray | None = None
    source: str = ""
    key: str = "nmf"
    version: str = ""

    def __post_init__(self) -> None:
        check_programs(self, source=self.source or "Programs")


def _version() -> str:
    from .. import __version__

    return __version__


def check_programs(programs: Programs, *, source: str) -> None:
    """ValueError naming the first inconsistency of ``programs`` (``source`` names where it came from)."""
    W = programs.loadings
    if not isinstance(W, np.ndarray) or W.ndim != 2 or W.dtype.kind != "f":
        raise ValueError(f"{source}: loadings must be a 2-D float array (genes x k), got "
                         f"{getattr(W, 'shape', type(W).__name__)}")
    n_genes, k = W.shape
    if len(programs.genes) != n_genes:
        raise ValueError(f"{source}: {plural(len(programs.genes), 'gene name')} for {n_genes} rows of loadings")
    if not pd.Index(programs.genes).is_unique:
        genes = pd.Index(programs.genes)
        raise ValueError(f"{source}: duplicate gene names ({name_some(genes[genes.duplicated()].unique())})")
    if len(programs.names) != k or programs.rank != k:
        raise ValueError(f"{source}: rank {programs.rank} and {plural(len(programs.names), 'program name')} for "
                         f"{k} columns of loadings")
    if len(set(programs.names)) != k:
        raise ValueError(f"{source}: duplicate program names {list(programs.names)}")
    if not np.isfinite(W).all():
        raise ValueError(f"{source}: loadings hold NaN or infinite values")
    if (W < 0).any():
        raise ValueError(f"{source}: loadings hold negative values; NMF loadings are non-negative")
    empty = np.flatnonzero(W.sum(axis=0) <= 0)
    if empty.size:
        raise ValueError(f"{source}: programs {[programs.names[a] for a in empty]} have no weight on any gene")
    if programs.consensus not in CONSENSUS_KINDS:
        raise ValueError(f"{source}: consensus must be one of {CONSENSUS_KINDS}, got {programs.consensus!r}")
    sd = programs.scale_sd
    if sd is not None:
        if not isinstance(sd, np.ndarray) or sd.shape != (n_genes,) or not np.isfinite(sd).all() or (sd <= 0).any():
            raise ValueError(f"{source}: scale_sd must hold one positive finite value per gene ({n_genes})")
    steps = programs.preprocessing
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "step" in s for s in steps):
        raise ValueError(f"{source}: preprocessing must be a list of steps, each a dict with a 'step' name")
    if any(s["step"] == "scale_genes" for s in steps) and sd is None:
        raise ValueError(f"{source}: the preprocessing scales genes (scale_genes) but no scale_sd is stored")


def fitted_genes(adata: ad.AnnData, survey: dict, W: np.ndarray, key: str) -> np.ndarray:
    """Boolean mask of the genes the survey at ``uns[key]`` was fitted on.

    From the ``var`` column named in ``params['use_genes']`` (``"all"``: every gene). A survey
    fitted on a mask passed by hand recorded no column: for the sample consensus its loadings
    are zero outside the fit, so the genes with some loading are the fitted ones; the component
    consensus refits every gene, so there it is an error.
    """
    params = survey.get("params", {})
    use = params.get("use_genes", "all")
    if use == "all":
        genes = np.ones(adata.n_vars, dtype=bool)
    elif isinstance(use, str) and use in adata.var.columns and adata.var[use].dtype == bool:
        genes = adata.var[use].to_numpy()
    elif params.get("consensus", "samples") == "samples":
        genes = W.sum(axis=1) > 0
    else:
        raise ValueError(f"uns[{key!r}] was fitted on genes chosen by {use!r}, which adata.var does not hold; "
                         f"store the mask as a boolean var column and record its name in "
                         f"uns[{key!r}]['params']['use_genes']")
    expected = params.get("n_genes_used")
    if expected is not None and int(expected) != int(genes.sum()):
        raise ValueError(f"uns[{key!r}] was fitted on {expected} genes but var[{use!r}] marks {int(genes.sum())}; "
                         "the gene selection changed after the survey")
    return genes


def programs_from_survey(adata: ad.AnnData, *, key: str = "nmf", rank: int | None = None) -> Programs:
    """The :class:`Programs` of a :func:`bionmf.tl.nmf` survey at ``rank`` (default: the chosen one).

    Reads only what ``tl.nmf`` documents: ``varm[key]`` (the chosen rank's loadings),
    ``uns[key]['basis']`` (every rank's), ``uns[key]['params']``, ``obs[f"{key}_cluster"]``
    (the cluster names) and the preprocessing record.
    """
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, (int, np.integer))):
        raise TypeError(f"rank must be an int, got {rank!r}")
    survey, rank = survey_rank(adata, key, None if rank is None else int(rank))
    if survey.get("kind") == "projection":
        raise ValueError(f"adata.uns[{key!r}] is a projection, not a survey: pass the reference it was projected on")
    chosen = int(survey["rank"])
    source = adata.varm[key] if rank == chosen and key in adata.varm else survey["basis"][str(rank)]
    W = np.asarray(source, dtype=np.float64)
    params = survey.get("params", {})
    genes = fitted_genes(adata, survey, W, key)
    if params.get("consensus", "samples") == "samples":
        genes &= W.sum(axis=1) > 0  # a fitted gene with no loading adds nothing to any program
    names = [str(a) for a in range(rank)]
    cluster_key = f"{key}_cluster"
    if rank == chosen and cluster_key in adata.obs and hasattr(adata.obs[cluster_key], "cat"):
        categories = [str(c) for c in adata.obs[cluster_key].cat.categories]
        if len(categories) == rank:
            names = categories
    steps = preprocessing_steps(adata)
    scale_sd = None
    if any(s.get("step") == "scale_genes" for s in steps):
        if "scale_sd" not in adata.var.columns:
            raise ValueError("the preprocessing record holds scale_genes but adata.var has no 'scale_sd' column; "
                             "the reference's gene scaling cannot be replayed")
        scale_sd = adata.var["scale_sd"].to_numpy(dtype=np.float64)[genes]
    return Programs(
        loadings=np.ascontiguousarray(W[genes]),
        genes=pd.Index(adata.var_names[genes].astype(str)),
        names=names,
        rank=rank,
        consensus=str(params.get("consensus", "samples")),
        algorithm=str(params.get("algorithm", "brunet")),
        preprocessing=steps,
        scale_sd=scale_sd,
        source=f"AnnData of {adata.n_obs} x {adata.n_vars}, uns[{key!r}] rank {rank}",
        key=key,
        version=_version(),
    )


def write_programs(reference: ad.AnnData | Programs, path, *, key: str = "nmf", rank: int | None = None) -> Path:
    """Write the metagenes/programs of a survey to an HDF5 file (format in :mod:`bionmf.io._programs`).

    Parameters
    ----------
    reference
        An AnnData on which :func:`bionmf.tl.nmf` ran, or :class:`Programs`.
    path
        The file to write (``.h5`` by convention); written through a temporary file, so a failed
        write leaves nothing behind.
    key
        ``key_added`` of the survey (AnnData only).
    rank
        A surveyed rank; default the chosen one (AnnData only).

    Returns
    -------
    The path written.
    """
    import h5py

    programs = reference if isinstance(reference, Programs) else programs_from_survey(reference, key=key, rank=rank)
    path = as_path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name")
    if not path.parent.exists():
        raise FileNotFoundError(f"directory {path.parent} does not exist")
    meta = {
        "rank": int(programs.rank),
        "consensus": programs.consensus,
        "algorithm": programs.algorithm,
        "preprocessing": programs.preprocessing,
        "source": programs.source,
        "key": programs.key,
        "bionmf_version": programs.version or _version(),
    }
    strings = h5py.string_dtype("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = FORMAT_VERSION
            f.attrs["meta"] = json.dumps(meta, default=_plain)
            f.create_dataset("loadings", data=np.asarray(programs.loadings, dtype=np.float64))
            f.create_dataset("genes", data=np.asarray(programs.genes, dtype=object), dtype=strings)
            f.create_dataset("programs", data=np.asarray(programs.names, dtype=object), dtype=strings)
            if programs.scale_sd is not None:
                f.create_dataset("scale_sd", data=np.asarray(programs.scale_sd, dtype=np.float64))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in the programs file's metadata")


def read_programs(path) -> Programs:
    """Read a file written by :func:`write_programs`, checking every part of it.

    Parameters
    ----------
    path
        The ``bionmf-programs`` HDF5 file.

    Returns
    -------
    :class:`Programs` (``source`` names the file); a ValueError names what is wrong in a
    damaged or foreign file.
    """
    import h5py

    path = as_path(path)
    require_file(path)
    source = str(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{source} is not a readable HDF5 file (damaged or truncated?): {err}") from None
    try:
        with handle as f:
            if f.attrs.get("format") != FORMAT:
                raise ValueError(f"{source} is not a bionmf programs file (attribute format is "
                                 f"{f.attrs.get('format')!r}, expected {FORMAT!r}); write one with "
                                 "bionmf.io.write_programs")
            version = int(f.attrs.get("version", -1))
            if version != FORMAT_VERSION:
                raise ValueError(f"{source}: format version {version}, this bionmf reads version {FORMAT_VERSION}")
            missing = [name for name in ("loadings", "genes", "programs") if name not in f]
            if missing:
                raise ValueError(f"{source}: missing {missing}")
            try:
                meta = json.loads(f.attrs["meta"])
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{source}: the 'meta' attribute is missing or not JSON ({err})") from None
            needed = ["rank", "consensus", "algorithm", "preprocessing", "source", "key", "bionmf_version"]
            lacking = [name for name in needed if name not in meta]
            if lacking:
                raise ValueError(f"{source}: the metadata lacks {lacking}")
            loadings = np.asarray(f["loadings"][()])
            genes = pd.Index([g.decode() if isinstance(g, bytes) else str(g) for g in f["genes"][()]])
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["programs"][()]]
            scale_sd = np.asarray(f["scale_sd"][()], dtype=np.float64) if "scale_sd" in f else None
    except OSError as err:  # a file whose header reads but whose data blocks are damaged
        raise ValueError(f"{source}: damaged HDF5 data ({err})") from None
    if loadings.dtype.kind not in "biuf":
        raise ValueError(f"{source}: loadings are not numeric (dtype {loadings.dtype})")
    return Programs(
        loadings=loadings.astype(np.float64),
        genes=genes,
        names=names,
        rank=int(meta["rank"]),
        consensus=str(meta["consensus"]),
        algorithm=str(meta["algorithm"]),
        preprocessing=[dict(s) if isinstance(s, dict) else s for s in meta["preprocessing"]],
        scale_sd=scale_sd,
        source=source,
        key=str(meta["key"]),
        version=str(meta["bionmf_version"]),
    )
