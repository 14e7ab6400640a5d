"""The licence shipped with the code is the one pyproject.toml declares."""

from __future__ import annotations

import tomllib

from conftest import REPO


def test_license_file_matches_pyproject():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n")
    assert "Copyright (c) 2026, the bionmf developers" in text
    # the three clauses, the third naming no one (the "neither the name of" clause)
    assert "1. Redistributions of source code must retain" in text
    assert "2. Redistributions in binary form must reproduce" in text
    assert "3. Neither the name of the copyright holder" in text
    assert "THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS \"AS IS\"" in text

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == {"text": "BSD-3-Clause"}
    assert "License :: OSI Approved :: BSD License" in project["project"]["classifiers"]
    # setuptools copies the file into the sdist and the wheel's .dist-info
    assert project["tool"]["setuptools"]["license-files"] == ["LICENSE"]
