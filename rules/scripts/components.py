"""Rule components: merge a rank's chunks of runs into its component consensus (programs, usages)."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    survey = wf.job_survey(snakemake.input.prepared, snakemake.params.survey)
    _, summary = survey.summarize(wf.load_runs(snakemake.input.chunks))
    survey.kind.save_summary(summary, snakemake.output.summary)
