"""Rule signatures: the genes of each metagene at every rank, as score tables and GMT files."""

import bionmf.workflow as wf
from bionmf.io import write_gmt

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.read_intermediate(snakemake.input[0])
    outputs = zip(snakemake.params.ranks, snakemake.output.tables, snakemake.output.gmts)
    for rank, table_path, gmt_path in outputs:
        table, gene_sets, descriptions = wf.signature_sets(
            adata, rank=rank, options=snakemake.params.options, key=snakemake.params.key
        )
        table.to_csv(table_path, sep="\t", index=False)
        write_gmt(gene_sets, gmt_path, descriptions=descriptions)
