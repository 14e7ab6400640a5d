"""Rule select: the metrics table of every rank (and of the null model) and the chosen rank."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.read_intermediate(snakemake.input.prepared)
    survey = wf.job_survey(adata, snakemake.params.survey)
    table, choice = survey.choose(
        wf.load_summaries(snakemake.input.summaries, survey.kind),
        null=wf.load_null(snakemake.input.null, snakemake.params.null_index, survey.kind),
        crossval=wf.load_crossval(survey, snakemake.input.crossval),
        classes=wf.job_classes(adata, snakemake.params.classes),
    )
    wf.write_tsv(table, snakemake.output.table)
    wf.write_json(choice, snakemake.output.choice)
