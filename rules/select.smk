rule select:
    """Metrics of every rank in one table, and the rank the rank rule chooses."""
    input:
        prepared="results/{dataset}/prepared.h5ad",
        summaries=rank_summaries,
        null=null_summaries,
        crossval=crossval_files,
    output:
        table=report(
            "results/{dataset}/rank_metrics.tsv",
            caption="../report/rank_metrics_table.rst",
            category="Rank selection",
            labels={"data set": "{dataset}", "output": "metrics table"},
        ),
        choice="results/{dataset}/rank_choice.json",
    params:
        survey=job_params(**SELECT),
        null_index=NULL_INDEX,
        classes=dataset_classes,
    log:
        "logs/{dataset}/select.log",
    benchmark:
        "logs/{dataset}/benchmark/select.tsv"
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/select.py"


rule annotate:
    """The prepared AnnData with everything bionmf.tl.nmf writes (obsm, varm, obs, uns)."""
    input:
        prepared="results/{dataset}/prepared.h5ad",
        runs=rank_runs,
        summaries=rank_summaries,
        null=null_summaries,
        crossval=crossval_files,
        choice="results/{dataset}/rank_choice.json",
    output:
        "results/{dataset}/bionmf.h5ad",
    params:
        survey=job_params(**SELECT),
        key=config["key_added"],
        null_index=NULL_INDEX,
        classes=dataset_classes,
    log:
        "logs/{dataset}/annotate.log",
    benchmark:
        "logs/{dataset}/benchmark/annotate.tsv"
    resources:
        mem_mb=sized("annotate", "mem_mb"),
        runtime=sized("annotate", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/annotate.py"


rule clusters:
    """Consensus cluster of every sample at every rank, beside the sample annotation."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        report(
            "results/{dataset}/clusters.tsv",
            caption="../report/clusters_table.rst",
            category="Sample clusters",
            labels={"data set": "{dataset}", "output": "cluster table"},
        ),
    params:
        key=config["key_added"],
    log:
        "logs/{dataset}/clusters.log",
    benchmark:
        "logs/{dataset}/benchmark/clusters.tsv"
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/clusters.py"
