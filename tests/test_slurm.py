"""The workflow on a real (one-node, localhost) SLURM cluster with accounting.

The cluster is started once per session by ``tests/slurm/cluster.sh`` (munged, MariaDB, slurmdbd,
slurmctld, slurmd) in a temporary directory and stopped at the end. Client commands reach it
through ``SLURM_CONF``, passed explicitly to every subprocess here.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, require_tool

pytestmark = pytest.mark.slurm

CLUSTER_SH = REPO / "tests" / "slurm" / "cluster.sh"
CLUSTER_TOOLS = (
    "munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd",
    "sbatch", "sacct", "sacctmgr", "sinfo", "squeue", "scancel",
)
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
    startup_seconds: float

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
        fields = ["JobID", "JobName", "State", "ExitCode", "Account", "Cluster", "NodeList"]
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
    started = time.monotonic()
    start = subprocess.run(
        ["bash", str(CLUSTER_SH), "start", str(state)],
        capture_output=True, text=True, timeout=600,
    )
    if start.returncode != 0:
        pytest.fail(f"SLURM test cluster failed to start:\n{start.stdout}\n{start.stderr}")
    cluster = SlurmCluster(
        state=state,
        conf=state / "etc" / "slurm.conf",
        account="bionmf",
        startup_seconds=time.monotonic() - started,
    )
    try:
        yield cluster
    finally:
        subprocess.run(["bash", str(CLUSTER_SH), "stop", str(state)], check=True, timeout=300)


def test_cluster_node_is_usable(slurm_cluster):
    node = slurm_cluster.run("sinfo", "--noheader", "--Node", "--format=%N %T %c %m").stdout.split()
    assert node[1] == "idle"
    assert int(node[2]) == os.cpu_count()
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
