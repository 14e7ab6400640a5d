"""Rule consensus: merge a rank's chunks of runs into its consensus, clusters and metrics."""

import anndata as ad

import bionmf.workflow as wf
from bionmf.core import save_summary

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    prepared = ad.read_h5ad(snakemake.input.prepared)
    runs, summary = wf.consensus_rank(
        prepared, wf.load_runs(snakemake.input.chunks), config=snakemake.params.survey
    )
    runs.save(snakemake.output.runs)
    save_summary(summary, snakemake.output.summary)
    wf.write_table(wf.consensus_frame(summary, prepared.obs_names), snakemake.output.consensus)
