"""Shared pieces of the single-cell benchmarks: gene selection, the cNMF pipeline, measurements.

cNMF (Kotliar et al. 2019, eLife 8:e43803; PyPI ``cnmf``) is imported only here and only when a
benchmark runs it; it is not a bionmf dependency.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def highly_variable_genes(adata, n_genes: int) -> np.ndarray:
    """Names of the ``n_genes`` most variable genes (scanpy's Seurat flavour on log-normalized counts)."""
    import scanpy as sc

    tmp = adata.copy()
    sc.pp.filter_genes(tmp, min_cells=3)
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    sc.pp.highly_variable_genes(tmp, n_top_genes=n_genes, flavor="seurat")
    return tmp.var_names[tmp.var["highly_variable"].to_numpy()].to_numpy()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def children_peak_rss_mb() -> float:
    """Largest peak resident memory among finished child processes (MB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def run_cnmf(counts_path: Path, genes, ranks, n_runs: int, *, workers: int, seed: int, k_consensus: int,
             workdir: Path | None = None, density_threshold: float = 0.5) -> dict:
    """The cNMF pipeline as its tutorial runs it: prepare, factorize, combine, k selection, consensus.

    ``genes``: the genes to factorize, or None for cNMF's own choice (its 2000 most overdispersed
    genes). Returns timings, the k-selection table (stability = silhouette of the spectra
    clustering, prediction error) and, for ``k_consensus``, the usages (cells x k) and the spectra
    (k x genes in TPM units, all genes).
    """
    import cnmf

    own = workdir is None
    tmp = tempfile.TemporaryDirectory() if own else None
    out = Path(tmp.name) if own else Path(workdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if genes is None:
            choice = {"num_highvar_genes": 2000}
        else:
            genes_file = out / "genes.txt"
            genes_file.write_text("\n".join(genes))
            choice = {"genes_file": str(genes_file)}
        times = {}
        start = time.perf_counter()
        obj = cnmf.cNMF(output_dir=str(out), name="bench")
        obj.prepare(counts_fn=str(counts_path), components=list(ranks), n_iter=n_runs, seed=seed,
                    beta_loss="frobenius", **choice)
        times["prepare"] = time.perf_counter() - start
        t = time.perf_counter()
        if workers > 1:
            obj.factorize_multi_process(workers)
        else:
            obj.factorize(worker_i=0, total_workers=1)
        times["factorize"] = time.perf_counter() - t
        t = time.perf_counter()
        obj.combine()
        times["combine"] = time.perf_counter() - t
        t = time.perf_counter()
        obj.k_selection_plot(close_fig=True)
        times["k_selection"] = time.perf_counter() - t
        t = time.perf_counter()
        obj.consensus(k=k_consensus, density_threshold=density_threshold, show_clustering=False)
        times["consensus"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - start
        from cnmf.cnmf import load_df_from_npz

        stats = load_df_from_npz(obj.paths["k_selection_stats"])
        thr = str(density_threshold).replace(".", "_")
        usages = load_df_from_npz(obj.paths["consensus_usages"] % (k_consensus, thr))
        spectra_tpm = load_df_from_npz(obj.paths["gene_spectra_tpm"] % (k_consensus, thr))
        return {"times": times, "stats": stats, "usages": usages, "spectra_tpm": spectra_tpm}
    finally:
        if own:
            tmp.cleanup()


def scale_genes(X) -> sp.csr_matrix:
    """Every column of a counts matrix scaled to unit variance, not centred (stays sparse)."""
    X = sp.csr_matrix(X, dtype=np.float64)
    n = X.shape[0]
    mean = np.asarray(X.mean(axis=0)).ravel()
    sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    sd = np.sqrt(np.maximum(sq - mean**2, 0.0) * n / (n - 1))
    sd[sd == 0] = 1.0
    return sp.csr_matrix(X @ sp.diags(1.0 / sd))


def run_bionmf(counts_path: Path, genes, ranks, n_runs: int, *, seed: int, n_jobs: int | None = None,
               dtype: str = "float32", **options) -> dict:
    """bionmf end to end from the counts file: read, scale the genes (as cNMF does), survey.

    All genes are scaled and kept; the survey fits ``genes`` and refits the loadings of the others.
    ``options`` go to ``tl.nmf`` (e.g. ``init``, ``stop``).
    """
    import anndata as ad

    import bionmf

    start = time.perf_counter()
    adata = ad.read_h5ad(counts_path)
    t_read = time.perf_counter() - start
    use = np.ones(adata.n_vars, dtype=bool) if genes is None else adata.var_names.isin(list(genes))
    counts = sp.csr_matrix(adata.X)
    keep = np.asarray((counts != 0).sum(axis=0)).ravel() > 0  # genes seen in no cell carry nothing
    adata = adata[:, keep].copy()
    use = use[keep]
    adata.layers["scaled"] = scale_genes(adata.X)
    # no algorithm named: the component consensus picks its solver (HALS, cNMF's start and stop)
    bionmf.tl.nmf(adata, ranks=list(ranks), n_runs=n_runs, consensus="components",
                  layer="scaled", use_genes=use, random_state=seed, n_jobs=n_jobs, solver={"dtype": dtype, **options}, verbose=False)
    total = time.perf_counter() - start
    return {"times": {"read": t_read, "total": total}, "adata": adata}


def run_bionmf_as_user(counts_path: Path, ranks, n_runs: int, *, seed: int) -> dict:
    """The scanpy user's two calls of issue 12, end to end from the counts file: ``pp.normalize``
    with the single-cell preset (its own 2000 variable genes, scaled), then ``tl.nmf`` with the
    component consensus and nothing else named (solver, start, stop and progress all defaults)."""
    import anndata as ad

    import bionmf

    start = time.perf_counter()
    adata = ad.read_h5ad(counts_path)
    t_read = time.perf_counter() - start
    bionmf.pp.normalize(adata, preset="singlecell")
    bionmf.tl.nmf(adata, ranks=list(ranks), n_runs=n_runs, consensus="components", random_state=seed)
    total = time.perf_counter() - start
    return {"times": {"read": t_read, "total": total}, "adata": adata}


def child_peak_mb() -> float:
    """Peak resident memory of this process and its finished children (MB): the larger."""
    return max(peak_rss_mb(), children_peak_rss_mb())
