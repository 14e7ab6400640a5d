rule programs:
    """The metagenes/programs of a surveyed data set as files (bionmf.io.write_programs): the
    chosen rank and every rank, for projecting other data onto them here or anywhere else."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        chosen="results/{dataset}/programs.h5",
        ranks=expand("results/{{dataset}}/programs/rank_{rank}.h5", rank=RANKS),
    params:
        key=config["key_added"],
        ranks=RANKS,
    log:
        "logs/{dataset}/programs.log",
    benchmark:
        "logs/{dataset}/benchmark/programs.tsv"
    resources:
        mem_mb=sized("annotate", "mem_mb"),
        runtime=sized("annotate", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/programs.py"


rule project:
    """A data set with project_onto, read as it is and projected onto its reference's programs
    (bionmf.tl.project: the reference's normalization replayed, usages with the loadings fixed)."""
    input:
        unpack(dataset_inputs),
        programs=reference_programs,
    output:
        adata="results/{dataset}/projection.h5ad",
        usages=report(
            "results/{dataset}/projection_usages.tsv",
            caption="../report/projection_usages.rst",
            category="Projections",
            labels={"data set": "{dataset}", "output": "usage table"},
        ),
    params:
        spec=lambda wildcards: DATASETS[wildcards.dataset],
        key=config["key_added"],
    log:
        "logs/{dataset}/project.log",
    benchmark:
        "logs/{dataset}/benchmark/project.tsv"
    threads: 1
    resources:
        mem_mb=sized("prepare", "mem_mb"),
        runtime=sized("prepare", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/project.py"


rule projection_plot:
    """The projected observations by largest usage, with their program mix (bionmf.pl.clusters)."""
    input:
        "results/{dataset}/projection.h5ad",
    output:
        report(
            "results/{dataset}/plots/projection_clusters.png",
            caption="../report/projection_clusters.rst",
            category="Projections",
            subcategory="{dataset}",
            labels={"data set": "{dataset}", "output": "projected clusters"},
        ),
    params:
        key=config["key_added"],
    log:
        "logs/{dataset}/projection_plot.log",
    benchmark:
        "logs/{dataset}/benchmark/projection_plot.tsv"
    resources:
        mem_mb=sized("plots", "mem_mb"),
        runtime=sized("plots", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/projection_plot.py"
