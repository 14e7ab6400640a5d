"""Rule genepattern: membership.gct and consensus.k.<k>.gct (GenePattern NMFConsensus's layout)."""

from pathlib import Path

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    wf.write_genepattern_files(wf.read_intermediate(snakemake.input[0]), Path(snakemake.output.membership).parent,
                               key=snakemake.params.key)
