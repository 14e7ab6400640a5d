"""Rule plot_consensus: consensus heatmap of one rank (bionmf.pl.consensus)."""

import anndata as ad

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    wf.plot_consensus(
        ad.read_h5ad(snakemake.input[0]),
        snakemake.output[0],
        rank=int(snakemake.wildcards.rank),
        key=snakemake.params.key,
    )
