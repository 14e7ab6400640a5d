"""Rule select: the metrics table of every rank (and of the null model) and the chosen rank."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    null = wf.null_table(zip(snakemake.params.null_index, wf.load_summaries(snakemake.input.null)))
    table, choice = wf.rank_table(
        wf.load_summaries(snakemake.input.summaries), rank_rule=snakemake.params.rank_rule, null=null
    )
    wf.write_table(table, snakemake.output.table)
    wf.write_json(choice, snakemake.output.choice)
