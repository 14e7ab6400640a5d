"""Simulated single-cell counts from planted gene programs with known usages.

The design follows the simulations of Kotliar et al. (2019, eLife 8:e43803), themselves built on
Splatter (Zappia et al. 2017, Genome Biology 18:174): every cell has one identity program (its cell
type); some cells also use an activity program (a process shared across types) for part of their
expression. A program is a distribution over genes: a common baseline in which a few genes of its
own are raised. A cell's expected counts are its library size times the usage-weighted mix of its
programs, and the counts are negative binomial (gamma-Poisson) around them.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..core.seeding import check_random_state

#: cells generated at once: bounds the dense expected-count block to chunk x genes
_CHUNK = 10_000


def simulate_singlecell(
    *,
    n_cells: int = 3000,
    n_genes: int = 2000,
    n_identities: int = 5,
    n_activities: int = 1,
    activity_fraction: float = 0.3,
    activity_usage: tuple[float, float] = (0.1, 0.7),
    de_fraction: float = 0.05,
    de_log_fold: float = 1.5,
    de_log_fold_sd: float = 0.4,
    library_size: float = 600.0,
    library_size_sd: float = 0.3,
    dispersion: float = 0.1,
    random_state: int = 0,
) -> ad.AnnData:
    """Negative-binomial counts from ``n_identities + n_activities`` planted gene programs.

    Parameters
    ----------
    n_cells, n_genes
        Size of the counts matrix (cells x genes); cells are generated in blocks, so memory grows
        with the counts kept (sparse), not with cells x genes.
    n_identities
        Cell types; each cell belongs to one, drawn uniformly.
    n_activities
        Activity programs; each is used by a random ``activity_fraction`` of all cells (a cell
        uses at most one), with usage uniform on ``activity_usage``; the identity program takes
        the rest of the cell's expression.
    de_fraction, de_log_fold, de_log_fold_sd
        Each program raises its own ``de_fraction`` of the genes by a factor exp(N(de_log_fold,
        de_log_fold_sd)) above the common baseline (genes drawn without overlap between programs).
    library_size, library_size_sd
        Total expected counts per cell: LogNormal(log(library_size), library_size_sd).
    dispersion
        Negative-binomial dispersion phi (variance mu + phi mu^2); 0 gives Poisson counts.
    random_state
        Seed (non-negative int).

    Returns
    -------
    AnnData, cells x genes, ``X`` CSR int32 counts, with

    ``obs['identity']``
        planted cell type (categorical ``'0'`` to ``'n_identities-1'``).
    ``obs['activity']``
        activity program used (``'none'`` or ``'A0'``, ``'A1'``, ...), and ``obs['activity_usage']``
        its usage.
    ``obsm['usage_true']``
        cells x programs planted usages (identities first, then activities; rows sum to 1).
    ``varm['programs_true']``
        genes x programs planted programs (each column sums to 1).
    ``var['program_of']``
        program whose raised gene it is (``'-'`` for baseline genes).
    ``uns['simulation']``
        every parameter, the planted ``rank`` (number of programs) and program names.
    """
    random_state = check_random_state(random_state)
    n_programs = n_identities + n_activities
    _check(n_cells >= 1 and n_genes >= 1, f"n_cells and n_genes must be positive, got {n_cells}, {n_genes}")
    _check(n_identities >= 1, f"n_identities must be >= 1, got {n_identities}")
    _check(n_activities >= 0, f"n_activities must be >= 0, got {n_activities}")
    _check(0 <= activity_fraction and activity_fraction * n_activities <= 1,
           f"activity_fraction x n_activities must lie in [0, 1], got {activity_fraction} x {n_activities}")
    lo, hi = activity_usage
    _check(0 <= lo <= hi < 1, f"activity_usage must be (low, high) with 0 <= low <= high < 1, got {activity_usage}")
    n_de = int(round(de_fraction * n_genes))
    _check(n_de >= 1 and n_de * n_programs <= n_genes,
           f"de_fraction={de_fraction} gives {n_de} raised genes per program; need 1 to {n_genes // n_programs}")
    _check(dispersion >= 0, f"dispersion must be >= 0, got {dispersion}")
    _check(library_size > 0, f"library_size must be positive, got {library_size}")

    rng = np.random.default_rng(np.random.SeedSequence([random_state, 7]))
    # baseline: skewed like real expression (few genes take most counts), floored so that no gene is
    # silent in every cell
    baseline = rng.gamma(0.2, 1.0, size=n_genes) + 0.01
    de_genes = rng.permutation(n_genes)[: n_de * n_programs].reshape(n_programs, n_de)
    programs = np.tile(baseline, (n_programs, 1))
    program_of = np.full(n_genes, "-", dtype=object)
    names = [f"I{a}" for a in range(n_identities)] + [f"A{a}" for a in range(n_activities)]
    for p in range(n_programs):
        programs[p, de_genes[p]] *= np.exp(rng.normal(de_log_fold, de_log_fold_sd, size=n_de))
        program_of[de_genes[p]] = names[p]
    programs /= programs.sum(axis=1, keepdims=True)

    identity = rng.integers(n_identities, size=n_cells)
    activity = np.full(n_cells, -1)
    if n_activities:
        order = rng.permutation(n_cells)
        per = int(round(activity_fraction * n_cells))
        for a in range(n_activities):
            activity[order[a * per : (a + 1) * per]] = a
    usage_act = np.where(activity >= 0, rng.uniform(lo, hi, size=n_cells), 0.0)
    usage = np.zeros((n_cells, n_programs))
    usage[np.arange(n_cells), identity] = 1.0 - usage_act
    has = activity >= 0
    usage[np.flatnonzero(has), n_identities + activity[has]] = usage_act[has]
    library = rng.lognormal(np.log(library_size), library_size_sd, size=n_cells)

    blocks = []
    for start in range(0, n_cells, _CHUNK):
        stop = min(start + _CHUNK, n_cells)
        mu = (library[start:stop, None] * usage[start:stop]) @ programs
        if dispersion > 0:
            mu = rng.gamma(1.0 / dispersion, mu * dispersion)
        blocks.append(sp.csr_matrix(rng.poisson(mu).astype(np.int32)))
        del mu
    X = sp.vstack(blocks, format="csr")

    obs = pd.DataFrame(
        {
            "identity": pd.Categorical([str(c) for c in identity], categories=[str(c) for c in range(n_identities)]),
            "activity": pd.Categorical(
                ["none" if a < 0 else f"A{a}" for a in activity], categories=["none"] + names[n_identities:]
            ),
            "activity_usage": usage_act,
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame({"program_of": pd.Categorical(program_of)}, index=[f"gene{g}" for g in range(n_genes)])
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.obsm["usage_true"] = usage
    adata.varm["programs_true"] = programs.T
    adata.uns["simulation"] = {
        "mode": "singlecell",
        "rank": n_programs,
        "programs": names,
        "n_cells": n_cells,
        "n_genes": n_genes,
        "n_identities": n_identities,
        "n_activities": n_activities,
        "activity_fraction": activity_fraction,
        "activity_usage": [float(lo), float(hi)],
        "de_fraction": de_fraction,
        "de_log_fold": de_log_fold,
        "de_log_fold_sd": de_log_fold_sd,
        "library_size": library_size,
        "library_size_sd": library_size_sd,
        "dispersion": dispersion,
        "random_state": random_state,
    }
    return adata


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
