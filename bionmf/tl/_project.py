"""``tl.project``: usages of a survey's metagenes or programs in new observations."""

from __future__ import annotations

import numbers
import os
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._logging import logger
from ..core.projection import LOSSES, fit_usages
from ..io import Programs, programs_from_survey, read_programs
from .._messages import name_some, plural
from ..pp import describe_negative, describe_nonfinite, looks_logged
from ._replay import Replay

#: ``tl.project`` refuses new data in which a program would lose more than this share of its
#: loading weight to genes the new data lack (the default of ``max_missing``): with half of a
#: program gone its usage says more about which genes were measured than about the program.
MAX_MISSING = 0.5
#: Values of the new matrix handled per chunk of observations (stored values for sparse data).
CHUNK_VALUES = 1 << 22


def project(
    adata_new: ad.AnnData,
    reference: ad.AnnData | Programs | str | os.PathLike,
    *,
    key: str = "nmf",
    rank: int | None = None,
    layer: str | None = None,
    key_added: str | None = None,
    loss: str = "auto",
    normalize: bool = True,
    max_missing: float = MAX_MISSING,
    chunk_size: int | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
    copy: bool = False,
) -> ad.AnnData | None:
    """Usages of a reference's metagenes (programs) in every observation of new data.

    The reference's loadings W (genes x k) are held fixed and each new observation x gets the
    non-negative usages h minimizing the reference's objective between x and W h: least
    squares (non-negative least squares, as the component consensus refits usages) for
    references fitted with ``lee`` or ``hals``, the Kullback-Leibler divergence (Brunet's
    coefficient update with W fixed) for ``brunet`` references, whose least-squares usages
    differ from the fitted ones (correlation 0.85-0.99 on Golub). Observations are handled in
    chunks, sparse data stay sparse, so memory is bounded by the chunk and the n x k result.

    Genes are matched by name. The new data go through the reference's recorded preprocessing
    (:func:`bionmf.pp.preprocessing_steps`) with the reference's parameters: its floor and
    ceiling, its library size (``target_sum``), its per-gene standard deviations, its
    non-negativity fix; its gene selection is replaced by its genes. Steps that cannot be
    replayed (a custom step, a value step after ``scale_genes``) are an error; normalize the
    new data yourself then and pass ``normalize=False``.

    Genes of the reference missing from the new data: the usages are fitted on the shared
    genes, with a warning naming how many genes are missing and the share of each program's
    loading weight they carry. Above ``max_missing`` (default 0.5, ``MAX_MISSING``) for
    any program, or with fewer shared genes than programs, it is an error.

    Parameters
    ----------
    adata_new
        Observations (samples, cells) x genes, on the scale the reference started from (raw
        counts for a counts or singlecell reference, intensities for a bulk one) when
        ``normalize=True``. Non-negative unless the reference's preprocessing handles negative
        values (a clip, shift or posneg step, a floor >= 0); finite.
    reference
        An AnnData on which :func:`bionmf.tl.nmf` ran (survey under ``uns[key]``), the
        :class:`bionmf.io.Programs` of :func:`bionmf.io.read_programs`, or a path to a file
        written by :func:`bionmf.io.write_programs`.
    key
        ``key_added`` of the reference survey (AnnData reference only).
    rank
        A surveyed rank of the reference (its loadings are kept in ``uns[key]['basis']``);
        default the chosen one (``varm[key]``). A Programs reference holds one rank: ``rank``
        must be ``None`` or that rank.
    layer
        Use ``adata_new.layers[layer]`` instead of ``adata_new.X``.
    key_added
        Base name of the fields written; default ``f"{key}_projection"``.
    loss
        ``"auto"`` (the reference's objective: ``"kl"`` for ``brunet``, else ``"frobenius"``),
        ``"frobenius"`` or ``"kl"``.
    normalize
        Replay the reference's preprocessing on the new data (default); ``False`` uses them
        as they are (already normalized as the reference was).
    max_missing
        Largest share (0-1) of any program's loading weight that missing genes may carry.
    chunk_size
        Observations per chunk (default: about 4 million matrix values per chunk).
    max_iter, tol
        Solver limits per observation (defaults: NNLS 1000 and 1e-8, KL 5000 and 1e-7,
        relative change of the usages).
    copy
        Return a new AnnData instead of writing into ``adata_new``.

    Returns
    -------
    ``None``, or the new AnnData when ``copy=True``. Written (``key_added`` default
    ``"nmf_projection"``):

    ``obsm[key_added]``
        observations x k usages of the reference's programs.
    ``obs[f"{key_added}_cluster"]``
        the program of largest usage (categorical, categories named as the reference's
        clusters, ``'0'`` to ``'k-1'``); missing for observations with no signal in the genes
        used (usage 0 everywhere; a warning names them).
    ``uns[key_added]``
        ``kind`` (``"projection"``), ``reference`` (where the programs came from), ``key``
        (the reference's survey key), ``rank``, ``consensus``, ``algorithm``, ``programs``
        (names), ``genes_used`` and ``genes_missing`` (reference genes found / not found),
        ``lost_weight`` (share of each program's loading weight on missing genes),
        ``preprocessing`` (the value steps replayed), ``params`` (every option, the resolved
        loss), and for the plots of :mod:`bionmf.pl` (``key=key_added``): ``basis``
        (str(rank) -> new genes x k loadings, zero for genes not used), ``coefficients``
        (str(rank) -> the usages) and ``clusters`` (str(rank) -> program index, -1 without
        signal).
    """
    programs = resolve_reference(reference, key=key, rank=rank)
    if not isinstance(adata_new, ad.AnnData):
        raise TypeError(f"adata_new must be an AnnData object, got {type(adata_new).__name__}")
    if loss not in ("auto", *LOSSES):
        raise ValueError(f"loss must be 'auto', 'frobenius' or 'kl', got {loss!r}")
    loss = ("kl" if programs.algorithm == "brunet" else "frobenius") if loss == "auto" else loss
    if not isinstance(max_missing, numbers.Real) or not 0 <= max_missing < 1:
        raise ValueError(f"max_missing must be a share in [0, 1), got {max_missing!r}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral)
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    key_added = f"{programs.key}_projection" if key_added is None else key_added
    X = new_matrix(adata_new, layer)
    if not adata_new.var_names.is_unique:
        dup = adata_new.var_names[adata_new.var_names.duplicated()].unique()
        raise ValueError(f"adata_new has duplicate gene names ({name_some(dup)}); genes are matched by name: "
                         "make them unique (adata_new.var_names_make_unique())")

    replay = Replay(programs.preprocessing if normalize else [], genes=programs.genes, scale_sd=programs.scale_sd)
    names_out = replay.output_names(adata_new.var_names)
    shared = programs.genes.isin(names_out)
    check_orientation(adata_new, programs, int(shared.sum()))
    lost = missing_weight(programs, shared, max_missing)
    W = programs.loadings[shared]
    columns = names_out.get_indexer(programs.genes[shared])
    scale_sd = programs.scale_sd[shared] if programs.scale_sd is not None else None
    if "log2" in replay.replayed:
        reason = looks_logged(adata_new, X)
        if reason is not None:
            warnings.warn(f"adata_new looks log-transformed already ({reason}) and the reference's preprocessing "
                          "logs again; pass the data on the reference's starting scale, or normalize=False if "
                          "they were normalized as the reference was", UserWarning, stacklevel=2)

    n = adata_new.n_obs
    rows = chunk_rows(X, chunk_size)
    usages = np.zeros((n, programs.rank), dtype=np.float64)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        chunk = as_float_chunk(X[start:stop])
        check_chunk(chunk, adata_new, start, layer, replay, normalize)
        chunk = replay.apply(chunk, columns, scale_sd)
        values = chunk.data if sp.issparse(chunk) else chunk
        if values.size and values.min() < 0:
            raise ValueError(f"the reference's preprocessing leaves negative values in the new data "
                             f"({describe_negative(chunk, adata_new.obs_names[start:stop], programs.genes[shared])}); "
                             "NMF usages need non-negative data")
        usages[start:stop] = fit_usages(chunk, W, loss=loss, max_iter=max_iter, tol=tol)

    silent = ~(usages > 0).any(axis=1)
    clusters = np.where(silent, -1, usages.argmax(axis=1))
    if silent.any():
        warnings.warn(f"{plural(int(silent.sum()), 'observation')} ({name_some(adata_new.obs_names, silent)}) have no "
                      f"signal in the {plural(int(shared.sum()), 'gene')} used: usage 0 and no cluster",
                      UserWarning, stacklevel=2)
    logger.info("project: %s onto %d programs of %s (%s, %s of %s reference genes)", plural(n, "observation"),
                programs.rank, programs.source, loss, int(shared.sum()), len(programs.genes))

    adata = adata_new.copy() if copy else adata_new
    if adata.is_view:  # writing through a view would reach its parent; make it an object of its own
        adata._init_as_actual(adata.copy())
    k = programs.rank
    adata.obsm[key_added] = usages
    labels = np.asarray(programs.names, dtype=object)[np.maximum(clusters, 0)]
    labels[silent] = np.nan
    adata.obs[f"{key_added}_cluster"] = pd.Categorical(labels, categories=list(programs.names))
    adata.uns[key_added] = {
        "kind": "projection",
        "reference": programs.source,
        "key": programs.key,
        "rank": k,
        "consensus": programs.consensus,
        "algorithm": programs.algorithm,
        "programs": np.asarray(programs.names, dtype=str),
        "genes_used": np.asarray(programs.genes[shared], dtype=str),
        "genes_missing": np.asarray(programs.genes[~shared], dtype=str),
        "lost_weight": lost,
        "preprocessing": np.asarray(replay.replayed, dtype=str),
        "params": {
            "key": key, "rank": k, "layer": "X" if layer is None else layer, "loss": loss,
            "normalize": bool(normalize), "max_missing": float(max_missing), "chunk_size": int(rows),
            **({"max_iter": int(max_iter)} if max_iter is not None else {}),
            **({"tol": float(tol)} if tol is not None else {}),
        },
        "basis": {str(k): basis_on_genes(adata.var_names, programs, shared, replay)},
        "coefficients": {str(k): usages},
        "clusters": {str(k): clusters.astype(np.int64)},
    }
    return adata if copy else None


def resolve_reference(reference, *, key: str, rank: int | None) -> Programs:
    """The :class:`Programs` that ``reference`` (AnnData, Programs or file path) stands for."""
    if isinstance(reference, (str, os.PathLike)):
        reference = read_programs(reference)
    if isinstance(reference, Programs):
        if rank is not None and rank != reference.rank:
            raise ValueError(f"the programs of {reference.source} are of rank {reference.rank}, not {rank}; write "
                             f"rank {rank} with bionmf.io.write_programs(adata, path, rank={rank})")
        return reference
    if isinstance(reference, ad.AnnData):
        return programs_from_survey(reference, key=key, rank=rank)
    raise TypeError(f"reference must be an AnnData with a bionmf.tl.nmf survey, bionmf.io.Programs or the path of "
                    f"a programs file, got {type(reference).__name__}")


def new_matrix(adata: ad.AnnData, layer: str | None):
    if layer is None:
        X, what = adata.X, "adata_new.X"
    elif layer in adata.layers:
        X, what = adata.layers[layer], f"adata_new.layers[{layer!r}]"
    else:
        raise ValueError(f"layer {layer!r} not found; adata_new.layers has {list(adata.layers)}")
    if X is None:
        raise ValueError(f"{what} is empty; pass layer= to name the matrix to project")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric, got dtype {X.dtype}")
    if adata.n_obs == 0:
        raise ValueError(f"{what} has no observations")
    return X


def check_orientation(adata: ad.AnnData, programs: Programs, n_shared: int) -> None:
    """An error when too few reference genes are found, saying so if they are the observation names."""
    k = programs.rank
    if n_shared >= k:
        return
    in_obs = int(programs.genes.isin(adata.obs_names.astype(str)).sum())
    if in_obs > n_shared:
        raise ValueError(f"adata_new looks transposed: {in_obs} of the reference's {len(programs.genes)} genes are "
                         f"observation names and {n_shared} are gene names; AnnData holds observations x genes, "
                         "pass adata_new.T")
    raise ValueError(f"only {n_shared} of the reference's {len(programs.genes)} genes ({name_some(programs.genes)}) "
                     f"are among the genes of adata_new ({name_some(adata.var_names)}); projecting on {k} programs "
                     "needs at least as many shared genes; do the two use the same gene identifiers?")


def missing_weight(programs: Programs, shared: np.ndarray, max_missing: float) -> np.ndarray:
    """Share of each program's loading weight on the genes the new data lack; warn or raise."""
    W = programs.loadings
    lost = W[~shared].sum(axis=0) / W.sum(axis=0)
    n_missing = int((~shared).sum())
    if n_missing == 0:
        return lost
    shares = ", ".join(f"{name} {100 * s:.1f} %" for name, s in zip(programs.names, lost))
    text = (f"{plural(n_missing, 'gene')} of the reference's {len(programs.genes)} "
            f"({name_some(programs.genes, ~shared)}) are missing from adata_new, carrying this share of each "
            f"program's loading weight: {shares}")
    if (lost > max_missing).any():
        raise ValueError(f"{text}; above max_missing={max_missing:g} the usages would say more about which genes "
                         "were measured than about the programs. Check the gene identifiers, or raise max_missing")
    warnings.warn(f"{text}; usages are fitted on the {plural(int(shared.sum()), 'shared gene')}",
                  UserWarning, stacklevel=3)
    return lost


def chunk_rows(X, chunk_size: int | None) -> int:
    """Observations per chunk: ``chunk_size``, or about :data:`CHUNK_VALUES` values of X per chunk."""
    if chunk_size is not None:
        return int(chunk_size)
    n, g = X.shape
    per_row = (X.nnz / max(n, 1)) if sp.issparse(X) else g
    return int(max(1, min(n, CHUNK_VALUES // max(per_row, 1))))


def as_float_chunk(X):
    """A float64 copy of a chunk of rows (CSR when sparse), which the replay may change in place."""
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float64, copy=True)
    return np.array(X, dtype=np.float64)


def check_chunk(chunk, adata: ad.AnnData, start: int, layer: str | None, replay: Replay, normalize: bool) -> None:
    """NaN/Inf anywhere, and negative values that the reference's preprocessing does not handle, are errors."""
    values = chunk.data if sp.issparse(chunk) else chunk
    obs = adata.obs_names[start:start + chunk.shape[0]]
    what = "adata_new.X" if layer is None else f"adata_new.layers[{layer!r}]"
    if not np.isfinite(values).all():
        raise ValueError(f"{what} holds {describe_nonfinite(chunk, obs, adata.var_names)}; remove those observations "
                         "or genes (or fill the values) before projecting")
    if values.size and values.min() < 0 and not (normalize and replay.handles_negative()):
        raise ValueError(f"{what} holds {describe_negative(chunk, obs, adata.var_names)}, and the reference's "
                         "preprocessing does not make values non-negative; NMF usages need non-negative data on "
                         "the reference's scale (log-ratios or centred values cannot be projected): pass the "
                         "uncentred expression values")


def basis_on_genes(var_names: pd.Index, programs: Programs, shared: np.ndarray, replay: Replay) -> np.ndarray:
    """The used loadings over the new data's genes (zero elsewhere); split genes add both halves."""
    W = np.zeros((len(var_names), programs.rank), dtype=np.float64)
    genes = programs.genes[shared]
    if replay.split:
        genes = pd.Index([g.rsplit("_", 1)[0] for g in genes])
    np.add.at(W, var_names.astype(str).get_indexer(genes), programs.loadings[shared])
    return W
