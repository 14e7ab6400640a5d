"""Rule factorize(_null): runs start..stop-1 of one rank on the prepared data (or a permutation)."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    survey = wf.job_survey(snakemake.input[0], snakemake.params.survey)
    runs = survey.factorize(
        int(snakemake.wildcards.rank),
        range(int(snakemake.wildcards.start), int(snakemake.wildcards.stop)),
        permutation=snakemake.params.permutation,
        n_jobs=snakemake.threads,
    )
    runs.save(snakemake.output[0])
