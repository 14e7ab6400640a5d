"""Replaying a reference's recorded preprocessing on new observations, one chunk of rows at a time.

Value steps are replayed with the reference's parameters (its floor and ceiling, its library
size, its gene standard deviations), so a new observation lands on the scale the programs were
fitted on whatever else is in the new data set. Gene-selection steps are not replayed: the
reference's genes are used instead. Library sizes are summed over all genes of the new data, as
the reference summed over all of its genes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

# Steps that choose genes (the reference's choice is used instead) or only check the data (the
# new data are checked by tl.project itself: finite, non-negative where the steps need it).
SELECTION_STEPS = frozenset({"remove_empty", "filter_variation", "select_genes", "highly_variable_genes"})
NO_VALUE_STEPS = SELECTION_STEPS | {"normalize", "handle_nonfinite", "validate"}
KNOWN_VALUE_STEPS = frozenset({"threshold", "make_nonnegative", "normalize_library", "log1p", "log2", "scale_genes"})


@dataclass(frozen=True)
class Op:
    name: str
    a: float | None = None
    b: float | None = None


class Replay:
    """The value operations of a preprocessing record, ready to apply to chunks of observations.

    Raises a ValueError naming the step when a record cannot be replayed.
    """

    def __init__(self, steps: list[dict], *, genes: pd.Index, scale_sd: np.ndarray | None):
        self.steps = [s["step"] for s in steps]
        ops: list[Op] = []
        unknown = [s["step"] for s in steps if s["step"] not in NO_VALUE_STEPS | KNOWN_VALUE_STEPS]
        if unknown:
            raise ValueError(f"cannot replay the reference's preprocessing step {unknown[0]!r}; normalize the new "
                             "data as the reference was and pass normalize=False")
        for s in steps:
            name = s["step"]
            if name in NO_VALUE_STEPS:
                continue
            if ops and ops[-1].name == "scale":
                raise ValueError(f"cannot replay the reference's preprocessing: {name!r} comes after scale_genes, "
                                 "whose per-gene factors are known only for the reference's genes; normalize the "
                                 "new data as the reference was and pass normalize=False")
            if name == "threshold":
                ops.append(Op("threshold", s.get("floor"), s.get("ceiling")))
            elif name == "make_nonnegative":
                method = s.get("method")
                if method == "clip":
                    ops.append(Op("clip"))
                elif method == "shift" and s.get("n_negative", 0) > 0:
                    ops.append(Op("shift", float(s["shift"])))
                elif method == "posneg" and s.get("n_negative", 0) > 0:
                    ops.append(Op("posneg"))
                elif method not in ("shift", "posneg"):
                    raise ValueError(f"cannot replay make_nonnegative(method={method!r}) of the reference")
            elif name == "normalize_library":
                if "target_sum" not in s:
                    raise ValueError("cannot replay the reference's normalize_library: its target_sum is not recorded")
                ops.append(Op("library", float(s["target_sum"])))
            elif name == "log1p":
                ops.append(Op("log2", 1.0, np.e))  # ln(1 + x): pseudocount 1, base e
            elif name == "log2":
                ops.append(Op("log2", float(s.get("pseudocount", 1.0)), 2.0))
            elif name == "scale_genes":
                if scale_sd is None:
                    raise ValueError("cannot replay the reference's scale_genes: its gene standard deviations are "
                                     "not stored")
                ops.append(Op("scale"))
            else:
                raise ValueError(f"cannot replay the reference's preprocessing step {name!r}; normalize the new "
                                 "data as the reference was and pass normalize=False")
        self.ops = ops
        self.genes = pd.Index(genes)
        self.scale_sd = scale_sd
        self.split = any(op.name == "posneg" for op in ops)

    @property
    def replayed(self) -> list[str]:
        return [op.name for op in self.ops]

    def handles_negative(self) -> bool:
        """Whether the replay makes negative input values non-negative before anything needs them so."""
        for op in self.ops:
            if op.name in ("clip", "posneg", "shift"):
                return True
            if op.name == "threshold":
                return op.a is not None and op.a >= 0
            return False
        return False

    def output_names(self, var_names: pd.Index) -> pd.Index:
        """The gene names after the replay (``g_pos``, ``g_neg`` per gene when the reference split them)."""
        if not self.split:
            return pd.Index(var_names.astype(str))
        return pd.Index([f"{g}_{part}" for g in var_names.astype(str) for part in ("pos", "neg")])

    def apply(self, X, columns: np.ndarray, scale_sd: np.ndarray | None):
        """Replay on chunk ``X`` (rows x all new genes, float64, dense or CSR) and keep ``columns``
        (positions among :meth:`output_names`); ``scale_sd`` are the factors of those columns."""
        for op in self.ops:
            if op.name == "threshold":
                if sp.issparse(X) and op.a is not None and op.a > 0:
                    X = X.toarray()  # the floor fills the zeros; the chunk is small enough to hold dense
                values = X.data if sp.issparse(X) else X
                np.clip(values, op.a, op.b, out=values)
            elif op.name == "clip":
                values = X.data if sp.issparse(X) else X
                np.maximum(values, 0.0, out=values)
            elif op.name == "shift":
                X = (X.toarray() if sp.issparse(X) else X) + op.a
            elif op.name == "posneg":
                pos = X.maximum(0) if sp.issparse(X) else np.maximum(X, 0.0)
                neg = (-X).maximum(0) if sp.issparse(X) else np.maximum(-X, 0.0)
                order = np.argsort(np.r_[np.arange(X.shape[1]) * 2, np.arange(X.shape[1]) * 2 + 1], kind="stable")
                X = sp.hstack([pos, neg], format="csr")[:, order] if sp.issparse(X) else np.hstack([pos, neg])[:, order]
            elif op.name == "library":
                totals = np.asarray(X.sum(axis=1)).ravel()
                factors = np.divide(op.a, totals, out=np.zeros_like(totals), where=totals > 0)
                X = sp.csr_matrix(X.multiply(factors[:, None])) if sp.issparse(X) else X * factors[:, None]
            elif op.name == "log2":
                pseudocount, base = op.a, op.b
                if sp.issparse(X) and pseudocount != 1.0:
                    X = X.toarray()
                values = X.data if sp.issparse(X) else X
                if pseudocount == 1.0:
                    np.log1p(values, out=values)
                else:
                    values += pseudocount
                    np.log(values, out=values)
                values /= np.log(base)
        X = X[:, columns]
        if self.ops and self.ops[-1].name == "scale":
            X = sp.csr_matrix(X.multiply(1.0 / scale_sd[None, :])) if sp.issparse(X) else X / scale_sd[None, :]
        return X
