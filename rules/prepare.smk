rule prepare:
    """Read a data set and normalize it with its preset (bionmf.io.read, bionmf.pp.normalize)."""
    input:
        unpack(dataset_inputs),
    output:
        "results/{dataset}/prepared.h5ad",
    params:
        spec=lambda wildcards: DATASETS[wildcards.dataset],
    log:
        "logs/{dataset}/prepare.log",
    benchmark:
        "logs/{dataset}/benchmark/prepare.tsv"
    threads: 1
    resources:
        mem_mb=sized("prepare", "mem_mb"),
        runtime=sized("prepare", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/prepare.py"
