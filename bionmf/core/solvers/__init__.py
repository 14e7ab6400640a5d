"""NMF solvers: pure functions of arrays that advance a batch of seeded runs of one rank."""

from ._driver import BatchResult, factorize_batch, objective, prepare_matrix, runs_alone
from ._options import ALGORITHMS, STOP_RULES, SolverOptions

__all__ = ["ALGORITHMS", "STOP_RULES", "BatchResult", "SolverOptions", "factorize_batch", "objective", "prepare_matrix", "runs_alone"]
