"""Rule clusters: sample -> consensus cluster at every rank, with the sample annotation."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    table = wf.cluster_table(wf.read_intermediate(snakemake.input[0]), key=snakemake.params.key)
    wf.write_tsv(table, snakemake.output[0])
