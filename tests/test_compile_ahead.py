"""A fresh install's first survey compiles its later ranks' kernels in other processes: the
survey then loads them from numba's cache, with the same numbers, and compiles them itself where
those processes fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bionmf
from bionmf.core.solvers import _compile_ahead, brunet

REPO = Path(__file__).resolve().parents[1]

# a survey in a new process on an empty numba cache (a fresh install), with bionmf's debug log
SURVEY = """
import json, logging, sys
import numpy as np
messages = []
class Keep(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())
logging.getLogger("bionmf").addHandler(Keep())
logging.getLogger("bionmf").setLevel(logging.DEBUG)
from numba.core import event
compiled = []  # the functions this process compiles (a load from numba's cache is no compile)
class Compiles(event.Listener):
    def on_start(self, e):
        compiled.append(e.data["dispatcher"].py_func.__name__)
    def on_end(self, e):
        pass
event.register("numba:compile", Compiles())
import bionmf
if sys.argv[1] == "failing":  # every helper process fails at once, or cannot start
    from bionmf.core.solvers import _compile_ahead
    _compile_ahead.sys = type("Sys", (), {"executable": sys.argv[2]})
adata = bionmf.datasets.golub()[:, :300].copy()
result = bionmf.tl.nmf(adata, ranks=[2, 3, 4, 5], n_runs=10, random_state=0, verbose=False, n_jobs=2, copy=True)
print(json.dumps({"cophenetic": result.uns["nmf"]["metrics"]["cophenetic"].tolist(),
                  "W": result.varm["nmf"].sum().item(), "messages": messages, "compiled": compiled}))
"""


def fresh_survey(tmp_path: Path, mode: str, python: str = "") -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    done = subprocess.run([sys.executable, "-c", SURVEY, mode, python], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def survey_here() -> dict:
    adata = bionmf.datasets.golub()[:, :300].copy()
    result = bionmf.tl.nmf(adata, ranks=[2, 3, 4, 5], n_runs=10, random_state=0, verbose=False, n_jobs=2,
                           copy=True)
    return {"cophenetic": result.uns["nmf"]["metrics"]["cophenetic"].tolist(),
            "W": result.varm["nmf"].sum().item()}


needs_two_cores = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) < 2,
    reason="the kernels are compiled ahead only with two cores or more",
)


def test_signature_is_the_surveys():
    """The argument types compiled ahead are those a survey's calls have: after a survey, every
    rank's kernel holds that signature (else the survey would compile again)."""
    survey_here()
    for k in (2, 3, 4, 5):
        kernel = brunet.dense_until_stable_kernel(k)
        assert _compile_ahead.kernel_signature(k, np.float32) in kernel.overloads
        assert _compile_ahead.in_cache(k, np.float32)


@needs_two_cores
@pytest.mark.slow
def test_fresh_install_compiles_ahead_with_the_same_numbers(tmp_path):
    fresh = fresh_survey(tmp_path, "normal")
    assert any("in other processes" in m for m in fresh["messages"]), fresh["messages"]
    # the later ranks came from the other process, through numba's cache, and only from there
    assert "rank 5: its float32 kernel loaded from numba's cache" in fresh["messages"], fresh["messages"]
    kernels = [name for name in fresh["compiled"] if name.startswith("_dense_until_stable_k")]
    assert kernels == ["_dense_until_stable_k2", "_dense_until_stable_k3"], fresh["compiled"]
    here = survey_here()
    assert fresh["cophenetic"] == here["cophenetic"]
    assert fresh["W"] == here["W"]


@needs_two_cores
@pytest.mark.slow
@pytest.mark.parametrize("python", ["/bin/false", "/no/such/python"])  # fails at once; cannot start
def test_failed_helpers_leave_the_survey_to_compile_itself(tmp_path, python):
    fresh = fresh_survey(tmp_path, "failing", python)
    assert any("in other processes" in m for m in fresh["messages"]), fresh["messages"]
    assert not any("loaded from numba's cache" in m for m in fresh["messages"]), fresh["messages"]
    kernels = [name for name in fresh["compiled"] if name.startswith("_dense_until_stable_k")]
    assert sorted(kernels) == [f"_dense_until_stable_k{k}" for k in (2, 3, 4, 5)], fresh["compiled"]
    here = survey_here()
    assert fresh["cophenetic"] == here["cophenetic"]
    assert fresh["W"] == here["W"]


def test_one_thread_starts_no_process(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no process should start")

    monkeypatch.setattr(_compile_ahead.subprocess, "Popen", refuse)
    monkeypatch.setattr(_compile_ahead, "in_cache", lambda rank, dtype: False)
    _compile_ahead.start([2, 3, 4, 5, 6], np.float32, 1)
    _compile_ahead.start([7], np.float32, 8)  # one rank missing: the survey compiles it itself
