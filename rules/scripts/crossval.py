"""Rule crossval: the held-out error of every cross-validation run of one rank."""

import bionmf.workflow as wf
from bionmf.core.crossval import save_cv_runs

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    survey = wf.job_survey(snakemake.input[0], snakemake.params.survey)
    save_cv_runs(survey.crossvalidate(int(snakemake.wildcards.rank), n_jobs=snakemake.threads), snakemake.output[0])
