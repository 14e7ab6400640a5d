"""Rule program_genes: z-score and expression-unit tables of every gene, top genes per program."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    wf.write_program_genes(wf.read_intermediate(snakemake.input[0]),
                           {name: snakemake.output[name] for name in wf.PROGRAM_GENE_TABLES},
                           key=snakemake.params.key)
