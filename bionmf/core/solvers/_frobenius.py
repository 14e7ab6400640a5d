"""Frobenius-loss solvers: Lee & Seung (2001) multiplicative updates and HALS.

Both minimise ||V - W H||_F^2 with V = X^T (genes x samples) and act on a batch of runs in place.

- ``lee_steps``: H <- H * (W^T V) / (W^T W H), then W <- W * (V H^T) / (W H H^T), floored at eps.
- ``hals_steps``: hierarchical alternating least squares (Cichocki & Phan 2009, IEICE Trans.
  Fundamentals E92-A:708): each row of H, then each column of W, is set to its exact non-negative
  least-squares update with the others fixed. Converges in far fewer iterations than
  multiplicative updates, which makes it the fast choice for large data.
"""

from __future__ import annotations

import numpy as np

from ._products import gram, h_x, wt_xt


def lee_steps(X, Wt, H, active, n_steps, eps):
    """Advance the runs ``active`` by ``n_steps`` multiplicative Frobenius updates, in place."""
    Wa, Ha = Wt[active], H[active]
    for _ in range(n_steps):
        Ha *= wt_xt(X, Wa) / np.maximum(np.matmul(gram(Wa), Ha), eps)
        np.maximum(Ha, eps, out=Ha)
        Wa *= h_x(X, Ha) / np.maximum(np.matmul(gram(Ha), Wa), eps)
        np.maximum(Wa, eps, out=Wa)
    Wt[active], H[active] = Wa, Ha


def hals_steps(X, Wt, H, active, n_steps, eps):
    """Advance the runs ``active`` by ``n_steps`` HALS sweeps (H then W), in place."""
    Wa, Ha = Wt[active], H[active]
    for _ in range(n_steps):
        _hals_sweep(Ha, wt_xt(X, Wa), gram(Wa), eps)
        _hals_sweep(Wa, h_x(X, Ha), gram(Ha), eps)
    Wt[active], H[active] = Wa, Ha


def _hals_sweep(F, numer, G, eps):
    """One HALS pass over the k rows of F (b, k, d): F_a <- max(eps, F_a + (N_a - G_a F) / G_aa)."""
    k = F.shape[1]
    for a in range(k):
        correction = numer[:, a, :] - np.einsum("bl,bld->bd", G[:, a, :], F)
        diag = np.maximum(G[:, a, a], eps)[:, None]
        F[:, a, :] = np.maximum(F[:, a, :] + correction / diag, eps)
