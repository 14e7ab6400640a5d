"""Rule annotate: write the whole survey into the prepared AnnData, as bionmf.tl.nmf does."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.read_intermediate(snakemake.input.prepared)
    survey = wf.job_survey(adata, snakemake.params.survey)
    survey.write(
        adata,
        wf.load_runs(snakemake.input.runs),
        wf.load_summaries(snakemake.input.summaries, survey.kind),
        choice=wf.load_choice(snakemake.input.choice),
        null=wf.load_null(snakemake.input.null, snakemake.params.null_index, survey.kind),
        crossval=wf.load_crossval_runs(snakemake.input.crossval) or None,
        classes=snakemake.params.classes,
        key_added=snakemake.params.key,
    )
    adata.write_h5ad(snakemake.output[0])
