"""Rule select: the metrics table of every rank and the chosen rank."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    table, choice = wf.rank_table(wf.load_summaries(snakemake.input), rank_rule=snakemake.params.rank_rule)
    wf.write_table(table, snakemake.output.table)
    wf.write_json(choice, snakemake.output.choice)
