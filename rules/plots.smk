rule consensus_plots:
    """Consensus heatmap of every rank and all consensus matrices side by side (bionmf.pl); sample
    consensus only (a component consensus has no samples x samples matrices)."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        consensus=per_rank_report(
            "results/{{dataset}}/plots/consensus_rank_{rank}.png",
            caption="../report/consensus.rst",
            category="Consensus matrices",
            output="consensus heatmap",
        ),
        consensus_grid=report(
            "results/{dataset}/plots/consensus_grid.png",
            caption="../report/consensus_grid.rst",
            category="Consensus matrices",
            subcategory="{dataset}",
            labels={"data set": "{dataset}", "rank": "all"},
        ),
    params:
        key=config["key_added"],
        ranks=RANKS,
    log:
        "logs/{dataset}/consensus_plots.log",
    benchmark:
        "logs/{dataset}/benchmark/consensus_plots.tsv"
    resources:
        mem_mb=sized("plots", "mem_mb"),
        runtime=sized("plots", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/consensus_plots.py"


rule plots:
    """Rank-metric curves, and metagenes, signatures and sample clusters at the chosen rank
    (bionmf.pl), for either consensus."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        rank_metrics=report(
            "results/{dataset}/plots/rank_metrics.png",
            caption="../report/rank_metrics.rst",
            category="Rank selection",
            labels={"data set": "{dataset}", "output": "metric curves"},
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
        "logs/{dataset}/plots.log",
    benchmark:
        "logs/{dataset}/benchmark/plots.tsv"
    resources:
        mem_mb=sized("plots", "mem_mb"),
        runtime=sized("plots", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/plots.py"
