"""Rule prepare: read a data set entry and normalize it with its preset."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.prepare_dataset(snakemake.params.spec)
    adata.write_h5ad(snakemake.output[0])
