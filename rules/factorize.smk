rule factorize:
    """Runs start..stop-1 of one rank, seeded by (random_state, rank, run) alone."""
    input:
        "results/{dataset}/prepared.h5ad",
    output:
        "results/{dataset}/runs/rank_{rank}/runs_{start}-{stop}.npz",
    params:
        survey=job_params(**SOLVER),
        permutation=None,
    log:
        "logs/{dataset}/factorize/rank_{rank}_runs_{start}-{stop}.log",
    benchmark:
        "logs/{dataset}/benchmark/factorize/rank_{rank}_runs_{start}-{stop}.tsv"
    threads: factorize_threads
    resources:
        mem_mb=sized("factorize", "mem_mb"),
        runtime=sized("factorize", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/factorize.py"


rule factorize_null:
    """Runs start..stop-1 of one rank on permutation {perm} of the data (null model)."""
    input:
        "results/{dataset}/prepared.h5ad",
    output:
        "results/{dataset}/null/permutation_{perm}/rank_{rank}/runs_{start}-{stop}.npz",
    params:
        survey=job_params(**SOLVER),
        permutation=lambda wildcards: int(wildcards.perm),
    log:
        "logs/{dataset}/null/permutation_{perm}/rank_{rank}_runs_{start}-{stop}.log",
    benchmark:
        "logs/{dataset}/benchmark/null/permutation_{perm}/rank_{rank}_runs_{start}-{stop}.tsv"
    threads: factorize_threads
    resources:
        mem_mb=sized("factorize", "mem_mb"),
        runtime=sized("factorize", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/factorize.py"
