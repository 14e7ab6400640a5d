"""Rule plots: consensus heatmap per rank and the plots of the whole survey (bionmf.pl)."""

import anndata as ad

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = ad.read_h5ad(snakemake.input[0])
    for rank, path in zip(snakemake.params.ranks, snakemake.output.consensus):
        wf.plot_consensus(adata, path, rank=rank, key=snakemake.params.key)
    wf.plot_survey(
        adata,
        {name: snakemake.output[name] for name in wf.SURVEY_PLOTS},
        signatures=snakemake.params.signatures,
        key=snakemake.params.key,
    )
