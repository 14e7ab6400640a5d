"""Shared test fixtures and the rule that, under CI, a missing reference tool fails instead of skipping."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def require_tool(name: str) -> str:
    """Return the path of executable ``name``; skip locally, fail under CI, when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found; run tests/install_system_deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_shared_data(*parts: str) -> Path:
    """Path below ../shared/data; skip locally, fail under CI, when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared data {path} not found"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()


@pytest.fixture(scope="session")
def module_workflow(tmp_path_factory) -> Path:
    """The documented workflow that uses bionmf's as a module (docs/snippets/module), run once
    with its report; shared by tests/test_module.py and tests/test_report_browser.py."""
    from tests._module_workflow import run_module_workflow

    return run_module_workflow(tmp_path_factory.mktemp("module_workflow"))
