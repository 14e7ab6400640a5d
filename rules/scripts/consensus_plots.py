"""Rule consensus_plots: consensus heatmap of every rank and the grid of all of them (bionmf.pl)."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.read_intermediate(snakemake.input[0])
    for rank, path in zip(snakemake.params.ranks, snakemake.output.consensus):
        wf.plot_consensus(adata, path, rank=rank, key=snakemake.params.key)
    wf.plot_consensus_grid(adata, snakemake.output.consensus_grid, key=snakemake.params.key)
