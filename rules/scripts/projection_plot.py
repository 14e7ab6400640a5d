"""Rule projection_plot: projected observations by largest usage (bionmf.pl.clusters)."""

import bionmf
import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.read_intermediate(snakemake.input[0])
    bionmf.pl.clusters(adata, key=f"{snakemake.params.key}_projection", save=snakemake.output[0])
