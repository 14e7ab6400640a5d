"""Rule annotate: write the whole survey into the prepared AnnData, as bionmf.tl.nmf does."""

import anndata as ad

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    adata = wf.annotate_survey(
        ad.read_h5ad(snakemake.input.prepared),
        wf.load_runs(snakemake.input.runs),
        wf.load_summaries(snakemake.input.summaries),
        config=snakemake.params.survey,
        null=wf.null_table(zip(snakemake.params.null_index, wf.load_summaries(snakemake.input.null))),
    )
    adata.write_h5ad(snakemake.output[0])
