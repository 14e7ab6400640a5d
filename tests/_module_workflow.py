"""Run the documented outer workflow (docs/snippets/module) that uses bionmf's as a module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, require_tool

SNIPPET = REPO / "docs" / "snippets" / "module"
PLACEHOLDER = '"path/to/bionmf/Snakefile"'


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    require_tool("snakemake")
    # the jobs import this checkout's bionmf, as an installed one would be imported
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=1200)


def ok(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


def run_module_workflow(workdir: Path) -> Path:
    """Copy the snippet with the module's path filled in, run it and write report.html."""
    snakefile = (SNIPPET / "Snakefile").read_text()
    assert PLACEHOLDER in snakefile
    (workdir / "Snakefile").write_text(snakefile.replace(PLACEHOLDER, repr(str(REPO / "Snakefile"))))
    (workdir / "config.yaml").write_text((SNIPPET / "config.yaml").read_text())
    (workdir / "run.log").write_text(ok(snakemake(workdir, "--cores", "2")))
    ok(snakemake(workdir, "--cores", "1", "--report", "report.html"))
    return workdir
