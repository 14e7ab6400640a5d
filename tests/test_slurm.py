"""The workflow on a real (one-node, localhost) SLURM cluster with accounting.

The cluster is started once per session by ``tests/slurm/cluster.sh`` (munged, MariaDB, slurmdbd,
slurmctld, slurmd) in a temporary directory and stopped at the end. Client commands reach it
through ``SLURM_CONF``, passed explicitly to every subprocess here. The first tests check the
cluster itself (sbatch, srun, sacct, account enforcement); the last runs the workflow through
``profiles/slurm`` and compares its results with a local run's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO, require_tool

pytestmark = pytest.mark.slurm

CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
CLUSTER_TOOLS = (
    "munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd",
    "sbatch", "sacct", "sacctmgr", "sinfo", "squeue", "scancel",
)
# The node's CPUs, declared whatever the machine has (no task binding), so that every machine runs
# the tests on the same node size: below what a group of four factorize jobs of two threads asks.
NODE_CPUS = 4
# Job states after which SLURM does nothing more with a job.
FINAL_STATES = {
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
    "PREEMPTED", "BOOT_FAIL", "DEADLINE",
}


@dataclass(frozen=True)
class SlurmCluster:
    state: Path
    conf: Path
    account: str

    @property
    def env(self) -> dict[str, str]:
        """Environment for client commands (sbatch, sacct, snakemake --executor slurm)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=self.env, capture_output=True, text=True, check=check, timeout=60
        )

    def sacct(self, *args: str) -> list[dict[str, str]]:
        """sacct records (all users, all jobs since midnight) as dicts, parsed from --parsable2."""
        fields = [
            "JobID", "JobName", "State", "ExitCode", "Account", "Cluster", "NodeList", "AllocCPUS",
            "Comment",
        ]
        out = self.run(
            "sacct", "--allusers", "--noheader", "--parsable2",
            f"--format={','.join(fields)}", *args,
        ).stdout
        return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]

    def wait_for_job(self, job_id: str, timeout: float = 120) -> dict[str, str]:
        """Poll sacct until job_id reaches a final state; return its allocation record."""
        deadline = time.monotonic() + timeout
        while True:
            records = [r for r in self.sacct("--allocations", f"--jobs={job_id}")]
            if records and records[0]["State"].split()[0] in FINAL_STATES:
                return records[0]
            if time.monotonic() > deadline:
                pytest.fail(f"SLURM job {job_id} not finished after {timeout}s: {records}")
            time.sleep(0.5)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> SlurmCluster:
    """A one-node SLURM cluster with accounting on localhost, for the whole session."""
    for tool in CLUSTER_TOOLS:
        require_tool(tool)
    if os.geteuid() != 0:
        message = "the SLURM test cluster is started as root (munged, slurmd, slurmdbd)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    state = tmp_path_factory.mktemp("slurm")
    start = subprocess.run(
        ["bash", str(CLUSTER_SH), "start", str(state)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BIONMF_SLURM_NODE_CPUS": str(NODE_CPUS)},
    )
    if start.returncode != 0:
        pytest.fail(f"SLURM test cluster failed to start:\n{start.stdout}\n{start.stderr}")
    cluster = SlurmCluster(
        state=state,
        conf=state / "etc" / "slurm.conf",
        account="bionmf",
    )
    print(start.stdout)  # cluster.sh's progress, with the start-up time
    try:
        yield cluster
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "stop", str(state)], check=True, timeout=300)


def test_cluster_node_is_usable(slurm_cluster):
    node = slurm_cluster.run("sinfo", "--noheader", "--Node", "--format=%N %T %c %m").stdout.split()
    assert node[1] == "idle"
    assert int(node[2]) == NODE_CPUS
    assert 0 < int(node[3]) < os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20


def test_sbatch_job_runs_and_is_accounted(slurm_cluster, tmp_path):
    out = tmp_path / "job.out"
    job_id = slurm_cluster.run(
        "sbatch", "--parsable", f"--account={slurm_cluster.account}", "--ntasks=1",
        "--cpus-per-task=1", "--mem=100", "--time=5", f"--output={out}", "--job-name=smoke",
        # A job step through srun, as the Snakemake executor's jobs run their rule.
        "--wrap", "srun printf 'step on %s\\n' \"$SLURMD_NODENAME\"",
    ).stdout.strip()
    record = slurm_cluster.wait_for_job(job_id)
    assert record["State"] == "COMPLETED"
    assert record["ExitCode"] == "0:0"
    assert record["Account"] == slurm_cluster.account
    assert record["Cluster"] == "bionmf"
    steps = {r["JobID"]: r["State"] for r in slurm_cluster.sacct(f"--jobs={job_id}")}
    assert steps == {job_id: "COMPLETED", f"{job_id}.batch": "COMPLETED", f"{job_id}.0": "COMPLETED"}
    assert out.read_text() == f"step on {record['NodeList']}\n"


def test_failing_job_is_recorded_as_failed(slurm_cluster, tmp_path):
    job_id = slurm_cluster.run(
        "sbatch", "--parsable", f"--account={slurm_cluster.account}", "--mem=100",
        f"--output={tmp_path / 'job.out'}", "--wrap", "exit 3",
    ).stdout.strip()
    record = slurm_cluster.wait_for_job(job_id)
    assert (record["State"], record["ExitCode"]) == ("FAILED", "3:0")


def test_unknown_account_is_refused(slurm_cluster, tmp_path):
    # Associations are enforced, as on production clusters: the accounting database is consulted.
    refused = slurm_cluster.run(
        "sbatch", "--account=no_such_account", "--mem=100", f"--output={tmp_path / 'x.out'}",
        "--wrap", "true", check=False,
    )
    assert refused.returncode != 0
    assert "account" in refused.stderr.lower()


# --- the workflow through the SLURM executor ------------------------------------------------------

SNAKEFILE = REPO / "Snakefile"
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
# Both runs use two cores per job at most, so every job computes with the same thread count.
CORES = 2
# Memory of the factorize jobs in the runs with a failure: their first attempt gets far less than
# Python alone takes, so SLURM kills it within a second (JobAcctGatherParams=OverMemoryKill);
# later attempts get enough.
FACTORIZE_MEM_MB = "40 if attempt == 1 else 2000"
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")


def small_config(path: Path) -> Path:
    """The bundled config on the Golub data, cut down to two ranks of four short runs."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"] = {"golub": config["datasets"]["golub"]}
    config.update(ranks=[2, 3], n_runs=4, runs_per_job=2)
    config["solver"]["max_iter"] = 200
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cluster_profile(path: Path, cluster: SlurmCluster, **overrides) -> Path:
    """profiles/slurm with what this one-machine cluster needs changed; returns the profile dir."""
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"]["slurm_account"] = cluster.account
    profile.update(
        {
            # One machine: outputs are visible at once, and status checks can be frequent.
            "latency-wait": 5,
            "slurm-init-seconds-before-status-checks": 2,
            "seconds-between-status-checks": 2,
            # Rules ask for up to 4 threads; the node may have fewer CPUs, and the local run
            # uses --cores 2. --cores also caps a group job (its members then run in series).
            "max-threads": CORES,
            "cores": CORES,
            "slurm-keep-successful-logs": True,
        }
    )
    profile.update(overrides)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def snakemake_command(workdir: Path, config: Path, *args: str, env: dict[str, str]):
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
        "--directory", str(workdir), "--configfile", str(config), *args,
    ]
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}
    return command, env


def run_snakemake(workdir: Path, config: Path, *args: str, env: dict[str, str]):
    command, env = snakemake_command(workdir, config, *args, env=env)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)


def job_counts(snakemake_output: str) -> dict[str, int]:
    """The "Job stats" table Snakemake prints before running: rule name -> number of jobs."""
    lines = snakemake_output[snakemake_output.index("Job stats:"):].splitlines()[3:]
    counts = {}
    for line in lines:
        fields = line.split()
        if len(fields) != 2 or fields[0] == "total":
            break
        counts[fields[0]] = int(fields[1])
    return counts


def slurm_jobs(cluster: SlurmCluster, snakemake_output: str) -> list[dict[str, str]]:
    """sacct records of the jobs a Snakemake run reported submitting, in submission order."""
    ids = SUBMITTED.findall(snakemake_output)
    assert ids, "Snakemake reported no SLURM job"
    records = {r["JobID"]: r for r in cluster.sacct("--allocations", f"--jobs={','.join(ids)}")}
    assert set(records) == set(ids), f"sacct lacks jobs {set(ids) - set(records)}"
    return [records[i] for i in ids]


def rule_of(record: dict[str, str], names: set[str]) -> str:
    """Rule or group (one of ``names``) of a SLURM job, from the comment the executor gives it:
    ``rule_<name>``, then ``_wildcards_...`` for a job with wildcards, ``_<rules>`` for a group."""
    comment = record["Comment"]
    matches = [n for n in names if comment == f"rule_{n}" or comment.startswith(f"rule_{n}_")]
    assert matches, f"job {record['JobID']}: comment {comment!r} names none of {sorted(names)}"
    return max(matches, key=len)


def assert_same_results(expected: Path, actual: Path) -> None:
    """Every result file of one run equals the other's: data exactly, plots pixel for pixel."""
    import anndata as ad
    import matplotlib.image

    files = sorted(p.relative_to(expected) for p in expected.rglob("*") if p.is_file())
    assert files, f"no results in {expected}"
    assert files == sorted(p.relative_to(actual) for p in actual.rglob("*") if p.is_file())
    for rel in files:
        a, b = expected / rel, actual / rel
        if rel.suffix == ".npz":
            with np.load(a) as x, np.load(b) as y:
                assert sorted(x.files) == sorted(y.files), rel
                for key in x.files:
                    np.testing.assert_array_equal(x[key], y[key], err_msg=f"{rel}: {key}")
        elif rel.suffix == ".h5ad":
            x, y = ad.read_h5ad(a), ad.read_h5ad(b)
            assert_equal_nested(x.X, y.X, f"{rel}: X")
            for attr in ("obs", "var"):
                assert_equal_nested(getattr(x, attr), getattr(y, attr), f"{rel}: {attr}")
            for attr in ("obsm", "varm", "layers", "uns"):
                assert_equal_nested(dict(getattr(x, attr)), dict(getattr(y, attr)), f"{rel}: {attr}")
        elif rel.suffix == ".png":
            np.testing.assert_array_equal(
                matplotlib.image.imread(a), matplotlib.image.imread(b), err_msg=str(rel)
            )
        else:
            assert a.read_bytes() == b.read_bytes(), f"{rel} differs"


def assert_equal_nested(x, y, where: str) -> None:
    import pandas as pd
    import scipy.sparse as sp

    if isinstance(x, dict):
        assert isinstance(y, dict) and sorted(x) == sorted(y), f"{where}: keys differ"
        for key in x:
            assert_equal_nested(x[key], y[key], f"{where}/{key}")
    elif isinstance(x, pd.DataFrame):
        pd.testing.assert_frame_equal(x, y, obj=where)
    elif sp.issparse(x):
        assert sp.issparse(y), where
        np.testing.assert_array_equal(x.toarray(), y.toarray(), err_msg=where)
    elif isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        # NaN equals NaN here, as a missing metric is the same result in both runs.
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=where)
    else:
        assert x == y, f"{where}: {x!r} != {y!r}"


@pytest.mark.slow
def test_workflow_on_slurm_matches_local_run_through_a_killed_job(slurm_cluster, tmp_path):
    """The workflow through `snakemake --profile profiles/slurm`, with its factorize jobs killed by
    SLURM for memory: without retries the run stops and is resumed; with the profile's retries the
    killed job is resubmitted with more memory. Results equal a local --cores 2 run's."""
    if (os.cpu_count() or 1) < CORES:
        pytest.fail(f"the SLURM workflow test needs {CORES} CPUs on the node")
    config = small_config(tmp_path / "config.yaml")
    env = slurm_cluster.env

    local = run_snakemake(tmp_path / "local", config, "--cores", str(CORES), env=env)
    assert local.returncode == 0, local.stderr[-5000:]
    expected_jobs = job_counts(local.stderr)
    assert expected_jobs["factorize"] == 4
    slurm_rules = set(expected_jobs) - {"all"}
    names = slurm_rules | {"factorize_batch"}

    cluster_dir = tmp_path / "slurm"
    failing = {"set-resources": {"factorize": {"mem_mb": FACTORIZE_MEM_MB}}}

    # 1. No retries: the factorize group job is killed, the run stops after what it could do.
    first = run_snakemake(
        cluster_dir, config, "--profile",
        str(cluster_profile(tmp_path / "profile_no_retry", slurm_cluster, retries=0, **failing)),
        env=env,
    )
    assert first.returncode != 0, "the run with a memory-killed job did not fail"
    first_jobs = slurm_jobs(slurm_cluster, first.stderr)
    by_rule = {rule_of(r, names): r for r in first_jobs}
    assert by_rule["prepare"]["State"] == "COMPLETED"
    killed = by_rule["factorize_batch"]
    assert (killed["State"], killed["ExitCode"]) == ("FAILED", "0:9"), killed
    killed_log = next((cluster_dir / ".snakemake" / "slurm_logs").rglob(f"{killed['JobID']}.log"))
    assert "exceeded memory limit" in killed_log.read_text()
    assert (cluster_dir / "results" / "golub" / "prepared.h5ad").is_file()
    assert not list((cluster_dir / "results").rglob("runs_*.npz"))

    # 2. The same command with the profile's retries: the run resumes where it stopped (prepare is
    # not redone); the factorize group is killed again on its first attempt and then resubmitted.
    second = run_snakemake(
        cluster_dir, config, "--profile",
        str(cluster_profile(tmp_path / "profile", slurm_cluster, **failing)),
        env=env,
    )
    assert second.returncode == 0, second.stderr[-5000:]
    second_jobs = slurm_jobs(slurm_cluster, second.stderr)
    node = slurm_cluster.run("sinfo", "--noheader", "--Node", "--format=%N").stdout.strip()
    rules = [rule_of(r, names) for r in second_jobs]
    assert "prepare" not in rules
    groups = [r for r in second_jobs if rule_of(r, names) == "factorize_batch"]
    assert [(r["State"], r["ExitCode"]) for r in groups] == [("FAILED", "0:9"), ("COMPLETED", "0:0")]
    for record in second_jobs:
        if record is not groups[0]:
            assert (record["State"], record["ExitCode"]) == ("COMPLETED", "0:0"), record
        assert record["Account"] == slurm_cluster.account
        assert record["Cluster"] == "bionmf"
        assert record["NodeList"] == node
    # Every rule but `all` (a local rule) ran as a SLURM job, in the first run (which went on with
    # the jobs that did not need the killed group: prepare, crossval) or the second; the four
    # factorize jobs as one.
    both = rules + [rule_of(r, names) for r in first_jobs]
    assert set(both) == (slurm_rules - {"factorize"}) | {"factorize_batch"}
    expected_counts = {k: v for k, v in expected_jobs.items() if k not in ("all", "prepare", "factorize")}
    assert {k: both.count(k) for k in expected_counts} == expected_counts

    # Every output is there and up to date: a dry run has nothing left to do.
    dry = run_snakemake(cluster_dir, config, "--cores", "1", "--dry-run", env=env)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout

    assert_same_results(tmp_path / "local" / "results", cluster_dir / "results")


# Reasons for which SLURM keeps a job pending that no waiting can end.
NEVER_STARTS = ("PartitionConfig", "BadConstraints", "ReqNodeNotAvail", "PartitionNodeLimit")


def run_snakemake_watched(cluster: SlurmCluster, workdir: Path, config: Path, *args: str, timeout: float = 900):
    """run_snakemake, failing at once (with SLURM's reason) when a job it submitted can never start,
    instead of waiting as Snakemake would, forever."""
    command, env = snakemake_command(workdir, config, *args, env=cluster.env)
    log = workdir / "snakemake.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        stuck = None
        while process.poll() is None:
            pending = cluster.run("squeue", "--noheader", "--states=PENDING", "--format=%i %r %C %j",
                                  check=False).stdout.split("\n")
            stuck = [line for line in pending if any(reason in line for reason in NEVER_STARTS)]
            if stuck or time.monotonic() > deadline:
                process.kill()
                process.wait()
                for line in pending:
                    if line.strip():
                        cluster.run("scancel", line.split()[0], check=False)
                break
            time.sleep(2)
    output = log.read_text()
    if stuck:
        pytest.fail(f"SLURM jobs that can never start on a {NODE_CPUS}-CPU node (id reason cpus name): {stuck}\n"
                    f"{output[-3000:]}")
    if process.returncode != 0:
        pytest.fail(f"snakemake exited with {process.returncode}:\n{output[-5000:]}")
    return output


@pytest.mark.slow
def test_factorize_groups_fit_a_node_smaller_than_their_members_sum(slurm_cluster, tmp_path):
    """The profile as shipped (only this cluster's account and polling changed, no --cores): a group
    of four factorize jobs of two threads each would ask for 8 CPUs on a 4-CPU node and pend
    forever; the profile's `cores` caps it at what one job asks, and it runs."""
    config = small_config(tmp_path / "config.yaml")
    shipped = yaml.safe_load(PROFILE.read_text())
    assert shipped["cores"] <= NODE_CPUS
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"]["slurm_account"] = slurm_cluster.account
    profile.update({"latency-wait": 5, "slurm-init-seconds-before-status-checks": 2,
                    "seconds-between-status-checks": 2, "set-threads": {"factorize": 2}})
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))

    output = run_snakemake_watched(slurm_cluster, tmp_path / "run", config, "--profile", str(profile_dir))
    groups = [r for r in slurm_jobs(slurm_cluster, output) if r["Comment"].startswith("rule_factorize_batch")]
    assert groups, "no factorize group was submitted"
    for record in groups:
        assert (record["State"], record["ExitCode"]) == ("COMPLETED", "0:0"), record
        # Two members side by side at two threads each: the cap, not the sum of eight.
        assert int(record["AllocCPUS"]) == shipped["cores"], record
    dry = run_snakemake(tmp_path / "run", config, "--cores", "1", "--dry-run", env=slurm_cluster.env)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout


def test_cores_above_the_node_size_fail_before_any_job(slurm_cluster, tmp_path):
    """A cap no node can give (cores: 8 on the 4-CPU node) is refused when the workflow starts,
    naming the setting, instead of leaving a group pending forever."""
    config = small_config(tmp_path / "config.yaml")
    profile_dir = cluster_profile(tmp_path / "profile", slurm_cluster, cores=2 * NODE_CPUS)
    result = run_snakemake(tmp_path / "run", config, "--profile", str(profile_dir), env=slurm_cluster.env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"cores: {2 * NODE_CPUS} in profiles/slurm/config.yaml (or --cores) exceeds the CPUs of the largest node" \
        in output and f"at most {NODE_CPUS}" in output
    assert not SUBMITTED.findall(output)
