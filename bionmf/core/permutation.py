"""Permuted data for the null model of rank choice (Frigyesi & Hoglund 2008, Cancer Inform. 6:275).

Permuting each gene's values across samples keeps every gene's distribution but destroys the
co-expression that metagenes capture; a rank survey of such data shows how stable and how well
fitting each rank looks when there is no structure, and the real survey's metrics are read
against it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .seeding import check_random_state

# second word of a permutation's seed; far above any rank, so no permutation seed equals a run seed
PERMUTATION_CODE = int.from_bytes(b"perm", "big")


def permutation_seed(random_state: int, permutation: int) -> np.random.SeedSequence:
    """The seed sequence of permutation ``permutation`` (0, 1, ...)."""
    return np.random.SeedSequence([check_random_state(random_state), PERMUTATION_CODE, int(permutation)])


def permute_within_genes(X, seed: np.random.SeedSequence):
    """X (samples x genes) with each gene's column shuffled across samples independently.

    Dense input gives a C-ordered array, sparse input a CSR matrix, both of X's dtype.
    """
    rng = np.random.default_rng(seed)
    if not sp.issparse(X):
        return np.ascontiguousarray(rng.permuted(np.asarray(X), axis=0))
    csc = sp.csc_matrix(X)
    csc.sum_duplicates()
    n = csc.shape[0]
    indices = np.empty_like(csc.indices)
    data = np.empty_like(csc.data)
    for j in range(csc.shape[1]):
        lo, hi = csc.indptr[j], csc.indptr[j + 1]
        # moving the stored entries to m distinct random rows permutes the whole column
        rows = rng.choice(n, size=hi - lo, replace=False)
        order = np.argsort(rows)
        indices[lo:hi] = rows[order]
        data[lo:hi] = csc.data[lo:hi][order]
    out = sp.csc_matrix((data, indices, csc.indptr.copy()), shape=csc.shape)
    return out.tocsr()
