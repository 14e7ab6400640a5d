"""Rule signatures: the genes of each metagene at one rank, as a score table and a GMT file."""

import anndata as ad

import bionmf.workflow as wf
from bionmf.io import write_gmt

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    table, gene_sets = wf.signature_sets(
        ad.read_h5ad(snakemake.input[0]),
        rank=int(snakemake.wildcards.rank),
        options=snakemake.params.options,
        key=snakemake.params.key,
    )
    table.to_csv(snakemake.output.table, sep="\t", index=False)
    write_gmt(gene_sets, snakemake.output.gmt)
