"""The component consensus again, from kept run spectra, with another outlier threshold.

cNMF users look at the histogram of the spectra's local density, then choose the threshold
(Kotliar et al. 2019, eLife 8:e43803). The threshold only enters after the runs: from the runs'
spectra (``run_rank(..., keep_spectra=True)``) and the data matrix the consensus programs, usages,
clusters and figures of a rank follow without any new factorization, by the same steps as
``bionmf.core.components.consensus_programs`` and the usage refit of the survey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .components import (
    LOCAL_NEIGHBORHOOD,
    consensus_programs,
    local_density,
    normalize_spectra,
)
from .linalg import reconstruction_error, refit_usages, squared_norm


@dataclass
class Rethresholded:
    """Consensus programs of one rank at one density threshold.

    Attributes
    ----------
    rank : k
    density_threshold : the threshold applied
    programs : (k, genes) consensus programs (each summing to 1), ordered by total usage
    usages : (n, k) usages refit with the programs fixed
    clusters : (n,) program of largest usage per sample
    spectra_labels : (runs * k,) program of each run's spectrum, -1 for outliers
    density : (runs * k,) local density of each spectrum (does not depend on the threshold)
    metrics : ``stability``, ``error``, ``evar``, ``n_spectra_kept``, as the survey computes them
    """

    rank: int
    density_threshold: float
    programs: np.ndarray
    usages: np.ndarray
    clusters: np.ndarray
    spectra_labels: np.ndarray
    density: np.ndarray
    metrics: dict


def spectra_density(spectra: np.ndarray, *, local_neighborhood: float = LOCAL_NEIGHBORHOOD) -> np.ndarray:
    """Local density of every kept spectrum ((runs, k, genes) -> (runs * k,)): the values whose
    histogram a threshold is chosen from (mean distance of each unit spectrum to its nearest
    ``local_neighborhood`` x runs neighbours)."""
    spectra = np.asarray(spectra)
    if spectra.ndim != 3:
        raise ValueError(f"spectra must be (runs, k, genes), got shape {spectra.shape}")
    runs, k, _ = spectra.shape
    unit = normalize_spectra(spectra.reshape(runs * k, -1))
    return local_density(unit, min(max(int(local_neighborhood * runs), 1), unit.shape[0] - 1))


def rethreshold_spectra(
    X,
    spectra: np.ndarray,
    *,
    density_threshold: float,
    local_neighborhood: float = LOCAL_NEIGHBORHOOD,
    random_state: int = 0,
) -> Rethresholded:
    """Consensus programs of one rank from its kept spectra, outliers dropped at ``density_threshold``.

    ``X`` is the samples x genes matrix the runs were fitted on (the fitted genes only, in any
    layout the survey accepts); ``spectra`` the (runs, k, genes) spectra the survey kept;
    ``random_state`` the survey's (it seeds the k-means). The result is what the survey would
    have computed with this threshold: same programs, usages, clusters and figures.
    """
    spectra = np.asarray(spectra)
    if spectra.ndim != 3:
        raise ValueError(f"spectra must be (runs, k, genes), got shape {spectra.shape}")
    if spectra.shape[2] != X.shape[1]:
        raise ValueError(f"the spectra cover {spectra.shape[2]} genes but X has {X.shape[1]}; give the matrix "
                         "of the fitted genes")
    k = spectra.shape[1]
    found = consensus_programs(spectra, density_threshold=density_threshold, local_neighborhood=local_neighborhood,
                               random_state=random_state)
    usages = refit_usages(X, found.programs)
    # the survey's convention: program 0 is the one the samples use most in total
    order = np.argsort(-usages.sum(axis=0), kind="stable")
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    labels = found.spectra_labels
    usages = np.ascontiguousarray(usages[:, order])
    programs = found.programs[order]
    error = reconstruction_error(X, usages, programs)
    return Rethresholded(
        rank=k,
        density_threshold=float(density_threshold),
        programs=programs,
        usages=usages,
        clusters=usages.argmax(axis=1),
        spectra_labels=np.where(labels >= 0, relabel[np.maximum(labels, 0)], -1),
        density=found.density,
        metrics={
            "stability": found.stability,
            "error": error,
            "evar": 1.0 - error / squared_norm(X),
            "n_spectra_kept": int(found.n_kept),
        },
    )
