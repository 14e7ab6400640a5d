"""The documentation builds as CI builds it: Sphinx with warnings as errors, the tutorials
executed, an API page for every public function."""

from __future__ import annotations

import html as html_module
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, require_shared_data

pytestmark = pytest.mark.slow

API_MODULES = ("io", "datasets", "pp", "tl", "pl")
EXECUTED = ("golub", "pbmc3k", "choosing_rank")


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad")  # the pbmc3k tutorial reads it
    out = tmp_path_factory.mktemp("docs")
    # the command of docs/conf.py and the installation page, into a temporary folder
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-d", str(out / "doctrees"),
               str(REPO / "docs"), str(out / "html")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    return out / "html"


def test_every_public_function_has_an_api_page(html):
    for name in API_MODULES:
        module = importlib.import_module(f"bionmf.{name}")
        index = (html / "api" / f"{name}.html").read_text()
        for member in module.__all__:
            page = html / "api" / "generated" / f"bionmf.{name}.{member}.html"
            assert page.exists(), f"no API page for bionmf.{name}.{member}"
            assert f"bionmf.{name}.{member}.html" in index
            # the numpydoc sections were rendered, not left as text
            text = page.read_text()
            if callable(getattr(module, member)) and "Parameters\n" in (getattr(module, member).__doc__ or ""):
                assert "Parameters" in text and "field-list" in text, member


def test_no_builtin_docstring_stands_in_for_ours(html):
    # autodoc shows the docstring of int, tuple or dict for a constant that has none of its own
    for page in (html / "api").rglob("*.html"):
        text = html_text(page.read_text())
        for builtin in ("Convert a number or string to an integer", "Built-in immutable sequence",
                        "dict() -> new empty dictionary", "str(object='') -> str"):
            assert builtin not in text, (page.name, builtin)


def test_tutorials_were_executed_with_figures(html):
    for name in EXECUTED:
        page = (html / "tutorials" / f"{name}.html").read_text()
        outputs = re.findall(r'class="cell_output', page)
        figures = re.findall(r'<img[^>]+src="[^"]*\.png"', page)
        assert len(outputs) >= 4 and len(figures) >= 2, name
        # no traceback, and no warning printed into the page
        assert "Traceback" not in page and "output stderr" not in page, name
        for src in re.findall(r'<img[^>]+src="([^"]+\.png)"', page):
            assert (html / "tutorials" / src).resolve().stat().st_size > 5_000, (name, src)


def test_the_module_snippet_is_the_tested_one(html):
    # the literalinclude of docs/snippets/module, which tests/test_module.py runs
    text = html_text((html / "tutorials" / "workflow.html").read_text())
    snippet = (REPO / "docs" / "snippets" / "module" / "Snakefile").read_text()
    for line in ("use rule * from bionmf as bionmf_*", "rules.bionmf_all.input,", 'config["bionmf"]'):
        assert line in snippet and line in text, line


def html_text(page: str) -> str:
    """The text of an HTML page, tags removed and entities decoded."""
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))
