"""Rule project: a target data set projected onto its reference's programs file."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.project_dataset(snakemake.params.spec, snakemake.input.programs, key=snakemake.params.key)
    adata.write_h5ad(snakemake.output.adata)
    wf.write_tsv(wf.usage_table(adata, key=snakemake.params.key), snakemake.output.usages)
