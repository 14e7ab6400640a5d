"""Rule programs: the survey's metagenes/programs as files, chosen rank and every rank."""

import bionmf.workflow as wf
from bionmf.io import write_programs

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.read_intermediate(snakemake.input[0])
    write_programs(adata, snakemake.output.chosen, key=snakemake.params.key)
    for rank, path in zip(snakemake.params.ranks, snakemake.output.ranks):
        write_programs(adata, path, key=snakemake.params.key, rank=rank)
