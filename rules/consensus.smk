rule consensus:
    """Merge a rank's runs: consensus matrix, consensus clusters and the rank's metrics."""
    input:
        prepared="results/{dataset}/prepared.h5ad",
        chunks=chunk_files,
    output:
        runs="results/{dataset}/rank_{rank}/runs.npz",
        summary="results/{dataset}/rank_{rank}/summary.npz",
        consensus="results/{dataset}/rank_{rank}/consensus.tsv",
    params:
        survey=job_params(**SOLVER, n_runs=config["n_runs"]),
    log:
        "logs/{dataset}/consensus/rank_{rank}.log",
    benchmark:
        "logs/{dataset}/benchmark/consensus/rank_{rank}.tsv"
    threads: 1
    resources:
        mem_mb=sized("consensus", "mem_mb"),
        runtime=sized("consensus", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/consensus.py"


rule components:
    """Component consensus of a rank's runs (Kotliar et al. 2019): programs, usages and metrics."""
    input:
        prepared="results/{dataset}/prepared.h5ad",
        chunks=chunk_files,
    output:
        summary="results/{dataset}/rank_{rank}/components.npz",
    params:
        survey=job_params(**SOLVER, n_runs=config["n_runs"], density_threshold=config["density_threshold"]),
    log:
        "logs/{dataset}/components/rank_{rank}.log",
    benchmark:
        "logs/{dataset}/benchmark/components/rank_{rank}.tsv"
    threads: 1
    resources:
        mem_mb=sized("consensus", "mem_mb"),
        runtime=sized("consensus", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/components.py"


rule consensus_null:
    """Metrics of one rank of permutation {perm} of the data (null model)."""
    input:
        prepared="results/{dataset}/prepared.h5ad",
        chunks=null_chunk_files,
    output:
        summary="results/{dataset}/null/permutation_{perm}/rank_{rank}/summary.npz",
    params:
        survey=job_params(**SOLVER, n_runs=config["n_runs"]),
        permutation=lambda wildcards: int(wildcards.perm),
    log:
        "logs/{dataset}/null/permutation_{perm}/consensus_rank_{rank}.log",
    benchmark:
        "logs/{dataset}/benchmark/null/permutation_{perm}/consensus_rank_{rank}.tsv"
    threads: 1
    resources:
        mem_mb=sized("consensus", "mem_mb"),
        runtime=sized("consensus", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/consensus_null.py"
