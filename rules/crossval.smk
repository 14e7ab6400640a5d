rule crossval:
    """Held-out error of the cross-validation runs of one rank (bionmf.core.crossval)."""
    input:
        "results/{dataset}/prepared.h5ad",
    output:
        "results/{dataset}/crossval/rank_{rank}.npz",
    params:
        survey=job_params(**SELECT),
    log:
        "logs/{dataset}/crossval/rank_{rank}.log",
    benchmark:
        "logs/{dataset}/benchmark/crossval/rank_{rank}.tsv"
    threads: crossval_threads
    resources:
        mem_mb=sized("factorize", "mem_mb"),
        runtime=sized("factorize", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/crossval.py"
