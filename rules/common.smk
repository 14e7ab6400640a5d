# Helpers shared by the rules: the config after validation, wildcard constraints, input lists
# and resource requests computed from the data size.

import re

import bionmf.workflow as wf

# Checks the schema cannot express (input files exist, solver options go together); a clear
# error naming the key, before any job is scheduled.
wf.check_config(config)
# On a cluster (--jobs, as profiles/slurm sets it; not inside a job): a cores cap no node can
# give would leave a factorize group pending forever.
wf.check_cluster_cores(
    workflow.global_resources["_cores"].value,
    cluster=workflow.global_resources["_nodes"].value is not None and not workflow.remote_exec
    and not workflow.subprocess_exec,
)

DATASETS = config["datasets"]
# Data sets with project_onto are projected onto another's programs instead of surveyed.
SURVEYED = wf.surveyed_datasets(DATASETS)
TARGETS = wf.projection_targets(DATASETS)
RANKS = sorted(set(config["ranks"]))
CHUNKS = wf.run_chunks(config["n_runs"], config["runs_per_job"])
PERMUTATIONS = list(range(config["n_permutations"]))
SHAPES = {name: wf.data_shape(spec) for name, spec in DATASETS.items()}
# values stored by sparse inputs (None: dense), which is what their jobs' memory grows with
STORED = {name: wf.data_stored(spec) for name, spec in DATASETS.items()}
# The consensus kind of each data set (bionmf.core.ConsensusKind), decided once here on the input
# file's samples (consensus: auto) because it decides which rules a data set needs; every job of
# the data set gets the resolved kind's name.
KINDS = {name: wf.dataset_kind(config, SHAPES[name]) for name in DATASETS}
# The config entries each rule's results depend on, as params: Snakemake reruns a job when they
# change, and only then (factorize jobs of unchanged ranks and run ranges are kept).
SOLVER = {key: config[key] for key in ("algorithm", "random_state", "solver")}
# the cross-validation keys only matter to the jobs that compute or read the held-out error
CROSSVAL_KEYS = ("crossval", "crossval_runs")
SURVEY = {key: config[key] for key in (*wf.SURVEY_KEYS, "algorithm", "solver") if key not in CROSSVAL_KEYS}
SELECT = {**SURVEY, **{key: config[key] for key in CROSSVAL_KEYS}}


def job_params(**keys):
    """The survey params of a job: the resolved consensus kind of its data set, its rank (when it
    has one), and ``keys``."""

    def params(wildcards):
        ranks = [int(wildcards.rank)] if "rank" in wildcards.keys() else RANKS
        return {**keys, "ranks": ranks, "consensus": KINDS[wildcards.dataset].name}

    return params



wildcard_constraints:
    dataset="|".join(re.escape(name) for name in DATASETS),
    rank=r"[0-9]+",
    start=r"[0-9]+",
    perm=r"[0-9]+",
    stop=r"[0-9]+",


def dataset_inputs(wildcards):
    """The files a data set entry reads (none for bundled data)."""
    return wf.dataset_files(DATASETS[wildcards.dataset])


def chunk_files(wildcards):
    return [
        f"results/{wildcards.dataset}/runs/rank_{wildcards.rank}/runs_{start}-{stop}.npz"
        for start, stop in CHUNKS
    ]


def all_chunk_files(wildcards):
    """Every factorization chunk of every rank (the runs the convergence rule picks the best of)."""
    return [
        f"results/{wildcards.dataset}/runs/rank_{k}/runs_{start}-{stop}.npz"
        for k in RANKS
        for start, stop in CHUNKS
    ]


def rank_summaries(wildcards):
    """Summary of every rank, in the file of the data set's consensus kind (summary.npz, components.npz)."""
    name = KINDS[wildcards.dataset].summary_file
    return [f"results/{wildcards.dataset}/rank_{k}/{name}" for k in RANKS]


def crossval_files(wildcards):
    """Held-out errors of every rank (one job each) when the config asks for cross-validation."""
    if config["crossval"] is None:
        return []
    return [f"results/{wildcards.dataset}/crossval/rank_{k}.npz" for k in RANKS]


def dataset_classes(wildcards):
    """The obs column of known classes of the data set (None: no purity/entropy)."""
    return DATASETS[wildcards.dataset].get("classes")


def rank_runs(wildcards):
    """Merged runs of every rank where the kind writes the best run's factors (the sample
    consensus); the component consensus needs none (its summary holds the programs)."""
    if not KINDS[wildcards.dataset].writes_best_run:
        return []
    return [f"results/{wildcards.dataset}/rank_{k}/runs.npz" for k in RANKS]


def null_chunk_files(wildcards):
    return [
        f"results/{wildcards.dataset}/null/permutation_{wildcards.perm}/rank_{wildcards.rank}/runs_{start}-{stop}.npz"
        for start, stop in CHUNKS
    ]


def null_summaries(wildcards):
    """Summary of every (permutation, rank) of the null model, permutation-major (see NULL_INDEX)."""
    return [
        f"results/{wildcards.dataset}/null/permutation_{p}/rank_{k}/summary.npz"
        for p in PERMUTATIONS
        for k in RANKS
    ]


# the permutation of each file of null_summaries, in the same order
NULL_INDEX = [p for p in PERMUTATIONS for k in RANKS]


def per_rank_report(pattern, *, caption, category, output):
    """``pattern`` (with {rank}; {{dataset}} left to the rule) for every rank, each file marked
    for the report with its own rank label."""

    def marked(rank):
        return report(
            pattern.format(rank=rank),
            caption=caption,
            category=category,
            subcategory="{dataset}",
            labels={"data set": "{dataset}", "rank": str(rank), "output": output},
        )

    return [marked(k) for k in RANKS]


def sized(step, key, **extra):
    """Resource ``key`` (mem_mb or runtime) of a ``step`` job, from its data set's size.

    Memory grows with the attempt number so that `--retries` recovers from an underestimate.
    """

    def value(wildcards, threads, attempt):
        rank = int(wildcards.get("rank", max(RANKS)))
        runs = int(wildcards.stop) - int(wildcards.start) if "start" in wildcards.keys() else config["n_runs"]
        request = wf.job_resources(
            step,
            SHAPES[wildcards.dataset],
            threads=threads,
            rank=rank,
            runs=runs,
            n_ranks=len(RANKS),
            max_iter=config["solver"]["max_iter"],
            stored=STORED[wildcards.dataset],
            pairwise=KINDS[wildcards.dataset].has_consensus_matrix,
        )[key]
        return request * attempt if key == "mem_mb" else request

    return value


def factorize_threads(wildcards):
    """1 to 4 threads, by the estimated work of the job (Snakemake caps them at --cores)."""
    return wf.job_threads(
        SHAPES[wildcards.dataset],
        rank=int(wildcards.rank),
        runs=int(wildcards.stop) - int(wildcards.start),
        max_iter=config["solver"]["max_iter"],
        stored=STORED[wildcards.dataset],
    )


def crossval_threads(wildcards):
    """As factorize_threads, for the cross-validation runs of one rank."""
    return wf.job_threads(
        SHAPES[wildcards.dataset],
        rank=int(wildcards.rank),
        runs=config["crossval_runs"],
        max_iter=config["solver"]["max_iter"],
        stored=STORED[wildcards.dataset],
    )


def final_outputs():
    """Everything `rule all` asks for, every data set."""
    files = []
    for name in SURVEYED:
        base = f"results/{name}"
        files += [
            f"{base}/bionmf.h5ad",
            f"{base}/rank_metrics.tsv",
            f"{base}/rank_choice.json",
            f"{base}/clusters.tsv",
            *(f"{base}/plots/{plot}.png" for plot in wf.SURVEY_PLOTS),
        ]
        files += [f"{base}/signatures/rank_{k}{end}" for k in RANKS for end in ("_scores.tsv", ".gmt")]
        files += [f"{base}/membership.gct", *(f"{base}/consensus.k.{k}.gct" for k in RANKS)]
        files += [f"{base}/program_genes/{name}.tsv" for name in wf.PROGRAM_GENE_TABLES]
        files += [f"{base}/convergence.tsv", f"{base}/plots/convergence.png"]
        # a component consensus has no samples x samples matrices to write or draw
        if KINDS[name].has_consensus_matrix:
            files.append(f"{base}/plots/consensus_grid.png")
            files += [f"{base}/rank_{k}/consensus.tsv" for k in RANKS]
            files += [f"{base}/plots/consensus_rank_{k}.png" for k in RANKS]
        files.append(f"{base}/programs.h5")
        files += [f"{base}/programs/rank_{k}.h5" for k in RANKS]
    for name in TARGETS:
        files += [f"results/{name}/{f}" for f in ("projection.h5ad", "projection_usages.tsv")]
        files.append(f"results/{name}/plots/projection_clusters.png")
    return files


def reference_programs(wildcards):
    """The programs file a target is projected onto: its reference's chosen rank, or project.rank."""
    spec = DATASETS[wildcards.dataset]
    return wf.programs_file(spec[wf.PROJECT_ONTO], (spec.get("project") or {}).get("rank"))
