"""Rule consensus_null: metrics of one rank of a permutation of the data (null model)."""

import anndata as ad

import bionmf.workflow as wf
from bionmf.core import save_summary

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    _, summary = wf.consensus_rank(
        ad.read_h5ad(snakemake.input.prepared),
        wf.load_runs(snakemake.input.chunks),
        config=snakemake.params.survey,
        permutation=snakemake.params.permutation,
    )
    save_summary(summary, snakemake.output.summary)
