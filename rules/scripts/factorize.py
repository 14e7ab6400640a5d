"""Rule factorize(_null): runs start..stop-1 of one rank on the prepared data (or a permutation)."""

import anndata as ad

import bionmf.workflow as wf

with wf.job_log(snakemake.log[0], threads=snakemake.threads):
    runs = wf.factorize_chunk(
        ad.read_h5ad(snakemake.input[0]),
        rank=int(snakemake.wildcards.rank),
        runs=range(int(snakemake.wildcards.start), int(snakemake.wildcards.stop)),
        config=snakemake.params.solver,
        n_jobs=snakemake.threads,
        permutation=snakemake.params.permutation,
        keep_spectra=snakemake.params.keep_spectra,
    )
    runs.save(snakemake.output[0])
