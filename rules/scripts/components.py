"""Rule components: merge a rank's chunks of runs into its component consensus (programs, usages)."""

import anndata as ad

import bionmf.workflow as wf
from bionmf.core.component_survey import save_component_summary

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    summary = wf.component_rank(
        ad.read_h5ad(snakemake.input.prepared), wf.load_runs(snakemake.input.chunks), config=snakemake.params.survey
    )
    save_component_summary(summary, snakemake.output.summary)
