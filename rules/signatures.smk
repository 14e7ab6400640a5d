rule signatures:
    """Signature genes of each metagene at every rank: scores (TSV) and gene sets (GMT)."""
    input:
        "results/{dataset}/bionmf.h5ad",
    output:
        tables=per_rank_report(
            "results/{{dataset}}/signatures/rank_{rank}_scores.tsv",
            caption="../report/signature_table.rst",
            category="Signatures",
            output="gene scores",
        ),
        gmts=per_rank_report(
            "results/{{dataset}}/signatures/rank_{rank}.gmt",
            caption="../report/signature_gmt.rst",
            category="Signatures",
            output="gene sets (GMT)",
        ),
    params:
        options=config["signatures"],
        key=config["key_added"],
        ranks=RANKS,
    log:
        "logs/{dataset}/signatures.log",
    benchmark:
        "logs/{dataset}/benchmark/signatures.tsv"
    resources:
        mem_mb=sized("signatures", "mem_mb"),
        runtime=sized("signatures", "runtime"),
    conda:
        "../envs/bionmf.yaml"
    script:
        "scripts/signatures.py"
