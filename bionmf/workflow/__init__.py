"""The library side of the Snakemake workflow, split along the data's flow.

- :mod:`~bionmf.workflow.config`: the config's schema errors by key, and its checks against the library,
- :mod:`~bionmf.workflow.datasets`: data-set entries, their files and shapes, read and normalized,
- :mod:`~bionmf.workflow.jobs`: the survey of a job (:class:`bionmf.tl.Survey`), inputs, outputs, log,
- :mod:`~bionmf.workflow.resources`: runs per job, threads, memory and runtime requests,
- :mod:`~bionmf.workflow.plots`: the plots saved to files,
- :mod:`~bionmf.workflow.projection`: data sets projected onto another's programs (``project_onto``).
- :mod:`~bionmf.workflow.outputs`: GenePattern cluster files, program gene tables, convergence traces.

Needs the ``workflow`` extra (snakemake, jsonschema) only to run the workflow itself.
"""

from .config import SURVEY_KEYS, check_config, config_errors, dataset_kind, survey_options, validate_config
from .datasets import BUNDLED_PREFIX, data_shape, data_stored, dataset_files, prepare_dataset, read_dataset
from .jobs import (
    DamagedFile,
    cluster_table,
    consensus_frame,
    job_classes,
    job_log,
    job_survey,
    load_checked,
    load_choice,
    load_crossval,
    load_crossval_runs,
    load_null,
    load_runs,
    load_summaries,
    read_intermediate,
    signature_sets,
    write_json,
    write_tsv,
)
from .outputs import (
    PROGRAM_GENE_TABLES,
    best_runs,
    genepattern_files,
    write_convergence,
    write_genepattern_files,
    write_program_genes,
)
from .plots import SURVEY_PLOTS, plot_consensus, plot_consensus_grid, plot_survey
from .projection import (
    PROJECT_ONTO,
    check_projections,
    programs_file,
    project_dataset,
    projection_targets,
    surveyed_datasets,
    usage_table,
)
from .resources import check_cluster_cores, job_resources, job_threads, run_chunks

__all__ = [
    "BUNDLED_PREFIX",
    "DamagedFile",
    "PROJECT_ONTO",
    "PROGRAM_GENE_TABLES",
    "SURVEY_KEYS",
    "SURVEY_PLOTS",
    "best_runs",
    "check_cluster_cores",
    "check_config",
    "check_projections",
    "cluster_table",
    "config_errors",
    "consensus_frame",
    "data_shape",
    "data_stored",
    "dataset_files",
    "dataset_kind",
    "job_classes",
    "genepattern_files",
    "job_log",
    "job_resources",
    "job_survey",
    "job_threads",
    "load_choice",
    "load_crossval",
    "load_crossval_runs",
    "load_null",
    "load_checked",
    "load_runs",
    "load_summaries",
    "plot_consensus",
    "plot_consensus_grid",
    "plot_survey",
    "prepare_dataset",
    "programs_file",
    "project_dataset",
    "projection_targets",
    "read_dataset",
    "read_intermediate",
    "run_chunks",
    "signature_sets",
    "survey_options",
    "surveyed_datasets",
    "usage_table",
    "validate_config",
    "write_convergence",
    "write_genepattern_files",
    "write_json",
    "write_program_genes",
    "write_tsv",
]
