"""Rule consensus_null: metrics of one rank of a permutation of the data (null model)."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    survey = wf.job_survey(snakemake.input.prepared, snakemake.params.survey)
    _, summary = survey.summarize(wf.load_runs(snakemake.input.chunks), permutation=snakemake.params.permutation)
    survey.kind.save_summary(summary, snakemake.output.summary)
