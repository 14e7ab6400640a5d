"""Rule consensus: merge a rank's chunks of runs into its consensus, clusters and metrics."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    prepared = wf.read_intermediate(snakemake.input.prepared)
    survey = wf.job_survey(prepared, snakemake.params.survey)
    runs, summary = survey.summarize(wf.load_runs(snakemake.input.chunks))
    runs.save(snakemake.output.runs)
    survey.kind.save_summary(summary, snakemake.output.summary)
    wf.write_tsv(wf.consensus_frame(summary, prepared.obs_names), snakemake.output.consensus)
