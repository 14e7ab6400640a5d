rule plot_consensus:
    """Consensus matrix heatmap of one rank, samples ordered by the consensus tree."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        report(
            "results/{dataset}/plots/consensus_rank_{rank}.png",
            caption="../report/consensus.rst",
            category="Consensus matrices",
            subcategory="{dataset}",
            labels={"data set": "{dataset}", "rank": "{rank}"},
        ),
    params:
        key=config["key_added"],
    log:
        "logs/{dataset}/plots/consensus_rank_{rank}.log",
    benchmark:
        "logs/{dataset}/benchmark/plots/consensus_rank_{rank}.tsv"
    resources:
        mem_mb=sized("plots", "mem_mb"),
        runtime=sized("plots", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/plot_consensus.py"


rule plot_survey:
    """Rank-metric curves, all consensus matrices, and metagenes, signatures and sample clusters
    at the chosen rank."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        rank_metrics=report(
            "results/{dataset}/plots/rank_metrics.png",
            caption="../report/rank_metrics.rst",
            category="Rank selection",
            labels={"data set": "{dataset}", "output": "metric curves"},
        ),
        consensus_grid=report(
            "results/{dataset}/plots/consensus_grid.png",
            caption="../report/consensus_grid.rst",
            category="Consensus matrices",
            subcategory="{dataset}",
            labels={"data set": "{dataset}", "rank": "all"},
        ),
        metagenes=report(
            "results/{dataset}/plots/metagenes.png",
            caption="../report/metagenes.rst",
            category="Metagenes",
            labels={"data set": "{dataset}", "output": "metagene loadings"},
        ),
        signatures=report(
            "results/{dataset}/plots/signatures.png",
            caption="../report/signatures.rst",
            category="Metagenes",
            labels={"data set": "{dataset}", "output": "signature expression"},
        ),
        clusters=report(
            "results/{dataset}/plots/clusters.png",
            caption="../report/clusters.rst",
            category="Sample clusters",
            labels={"data set": "{dataset}", "output": "cluster plot"},
        ),
    params:
        key=config["key_added"],
        signatures=config["signatures"],
    log:
        "logs/{dataset}/plots/survey.log",
    benchmark:
        "logs/{dataset}/benchmark/plots/survey.tsv"
    resources:
        mem_mb=sized("plots", "mem_mb"),
        runtime=sized("plots", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/plot_survey.py"
