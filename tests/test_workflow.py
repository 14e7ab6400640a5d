"""The Snakemake workflow: real `snakemake` runs on two data sets, the report, reuse of finished
jobs when the rank grid grows, lint, equality with ``bionmf.tl.nmf``, and config errors caught
before any job. Plus the library side (``bionmf.workflow``) on its own."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

import bionmf
from bionmf import workflow as wf
from tests.conftest import REPO, require_shared_data, require_tool

SCHEMA = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
# Small but real: Brunet's stopping rule with a short stability window, so both data sets take
# seconds per job on 2 cores.
SOLVER = {"max_iter": 400, "check_interval": 10, "n_stable": 10}
SURVEY = {"ranks": [2, 3], "n_runs": 6, "runs_per_job": 3, "random_state": 7, "n_permutations": 1, "solver": SOLVER}


def _medulloblastoma() -> dict:
    folder = require_shared_data("medulloblastoma")
    return {
        "path": str(folder / "Medulloblastoma_data.txt"),
        "read": {"header": False, "index_col": None, "genes": str(folder / "Medulloblastoma_genes.txt")},
        "annotation": str(folder / "Medulloblastoma_sample_labels.tsv"),
        "preset": "bulk",
        "normalize": {"n_top_genes": 1500},
    }


def _config(**changes) -> dict:
    config = {"datasets": {"golub": {"path": "bundled:golub"}, "medullo": _medulloblastoma()}, **SURVEY}
    config.update(changes)
    return config


def _snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    require_tool("snakemake")
    if config is not None:
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(workdir / "config.yaml"), *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)


def _ok(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


def _job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake (dry) run."""
    block = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, flags=re.M)
            if m.group(1) != "total"}


def _outputs(name: str, ranks) -> list[str]:
    base = f"results/{name}"
    files = [f"{base}/{f}" for f in ("prepared.h5ad", "bionmf.h5ad", "rank_metrics.tsv", "rank_choice.json",
                                       "clusters.tsv")]
    files += [f"{base}/plots/{p}.png" for p in (*wf.SURVEY_PLOTS, "consensus_grid", "convergence")]
    files += [f"{base}/{f}" for f in ("membership.gct", "convergence.tsv")]
    files += [f"{base}/consensus.k.{k}.gct" for k in ranks]
    files += [f"{base}/program_genes/{t}.tsv" for t in wf.PROGRAM_GENE_TABLES]
    for k in ranks:
        files += [f"{base}/rank_{k}/{f}" for f in ("runs.npz", "summary.npz", "consensus.tsv")]
        files += [f"{base}/signatures/rank_{k}_scores.tsv", f"{base}/signatures/rank_{k}.gmt",
                  f"{base}/plots/consensus_rank_{k}.png"]
        chunks = wf.run_chunks(SURVEY["n_runs"], SURVEY["runs_per_job"])
        files += [f"{base}/runs/rank_{k}/runs_{a}-{b}.npz" for a, b in chunks]
        files += [f"{base}/null/permutation_0/rank_{k}/runs_{a}-{b}.npz" for a, b in chunks]
        files += [f"{base}/null/permutation_0/rank_{k}/summary.npz"]
    return files


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    """A finished workflow run on Golub and the medulloblastoma data, ranks 2-3."""
    workdir = tmp_path_factory.mktemp("workflow")
    _ok(_snakemake(workdir, "--cores", "2", config=_config()))
    return workdir


# -- real snakemake runs ---------------------------------------------------------------------------


@pytest.mark.slow
def test_every_output_is_written(survey):
    for name, n_samples in (("golub", 38), ("medullo", 34)):
        for file in _outputs(name, SURVEY["ranks"]):
            path = survey / file
            assert path.is_file() and path.stat().st_size > 0, file
        for rule in ("prepare", "select", "annotate", "clusters"):
            assert (survey / "logs" / name / f"{rule}.log").exists()
            assert (survey / "logs" / name / "benchmark" / f"{rule}.tsv").exists()

        table = pd.read_csv(survey / f"results/{name}/rank_metrics.tsv", sep="\t", index_col="rank")
        choice = json.loads((survey / f"results/{name}/rank_choice.json").read_text())
        assert list(table.index) == SURVEY["ranks"]
        assert table["chosen"].sum() == 1 and table.index[table["chosen"]][0] == choice["rank"]
        assert (table["n_runs"] == SURVEY["n_runs"]).all()
        assert table["cophenetic"].between(0, 1).all()
        assert table["null_cophenetic"].between(0, 1).all()  # the permuted-data survey (n_permutations)

        clusters = pd.read_csv(survey / f"results/{name}/clusters.tsv", sep="\t", index_col="sample")
        assert len(clusters) == n_samples
        for k in SURVEY["ranks"]:
            assert set(clusters[f"rank_{k}"]) <= set(range(k))
            consensus = pd.read_csv(survey / f"results/{name}/rank_{k}/consensus.tsv", sep="\t", index_col=0)
            assert consensus.shape == (n_samples, n_samples)
            assert np.allclose(np.diag(consensus), 1.0) and np.allclose(consensus, consensus.T)
            scores = pd.read_csv(survey / f"results/{name}/signatures/rank_{k}_scores.tsv", sep="\t")
            gmt = bionmf.io.read_gmt(survey / f"results/{name}/signatures/rank_{k}.gmt")
            assert set(scores["metagene"].astype(str)) <= {str(a) for a in range(k)}
            assert sum(len(genes) for genes in gmt.values()) == len(scores)
            for png in (survey / f"results/{name}/plots").glob("*.png"):
                assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the known Golub structure (Brunet et al. 2004): ALL/AML at rank 2, ALL-B/ALL-T/AML at 3
    golub = pd.read_csv(survey / "results/golub/clusters.tsv", sep="\t", index_col="sample")
    assert _misassigned(golub["rank_2"], golub["ALL_AML"]) <= 2
    assert _misassigned(golub["rank_3"], golub["class3"]) <= 3


# A component-consensus (cNMF) survey of simulated single-cell counts, through the workflow.
SINGLECELL = {"ranks": [3, 4], "n_runs": 6, "runs_per_job": 4, "random_state": 5, "algorithm": "hals",
              "consensus": "components", "density_threshold": 0.5, "solver": {"max_iter": 200}}


@pytest.mark.slow
def test_component_consensus_equals_tl_nmf(tmp_path):
    """consensus: components runs the component rules (no consensus matrices or heatmaps) and writes
    what bionmf.tl.nmf(..., consensus="components") writes."""
    cells = bionmf.datasets.simulate_singlecell(n_cells=300, n_genes=500, n_identities=3, random_state=1)
    cells.write_h5ad(tmp_path / "cells.h5ad")
    config = {"datasets": {"cells": {"path": "cells.h5ad", "preset": "singlecell"}}, **SINGLECELL}
    _ok(_snakemake(tmp_path, "--cores", "2", config=config))

    base = tmp_path / "results" / "cells"
    files = ["bionmf.h5ad", "rank_metrics.tsv", "rank_choice.json", "clusters.tsv",
             *(f"plots/{p}.png" for p in wf.SURVEY_PLOTS), "membership.gct", "convergence.tsv", "plots/convergence.png",
             *(f"program_genes/{t}.tsv" for t in wf.PROGRAM_GENE_TABLES)]
    for k in SINGLECELL["ranks"]:
        files += [f"rank_{k}/components.npz", f"signatures/rank_{k}_scores.tsv", f"signatures/rank_{k}.gmt"]
    for file in files:
        assert (base / file).is_file() and (base / file).stat().st_size > 0, file
    # no consensus matrices or heatmaps; consensus.k.<k>.gct (NMFConsensus's name) lists clusters only
    assert not [p for p in base.rglob("consensus*") if not p.name.startswith("consensus.k.")]
    assert not list(base.rglob("summary.npz"))
    table = pd.read_csv(base / "rank_metrics.tsv", sep="\t", index_col="rank")
    choice = json.loads((base / "rank_choice.json").read_text())
    assert choice["rank_rule"] == "stability_error" and table.index[table["chosen"]][0] == choice["rank"]
    assert table["stability"].between(-1, 1).all() and (table["n_runs"] == SINGLECELL["n_runs"]).all()

    adata = bionmf.io.read(tmp_path / "cells.h5ad")
    bionmf.pp.normalize(adata, preset="singlecell")
    bionmf.tl.nmf(adata, ranks=SINGLECELL["ranks"], n_runs=SINGLECELL["n_runs"], algorithm="hals",
                  random_state=SINGLECELL["random_state"], consensus="components",
                  density_threshold=SINGLECELL["density_threshold"], verbose=False, solver=SINGLECELL["solver"])
    result = ad.read_h5ad(base / "bionmf.h5ad")
    with pytest.raises(ValueError, match="holds no consensus matrices"):
        bionmf.pl.consensus(result)
    np.testing.assert_array_equal(result.obsm["X_nmf"], adata.obsm["X_nmf"])
    np.testing.assert_array_equal(result.varm["nmf"], adata.varm["nmf"])
    assert result.obs["nmf_cluster"].equals(adata.obs["nmf_cluster"])
    ours, theirs = result.uns["nmf"], adata.uns["nmf"]
    assert set(ours) == set(theirs)
    assert {k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in ours["params"].items()} == theirs["params"]
    assert ours["rank"] == theirs["rank"] == choice["rank"]
    assert dict(ours["rank_rules"]) == dict(theirs["rank_rules"]) == choice["rank_rules"]
    pd.testing.assert_frame_equal(ours["metrics"], theirs["metrics"], check_dtype=False)
    for field in ("clusters", "basis", "coefficients", "spectra_density", "spectra_labels"):
        assert sorted(ours[field]) == sorted(theirs[field])
        for k in theirs[field]:
            np.testing.assert_array_equal(np.asarray(ours[field][k]), np.asarray(theirs[field][k]))


def _misassigned(clusters: pd.Series, truth: pd.Series) -> int:
    """Samples outside the majority class of their cluster."""
    table = pd.crosstab(clusters, truth)
    return int(table.to_numpy().sum() - table.max(axis=1).sum())


@pytest.mark.slow
def test_results_equal_tl_nmf(survey):
    adata = bionmf.datasets.golub()
    bionmf.pp.normalize(adata, preset="bulk")
    bionmf.tl.nmf(adata, ranks=SURVEY["ranks"], n_runs=SURVEY["n_runs"], random_state=SURVEY["random_state"],
                  n_permutations=SURVEY["n_permutations"], verbose=False, solver=SOLVER)
    result = ad.read_h5ad(survey / "results/golub/bionmf.h5ad")

    np.testing.assert_array_equal(result.obsm["X_nmf"], adata.obsm["X_nmf"])
    np.testing.assert_array_equal(result.varm["nmf"], adata.varm["nmf"])
    assert result.obs["nmf_cluster"].equals(adata.obs["nmf_cluster"])
    ours, theirs = result.uns["nmf"], adata.uns["nmf"]
    assert set(ours) == set(theirs)
    assert {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in ours["params"].items()} == \
        {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in theirs["params"].items()}
    assert ours["rank"] == theirs["rank"]
    assert dict(ours["rank_rules"]) == dict(theirs["rank_rules"])
    for table in ("metrics", "null_metrics", "null_metrics_permutations"):
        pd.testing.assert_frame_equal(ours[table], theirs[table], check_dtype=False)
    for field in ("consensus", "clusters", "basis", "coefficients"):
        assert sorted(ours[field]) == sorted(theirs[field])
        for k in theirs[field]:
            np.testing.assert_array_equal(np.asarray(ours[field][k]), np.asarray(theirs[field][k]))


@pytest.mark.slow
def test_report_and_lint(survey):
    _ok(_snakemake(survey, "--report", str(survey / "report.html")))
    html = (survey / "report.html").read_text(errors="replace")
    assert len(html) > 100_000
    for text in ("consensus_rank_3.png", "rank_metrics.tsv", "rank_2.gmt", "Rank selection", "Signatures"):
        assert text in html, text
    output = _ok(_snakemake(survey, "--lint"))
    assert "Congratulations" in output


@pytest.mark.slow
def test_changed_grid_or_runs_reuse_finished_jobs(survey):
    """A larger rank grid or more runs plan only the new factorizations, and running keeps the old ones."""
    more_runs = _job_counts(_ok(_snakemake(survey, "--dry-run", config=_config(n_runs=9))))
    # per data set and rank, the one new chunk of runs 6-8, on the data and on the permutation
    assert more_runs["factorize"] == more_runs["factorize_null"] == 2 * 2
    assert "prepare" not in more_runs

    config = _config(ranks=[2, 3, 4])
    plan = _job_counts(_ok(_snakemake(survey, "--dry-run", config=config)))
    assert plan["factorize"] == plan["factorize_null"] == 2 * 2  # rank 4 of each data set
    assert plan["consensus"] == plan["consensus_null"] == 2
    assert "prepare" not in plan

    kept = {p: p.stat().st_mtime_ns for pattern in ("runs_*.npz", "summary.npz")
            for p in (survey / "results").rglob(pattern)}
    _ok(_snakemake(survey, "--cores", "2", "results/golub/rank_metrics.tsv", "results/medullo/rank_metrics.tsv"))
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    for name in ("golub", "medullo"):
        table = pd.read_csv(survey / f"results/{name}/rank_metrics.tsv", sep="\t", index_col="rank")
        assert list(table.index) == [2, 3, 4]
        assert len(list((survey / f"results/{name}/runs/rank_4").glob("runs_*.npz"))) == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"rnaks": [2, 3]}, "config: unknown key 'rnaks'; did you mean 'ranks'?"),
        ({"datasets": {"mine": {"path": "data/missing.tsv"}}}, "config['datasets']['mine']['path']: input file"),
        ({"ranks": [1, 2]}, "config['ranks'][0]: 1 is less than the minimum of 2"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, change, named):
    config = {"datasets": {"golub": {"path": "bundled:golub"}}, **SURVEY, **change}
    result = _snakemake(tmp_path, "--cores", "1", config=config)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_user_configfile_replaces_the_default_datasets(tmp_path):
    config = {"datasets": {"medullo": _medulloblastoma()}, "ranks": [2]}
    output = _ok(_snakemake(tmp_path, "--cores", "1", "--dry-run", config=config))
    assert "results/medullo/bionmf.h5ad" in output and "results/golub" not in output
    # schema defaults fill what the file leaves out: 50 runs in chunks of 25
    assert "runs_25-50.npz" in output


# -- the library side, without snakemake -------------------------------------------------------------


def test_run_chunks_keep_earlier_chunks_when_runs_grow():
    assert wf.run_chunks(50, 25) == [(0, 25), (25, 50)]
    assert wf.run_chunks(60, 25)[:2] == wf.run_chunks(50, 25)
    assert wf.run_chunks(7, 10) == [(0, 7)]
    with pytest.raises(ValueError, match="runs_per_job"):
        wf.run_chunks(10, 0)


def test_default_config_is_valid_and_schema_complete():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert wf.config_errors(config, SCHEMA) == []
    assert config["datasets"]["golub"]["path"] == "bundled:golub"
    for key, spec in SCHEMA["properties"].items():
        assert "description" in spec and "default" in spec, key


def test_schema_follows_the_library():
    """Choices and defaults of the schema are those of the functions the config goes to."""
    from bionmf.core import CONSENSUS_MODES
    from bionmf.core.components import DENSITY_THRESHOLD
    from bionmf.core.rank_selection import ALL_RULES
    from bionmf.core.solvers import ALGORITHMS, SolverOptions
    from bionmf.tl._signatures import METHODS

    props = SCHEMA["properties"]
    # null: the consensus kind's default rule, as tl.nmf's rank_rule=None
    assert set(props["rank_rule"]["enum"]) == {*ALL_RULES, None} and props["rank_rule"]["default"] is None
    assert sorted(props["consensus"]["enum"]) == sorted(CONSENSUS_MODES)
    assert props["consensus"]["default"] == inspect.signature(bionmf.tl.nmf).parameters["consensus"].default
    assert props["density_threshold"]["default"] == DENSITY_THRESHOLD
    # null: the consensus kind's default algorithm, as tl.nmf's algorithm=None
    assert set(props["algorithm"]["enum"]) == {*ALGORITHMS, None} and props["algorithm"]["default"] is None
    assert props["algorithm"]["default"] == inspect.signature(bionmf.tl.nmf).parameters["algorithm"].default
    assert sorted(props["signatures"]["properties"]["method"]["enum"]) == sorted(METHODS)
    # the declared defaults (None: resolved per algorithm or rule), not the resolved values
    defaults = {field.name: field.default for field in dataclasses.fields(SolverOptions)}
    for key, spec in props["solver"]["properties"].items():
        assert spec["default"] == defaults[key], key
    dataset = SCHEMA["$defs"]["dataset"]["properties"]
    assert set(dataset["format"]["enum"]) - {None} == set(bionmf.io._read.FORMATS)
    assert sorted(dataset["preset"]["enum"]) == sorted(bionmf.pp._normalize.PRESETS)


def test_config_errors_name_the_key():
    errors = wf.config_errors({"datasets": {"a": {"path": "x", "fromat": "gct"}}, "n_runs": 0, "algoritm": "x"},
                              SCHEMA)
    assert "config: unknown key 'algoritm'; did you mean 'algorithm'?" in errors
    assert "config['datasets']['a']: unknown key 'fromat'; did you mean 'format'?" in errors
    assert any(e.startswith("config['n_runs']: 0 is less than the minimum of 2") for e in errors)
    assert wf.config_errors({"random_state": "seven", "solver": {"dtype": "float16"}}, SCHEMA) == [
        "config['random_state']: 'seven' is not of type 'integer'",
        "config['solver']['dtype']: 'float16' is not one of ['float32', 'float64']",
    ]


def test_check_config_semantic_errors(tmp_path):
    base = {"datasets": {"golub": {"path": "bundled:golub"}}, "ranks": [2, 3], "n_runs": 4, "runs_per_job": 2,
            "algorithm": "hals", "random_state": 0, "rank_rule": "largest_drop", "solver": {}}
    wf.check_config(base, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"config\['solver'\]: check_interval \(50\) must not exceed max_iter"):
        wf.check_config({**base, "solver": {"max_iter": 10, "check_interval": 50}}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"config\['datasets'\]\['x'\]\['path'\]: unknown bundled data set"):
        wf.check_config({**base, "datasets": {"x": {"path": "bundled:nothing"}}}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"\['read.genes'\]: input file genes.txt does not exist"):
        (tmp_path / "m.txt").write_text("1\t2\n")
        wf.check_config({**base, "datasets": {"x": {"path": "m.txt", "read": {"genes": "genes.txt"}}}},
                        workdir=tmp_path)
    # the consensus kind (Golub's 38 samples: auto is samples) and the options it refuses
    wf.check_config({**base, "rank_rule": None, "consensus": "components"}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"config\['rank_rule'\] \(data set 'golub', samples consensus\)"):
        wf.check_config({**base, "rank_rule": "max_stability"}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"config\['rank_rule'\] \(data set 'golub', components consensus\)"):
        wf.check_config({**base, "consensus": "components"}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"config\['n_permutations'\] \(data set 'golub', components consensus\): the null model needs consensus 'samples'"):
        wf.check_config({**base, "rank_rule": None, "consensus": "components", "n_permutations": 1}, workdir=tmp_path)


def test_check_config_read_and_normalize_options(tmp_path):
    base = {"ranks": [2], "n_runs": 4, "runs_per_job": 2, "algorithm": "brunet", "random_state": 0,
            "rank_rule": "largest_drop", "solver": {}}
    (tmp_path / "m.tsv").write_text("g\ta\tb\tc\nx\t1\t2\t3\ny\t4\t5\t6\nz\t7\t8\t9\n")
    good = {"path": "m.tsv", "read": {"header": True, "transpose": True}, "normalize": {"n_top_genes": 10}}
    wf.check_config({**base, "datasets": {"m": good}}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"\['read'\]: bionmf.io.read_table \(table files\) has no option 'hedaer'; "
                                         r"did you mean 'header'\?"):
        wf.check_config({**base, "datasets": {"m": {**good, "read": {"hedaer": False}}}}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"\['normalize'\]: bionmf.pp.normalize has no option 'n_top'"):
        wf.check_config({**base, "datasets": {"m": {**good, "normalize": {"n_top": 5}}}}, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"\['read'\]: bundled data sets take no read options"):
        wf.check_config({**base, "datasets": {"g": {"path": "bundled:golub", "read": {"header": False}}}},
                        workdir=tmp_path)


def test_data_shape_from_headers(tmp_path):
    table = tmp_path / "expr.tsv"
    pd.DataFrame(np.ones((7, 4)), index=[f"g{i}" for i in range(7)], columns=list("abcd")).to_csv(table, sep="\t")
    assert wf.data_shape({"path": "expr.tsv"}, workdir=tmp_path) == (5, 8)  # header line and name column count
    h5 = tmp_path / "x.h5ad"
    ad.AnnData(np.ones((6, 9), dtype=np.float32)).write_h5ad(h5)
    assert wf.data_shape({"path": "x.h5ad"}, workdir=tmp_path) == (6, 9)
    assert wf.data_shape({"path": "bundled:golub"}) == (38, 5000)


def test_job_resources_grow_with_the_work():
    small = wf.job_resources("factorize", (38, 5000), threads=2, rank=2, runs=25)
    wide = wf.job_resources("factorize", (3000, 20000), threads=2, rank=2, runs=25)
    deep = wf.job_resources("factorize", (38, 5000), threads=2, rank=8, runs=100)
    assert small["mem_mb"] < wide["mem_mb"] and small["runtime"] < wide["runtime"]
    assert small["runtime"] <= deep["runtime"]
    assert all(isinstance(v, int) and v > 0 for v in small.values())
    with pytest.raises(ValueError, match="unknown workflow step"):
        wf.job_resources("nap", (3, 3))


def test_chunked_rule_bodies_equal_one_survey():
    """The stages the rule scripts run (factorize chunks, summarize, choose, write) == tl.nmf, in process."""
    config = {"ranks": [2, 3], "n_runs": 5, "algorithm": "brunet", "random_state": 3, "rank_rule": "largest_drop",
              "key_added": "nmf", "n_permutations": 2,
              "solver": {"max_iter": 200, "check_interval": 10, "n_stable": 5}}
    adata = bionmf.datasets.golub()[:, :400].copy()
    bionmf.pp.normalize(adata, preset="bulk")
    survey = wf.job_survey(adata, {**config, "consensus": wf.dataset_kind(config, adata.shape).name})
    runs, summaries, null = [], [], []
    for k in config["ranks"]:
        for permutation in (None, 0, 1):
            chunks = [survey.factorize(k, range(a, b), n_jobs=1, permutation=permutation)
                      for a, b in wf.run_chunks(5, 2)]
            merged, summary = survey.summarize(chunks[::-1], permutation=permutation)
            if permutation is None:
                runs.append(merged)
                summaries.append(summary)
            else:
                null.append((permutation, summary))
    table, choice = survey.choose(summaries, null=survey.null_metrics(null))
    ours = adata.copy()
    survey.write(ours, runs, summaries, choice=choice, null=survey.null_metrics(null), key_added=config["key_added"])
    theirs = bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=5, random_state=3, rank_rule="largest_drop", verbose=False,
                           copy=True, n_jobs=1,
                           n_permutations=2, solver=config["solver"])
    assert ours.uns["nmf"]["params"] == theirs.uns["nmf"]["params"]
    assert choice["rank"] == theirs.uns["nmf"]["rank"] == table.index[table["chosen"]][0]
    pd.testing.assert_frame_equal(table[theirs.uns["nmf"]["metrics"].columns], theirs.uns["nmf"]["metrics"])
    assert np.allclose(table["null_cophenetic"], theirs.uns["nmf"]["null_metrics"]["cophenetic"])
    for field in ("null_metrics", "null_metrics_permutations"):
        pd.testing.assert_frame_equal(ours.uns["nmf"][field], theirs.uns["nmf"][field])
    np.testing.assert_array_equal(ours.obsm["X_nmf"], theirs.obsm["X_nmf"])
    for k in ("2", "3"):
        np.testing.assert_array_equal(ours.uns["nmf"]["consensus"][k], theirs.uns["nmf"]["consensus"][k])
    partial = survey.factorize(2, range(2), n_jobs=1)
    with pytest.raises(ValueError, match="expected 0..4"):
        survey.summarize([partial])


def test_rule_scripts_stay_thin():
    for script in (REPO / "rules" / "scripts").glob("*.py"):
        lines = [line for line in script.read_text().splitlines() if line.strip()]
        assert len(lines) <= 30, script.name


@pytest.mark.skipif(shutil.which("snakemake") is None and not os.environ.get("CI"), reason="snakemake missing")
def test_schema_rejects_unknown_dataset_keys_with_snakemake_validate():
    from snakemake.utils import validate

    config = {"datasets": {"g": {"path": "bundled:golub", "colour": "red"}}}
    with pytest.raises(Exception, match="colour"):
        validate(config, str(REPO / "config" / "schema" / "config.schema.yaml"))
    config = {"datasets": {"g": {"path": "bundled:golub"}}}
    validate(config, str(REPO / "config" / "schema" / "config.schema.yaml"))
    assert config["n_runs"] == 50 and config["datasets"]["g"]["preset"] == "bulk"
    assert config["solver"]["dtype"] == "float32"
