"""Rule plots: the plots of the whole survey at the chosen rank, for either consensus (bionmf.pl)."""

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    wf.plot_survey(
        wf.read_intermediate(snakemake.input[0]),
        {name: snakemake.output[name] for name in wf.SURVEY_PLOTS},
        signatures=snakemake.params.signatures,
        key=snakemake.params.key,
    )
