"""The workflow as a Snakemake module of a user's own workflow, and the files the Snakemake
workflow catalog reads (.snakemake-workflow-catalog.yml, config/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO

SCHEMA = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())


def _schema_keys(node: dict, prefix: str = "") -> list[str]:
    """Every key the schema defines, dotted (datasets' entries as datasets.<name>.KEY)."""
    keys = []
    for name, sub in node.get("properties", {}).items():
        keys.append(prefix + name)
        keys += _schema_keys(sub, f"{prefix}{name}.")
    return keys


def test_config_readme_describes_every_key():
    readme = (REPO / "config" / "README.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.M))
    keys = _schema_keys(SCHEMA) + _schema_keys(SCHEMA["$defs"]["dataset"])
    # a table row per key, under the heading of its group (solver.stop as `stop` under "Solver")
    missing = [key for key in keys if key.split(".")[-1] not in documented and key not in ("datasets", "solver", "signatures")]
    assert not missing, f"config/README.md does not describe {missing}"
    for group in ("datasets", "solver", "signatures"):
        assert f"`{group}`" in readme


def test_catalog_file_has_the_documented_usage_keys():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment"}
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    assert all(isinstance(usage["mandatory-flags"][k], str) and usage["mandatory-flags"][k] for k in ("desc", "flags"))
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda", "report"}
    assert all(isinstance(v, bool) for v in deployment.values())
    if deployment.get("conda"):
        # --sdm conda needs every rule to name its environment
        for smk in (REPO / "rules").glob("*.smk"):
            text = smk.read_text()
            assert text.count("\nrule ") + text.startswith("rule ") == text.count("conda:"), smk.name


@pytest.mark.slow
def test_user_workflow_uses_bionmf_as_a_module(module_workflow: Path):
    log = (module_workflow / "run.log").read_text()
    jobs = {m.group(1) for m in re.finditer(r"^rule (\w+):$", log, flags=re.M)} | {
        m.group(1) for m in re.finditer(r"^localrule (\w+):$", log, flags=re.M)}
    # bionmf's rules ran under the prefix, beside the user's own
    assert {"bionmf_prepare", "bionmf_factorize", "bionmf_consensus", "bionmf_select", "bionmf_plots"} <= jobs, jobs
    assert {"chosen_ranks", "all"} <= jobs
    assert not {"prepare", "factorize", "consensus"} & jobs

    # the config passed in is the one that ran: ranks 2-3 of the bundled data
    results = module_workflow / "results" / "golub"
    metrics = pd.read_csv(results / "rank_metrics.tsv", sep="\t", index_col=0)
    assert list(metrics.index) == [2, 3]
    assert (metrics["n_runs"] == 4).all()
    for name in ("bionmf.h5ad", "clusters.tsv", "plots/rank_metrics.png", "plots/consensus_grid.png",
                 "signatures/rank_2.gmt", "signatures/rank_3.gmt"):
        assert (results / name).stat().st_size > 0, name

    # the user's rule read bionmf's output
    choice = json.loads((results / "rank_choice.json").read_text())
    table = (module_workflow / "summary" / "chosen_ranks.tsv").read_text().split()
    assert table == ["results/golub/rank_choice.json", str(choice["rank"])]

    # the report of the outer workflow holds bionmf's results and captions
    html = (module_workflow / "report.html").read_text(errors="replace")
    for text in ("rank_metrics.png", "consensus_rank_3.png", "rank_2.gmt", "Rank selection"):
        assert text in html, text
