# Results read and passed on: GenePattern NMFConsensus cluster files, program gene tables, the
# convergence of the best run of each rank. Each rule reads bionmf.h5ad and calls one function of
# bionmf.workflow.outputs, as the `bionmf survey` command does.


rule genepattern:
    """Cluster membership at every rank and per rank in consensus-tree order, as GenePattern's
    NMFConsensus writes them (GCT 1.2, samples as rows, clusters 1..k)."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        membership=report(
            "results/{dataset}/membership.gct",
            caption="../report/genepattern.rst",
            category="Sample clusters",
            labels={"data set": "{dataset}", "output": "membership.gct"},
        ),
        consensus_k=expand("results/{{dataset}}/consensus.k.{rank}.gct", rank=RANKS),
    params:
        key=config["key_added"],
    log:
        "logs/{dataset}/genepattern.log",
    benchmark:
        "logs/{dataset}/benchmark/genepattern.tsv"
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/genepattern.py"


rule program_genes:
    """Every gene scored in every program of the chosen rank: z-scores, expression units, top genes."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        zscore="results/{dataset}/program_genes/zscore.tsv",
        expression="results/{dataset}/program_genes/expression.tsv",
        top_genes=report(
            "results/{dataset}/program_genes/top_genes.tsv",
            caption="../report/program_genes.rst",
            category="Metagenes",
            labels={"data set": "{dataset}", "output": "program top genes"},
        ),
    params:
        key=config["key_added"],
    log:
        "logs/{dataset}/program_genes.log",
    benchmark:
        "logs/{dataset}/benchmark/program_genes.tsv"
    resources:
        mem_mb=sized("annotate", "mem_mb"),
        runtime=sized("annotate", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/program_genes.py"


rule convergence:
    """The best run of each rank computed again from its seed, objective at every check."""
    input:
        h5ad="results/{dataset}/bionmf.h5ad",
        chunks=all_chunk_files,
    output:
        table="results/{dataset}/convergence.tsv",
        plot=report(
            "results/{dataset}/plots/convergence.png",
            caption="../report/convergence.rst",
            category="Convergence",
            labels={"data set": "{dataset}", "output": "convergence"},
        ),
    params:
        key=config["key_added"],
    threads: 1
    log:
        "logs/{dataset}/convergence.log",
    benchmark:
        "logs/{dataset}/benchmark/convergence.tsv"
    resources:
        mem_mb=sized("convergence", "mem_mb"),
        runtime=sized("convergence", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/convergence.py"
