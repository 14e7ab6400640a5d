"""The report of `snakemake --report`, opened in headless Chromium as a person would open it.

The report is one HTML file whose embedded JavaScript builds the page, so the test drives a real
browser (tests/_chromium.py) through the menus, clicks the eye icon of a result, and checks that
the image the page then shows is the workflow's PNG, decoded by the browser at its full size.
The screenshots land in the test's temporary folder (``--basetemp`` to keep them).
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from tests.conftest import require_tool

pytestmark = pytest.mark.slow


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _link(text: str) -> str:
    return f"[...document.querySelectorAll('a')].find(a => a.innerText.trim() === {json.dumps(text)})"


def _open_category(browser, name: str) -> None:
    """Click result category ``name`` in the menu (back through the "Results" crumb if needed)."""
    if not browser.evaluate(f"Boolean({_link(name)})"):
        browser.evaluate(f"{_link('Results')}.click()")
        browser.wait_for(_link(name))
    browser.evaluate(f"{_link(name)}.click()")
    browser.wait_for("document.querySelector('a[iconname=eye]')")


def _rows(browser) -> list[str]:
    """The result rows of the open category, as their cells' text joined by '|'."""
    return browser.evaluate(
        "[...document.querySelectorAll('tbody tr')].filter(r => r.querySelector('a[iconname=eye]'))"
        ".map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()).filter(t => t).join('|'))"
    )


def _show(browser, row: int, filename: str) -> bytes:
    """Click the eye of result row ``row``; the PNG ``filename`` the page then shows, as bytes."""
    browser.evaluate(
        "[...document.querySelectorAll('tbody tr')].filter(r => r.querySelector('a[iconname=eye]'))"
        f"[{row}].querySelector('a[iconname=eye]').click()"
    )
    selector = f"img[src*='filename={filename};']"
    # shown = decoded by the browser (naturalWidth) and laid out on the page (a visible box)
    browser.wait_for(
        f"(() => {{ const i = document.querySelector({json.dumps(selector)});"
        " if (!i || !i.complete || i.naturalWidth === 0) return false;"
        " const box = i.getBoundingClientRect(); return box.width > 200 && box.height > 200; })()"
    )
    src = browser.evaluate(f"document.querySelector({json.dumps(selector)}).src")
    width = browser.evaluate(f"document.querySelector({json.dumps(selector)}).naturalWidth")
    data = base64.b64decode(src.split("base64,", 1)[1])
    assert _png_size(data)[0] == width
    return data


def test_report_shows_rank_metrics_and_consensus_maps(module_workflow: Path, tmp_path: Path):
    from tests._chromium import Browser

    chromium = require_tool("chromium")
    results = module_workflow / "results" / "golub"
    with Browser(chromium, width=1400, height=1400) as browser:
        browser.open((module_workflow / "report.html").as_uri())
        # the page is built by the report's JavaScript: wait for its menu
        browser.wait_for("document.body.innerText.includes('RESULTS')")
        menu = browser.evaluate("document.body.innerText")
        for category in ("Rank selection", "Consensus matrices", "Metagenes", "Sample clusters", "Signatures"):
            assert category in menu, category
        # the workflow description, rendered from report/workflow.rst without markup errors
        assert "Consensus non-negative matrix factorization" in menu
        assert "System Message" not in menu
        browser.screenshot(tmp_path / "report_home.png")

        _open_category(browser, "Rank selection")
        # the category's two outputs are a toggle above the rows of data sets: pick the curves
        browser.evaluate("document.querySelector('input[type=radio][value=\\'metric curves\\']').click()")
        assert _rows(browser) == ["golub"]
        shown = _show(browser, 0, "rank_metrics.png")
        assert shown == (results / "plots" / "rank_metrics.png").read_bytes()
        browser.screenshot(tmp_path / "report_rank_metrics.png")

        _open_category(browser, "Consensus matrices")
        rows = _rows(browser)
        expected = {"golub|2|consensus heatmap": "consensus_rank_2.png",
                    "golub|3|consensus heatmap": "consensus_rank_3.png",
                    "golub|all": "consensus_grid.png"}
        assert sorted(rows) == sorted(expected), rows
        for index, row in enumerate(rows):
            shown = _show(browser, index, expected[row])
            assert shown == (results / "plots" / expected[row]).read_bytes(), row
        browser.screenshot(tmp_path / "report_consensus.png")

    # the screenshots are real pictures of the page, not blank
    for name in ("report_home.png", "report_rank_metrics.png", "report_consensus.png"):
        data = (tmp_path / name).read_bytes()
        assert _png_size(data) == (1400, 1400) and len(data) > 20_000, name
