rule signatures:
    """Signature genes of each metagene at one rank: scores (TSV) and gene sets (GMT)."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        table=report(
            "results/{dataset}/signatures/rank_{rank}_scores.tsv",
            caption="../report/signature_table.rst",
            category="Signatures",
            subcategory="{dataset}",
            labels={"data set": "{dataset}", "rank": "{rank}", "output": "gene scores"},
        ),
        gmt=report(
            "results/{dataset}/signatures/rank_{rank}.gmt",
            caption="../report/signature_gmt.rst",
            category="Signatures",
            subcategory="{dataset}",
            labels={"data set": "{dataset}", "rank": "{rank}", "output": "gene sets (GMT)"},
        ),
    params:
        options=config["signatures"],
        key=config["key_added"],
    log:
        "logs/{dataset}/signatures/rank_{rank}.log",
    benchmark:
        "logs/{dataset}/benchmark/signatures/rank_{rank}.tsv"
    resources:
        mem_mb=sized("signatures", "mem_mb"),
        runtime=sized("signatures", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/signatures.py"
