"""Rule plot_consensus: consensus heatmap of one rank (bionmf.pl.consensus)."""

import anndata as ad

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = ad.read_h5ad(snakemake.input[0])
    wf.save_plot("consensus", adata, snakemake.output[0], key=snakemake.params.key,
                 rank=int(snakemake.wildcards.rank))
