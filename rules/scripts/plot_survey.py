"""Rule plot_survey: rank metrics, metagenes and sample clusters (bionmf.pl)."""

import anndata as ad

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = ad.read_h5ad(snakemake.input[0])
    for kind in ("rank_metrics", "metagenes", "clusters"):
        wf.save_plot(kind, adata, snakemake.output[kind], key=snakemake.params.key)
