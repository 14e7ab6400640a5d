"""The workflow's projection step: programs files per surveyed data set, and data sets with
``project_onto`` projected onto them (a real snakemake run, and the library side on its own)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import bionmf
from bionmf import workflow as wf
from tests.test_workflow import _ok, _snakemake

SURVEY = {"ranks": [2, 3], "n_runs": 4, "runs_per_job": 4, "random_state": 0,
          "solver": {"max_iter": 300, "check_interval": 10, "n_stable": 5}}


def _held_out(workdir: Path) -> dict:
    """Every fourth Golub sample (7 ALL, 3 AML) as a GCT file with a label table: a target entry."""
    golub = bionmf.datasets.golub()
    held = golub[golub.obs_names[::4]].copy()
    bionmf.io.write_gct(held, workdir / "heldout.gct")
    held.obs.to_csv(workdir / "heldout_labels.tsv", sep="\t", index_label="sample")
    return {"path": "heldout.gct", "annotation": "heldout_labels.tsv", "project_onto": "golub"}


def _config(workdir: Path, **project) -> dict:
    target = _held_out(workdir)
    if project:
        target["project"] = project
    return {"datasets": {"golub": {"path": "bundled:golub"}, "heldout": target}, **SURVEY}


@pytest.mark.slow
def test_workflow_writes_programs_and_projects_targets(tmp_path):
    config = _config(tmp_path, rank=2)
    _ok(_snakemake(tmp_path, "--cores", "2", config=config))
    results = tmp_path / "results"
    # the target is projected, not surveyed
    assert not (results / "heldout" / "bionmf.h5ad").exists()
    reference = ad.read_h5ad(results / "golub" / "bionmf.h5ad")
    chosen = bionmf.io.read_programs(results / "golub" / "programs.h5")
    assert chosen.rank == reference.uns["nmf"]["rank"]
    for k in (2, 3):
        programs = bionmf.io.read_programs(results / "golub" / "programs" / f"rank_{k}.h5")
        np.testing.assert_array_equal(programs.loadings, bionmf.io.programs_from_survey(reference, rank=k).loadings)
    # the rule's result is bionmf.tl.project on the file as read, onto the reference at rank 2
    table = pd.read_csv(results / "heldout" / "projection_usages.tsv", sep="\t", index_col=0)
    new = bionmf.io.read(tmp_path / "heldout.gct")
    bionmf.tl.project(new, reference, rank=2)
    np.testing.assert_allclose(table[["usage_0", "usage_1"]].to_numpy(), new.obsm["nmf_projection"], rtol=1e-6)
    assert list(table["cluster"].astype(str)) == list(new.obs["nmf_projection_cluster"].astype(str))
    assert list(table["ALL_AML"]) == list(new.obs_names.str[:3])  # the annotation rides along
    stored = ad.read_h5ad(results / "heldout" / "projection.h5ad")
    assert stored.uns["nmf_projection"]["reference"].endswith(str(Path("golub") / "programs" / "rank_2.h5"))
    assert (results / "heldout" / "plots" / "projection_clusters.png").stat().st_size > 0


def test_project_dataset_and_usage_table(tmp_path):
    """The rule body on its own: read as in the file, the reference's normalization replayed."""
    reference = bionmf.datasets.golub()
    bionmf.pp.normalize(reference, preset="bulk", floor=100, log=True)
    bionmf.tl.nmf(reference, ranks=[2], n_runs=4, algorithm="lee", random_state=0, verbose=False)
    path = bionmf.io.write_programs(reference, tmp_path / "programs.h5")
    spec = _held_out(tmp_path)
    spec["project"] = {"loss": "kl"}
    adata = wf.project_dataset({**spec, "path": str(tmp_path / spec["path"]),
                                "annotation": str(tmp_path / spec["annotation"])}, path, key="nmf")
    record = adata.uns["nmf_projection"]
    assert list(record["preprocessing"]) == ["threshold", "log2"] and record["params"]["loss"] == "kl"
    table = wf.usage_table(adata, key="nmf")
    assert list(table.columns[:3]) == ["usage_0", "usage_1", "cluster"] and "ALL_AML" in table.columns
    assert table.index.name == "sample" and len(table) == 10


def test_check_projections_names_the_key(tmp_path):
    config = _config(tmp_path)
    wf.check_config(config, workdir=tmp_path)
    assert wf.projection_targets(config["datasets"]) == {"heldout": "golub"}
    assert wf.surveyed_datasets(config["datasets"]) == ["golub"]

    def change(**entry):
        datasets = {**config["datasets"], "heldout": {**config["datasets"]["heldout"], **entry}}
        return {**config, "datasets": datasets}

    cases = [
        (change(project_onto="gollub"), r"\['heldout'\]\['project_onto'\]: no data set 'gollub'.*did you mean 'golub'"),
        (change(project_onto="heldout"), "cannot be projected onto itself"),
        (change(normalize={"n_top_genes": 10}), r"\['heldout'\]\['normalize'\]: a projection target is normalized as"),
        (change(project={"max_mising": 0.2}), r"\['project'\]: bionmf.tl.project has no option 'max_mising'; did you "
                                              r"mean 'max_missing'"),
        (change(project={"rank": 5}), r"\['project'\]\['rank'\]: rank 5 is not surveyed"),
        (change(project={"copy": True}), r"has no option 'copy'"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            wf.check_config(bad, workdir=tmp_path)
    chained = {**config, "datasets": {**config["datasets"], "third": {"path": "bundled:golub", "project_onto": "heldout"}}}
    with pytest.raises(ValueError, match="'heldout' is itself a projection target"):
        wf.check_config(chained, workdir=tmp_path)
    stray = {**config, "datasets": {**config["datasets"], "golub": {"path": "bundled:golub", "project": {"rank": 2}}}}
    with pytest.raises(ValueError, match=r"\['golub'\]\['project'\]: options of a projection"):
        wf.check_config(stray, workdir=tmp_path)


def test_schema_takes_projection_keys():
    import yaml

    from tests.conftest import REPO

    schema = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
    config = {"datasets": {"golub": {"path": "bundled:golub"},
                           "new": {"path": "x.gct", "project_onto": "golub", "project": {"rank": 2}}}}
    assert wf.config_errors(config, schema) == []
    bad = {"datasets": {"new": {"path": "x.gct", "project_onto": 3}}}
    assert wf.config_errors(bad, schema) == ["config['datasets']['new']['project_onto']: 3 is not of type 'string', 'null'"]
