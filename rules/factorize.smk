rule factorize:
    """Runs start..stop-1 of one rank, seeded by (random_state, rank, run) alone."""
    input:
        "results/{dataset}/prepared.h5ad",
    output:
        "results/{dataset}/runs/rank_{rank}/runs_{start}-{stop}.npz",
    params:
        solver=SOLVER,
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
