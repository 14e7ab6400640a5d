"""Rule convergence: the best run of each rank traced again (objective at every check), table and plot."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    wf.write_convergence(wf.read_intermediate(snakemake.input.h5ad), snakemake.output.table, snakemake.output.plot,
                         key=snakemake.params.key, runs=wf.best_runs(wf.load_runs(snakemake.input.chunks)))
