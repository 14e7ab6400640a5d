"""Simulated bulk expression data with planted sample groups, for testing rank selection."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from ..core.seeding import check_random_state


def simulate(
    *,
    n_samples: int = 60,
    n_genes: int = 1000,
    rank: int = 3,
    markers_per_group: int = 50,
    fold_change: float = 3.0,
    noise: float = 0.5,
    mixing: float = 0.0,
    random_state: int = 0,
) -> ad.AnnData:
    """Bulk expression with ``rank`` planted sample groups, each driven by its own marker genes.

    Each gene has a baseline level b_g ~ LogNormal(log 100, 1). Group a has ``markers_per_group``
    marker genes of its own, expressed ``fold_change`` times higher in the group's samples. A
    sample's mean profile is its group's profile; with ``mixing`` > 0 it also takes that share of a
    random other group's profile (samples between groups). The observed value is the mean times
    LogNormal(0, ``noise``) noise. Samples are split among the groups as evenly as possible.

    The difficulty grows with ``noise`` and ``mixing`` and shrinks with ``fold_change`` and
    ``markers_per_group``.

    Returns
    -------
    AnnData, samples x genes, with

    ``obs['group']``
        planted group of each sample (categorical ``'0'`` to ``'rank-1'``).
    ``var['marker_of']``
        group a gene marks (``'-'`` for genes that mark none).
    ``uns['simulation']``
        every parameter, including the planted ``rank``.
    """
    random_state = check_random_state(random_state)
    if rank < 2:
        raise ValueError(f"rank must be >= 2, got {rank}")
    if n_samples < rank:
        raise ValueError(f"n_samples ({n_samples}) must be at least rank ({rank})")
    if rank * markers_per_group > n_genes:
        raise ValueError(
            f"rank x markers_per_group = {rank * markers_per_group} exceeds n_genes = {n_genes}"
        )
    if not 0.0 <= mixing < 0.5:
        raise ValueError(f"mixing must be in [0, 0.5), got {mixing}")
    rng = np.random.default_rng(np.random.SeedSequence([random_state, 0x51_4D]))

    baseline = rng.lognormal(mean=np.log(100.0), sigma=1.0, size=n_genes)
    profiles = np.tile(baseline, (rank, 1))
    marker_of = np.full(n_genes, "-", dtype=object)
    genes = rng.permutation(n_genes)[: rank * markers_per_group].reshape(rank, markers_per_group)
    for a in range(rank):
        profiles[a, genes[a]] *= fold_change
        marker_of[genes[a]] = str(a)

    group = rng.permutation(np.arange(n_samples) % rank)
    means = profiles[group]
    if mixing > 0:
        other = (group + rng.integers(1, rank, size=n_samples)) % rank
        means = (1.0 - mixing) * means + mixing * profiles[other]
    X = means * rng.lognormal(mean=0.0, sigma=noise, size=means.shape)

    obs = pd.DataFrame(
        {"group": pd.Categorical(group.astype(str), categories=[str(a) for a in range(rank)])},
        index=[f"sample_{i}" for i in range(n_samples)],
    )
    var = pd.DataFrame({"marker_of": pd.Categorical(marker_of)}, index=[f"gene_{g}" for g in range(n_genes)])
    params = dict(
        n_samples=n_samples, n_genes=n_genes, rank=rank, markers_per_group=markers_per_group,
        fold_change=fold_change, noise=noise, mixing=mixing, random_state=random_state,
    )
    return ad.AnnData(X=X, obs=obs, var=var, uns={"simulation": params})
