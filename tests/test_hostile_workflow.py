"""Hostile survey options and damaged workflow files (issue 13): a consensus of one run, result keys
an h5ad file cannot hold, seeds it cannot record, ranks the data cannot have, and intermediate
files damaged between two runs. Each is refused before anything runs (or warned), names the option
or file and the fix, leaves the input unchanged, and a damaged file is recomputed by a rerun."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

import bionmf
from bionmf import workflow as wf
from bionmf.core import SurveyOptions
from tests.conftest import REPO, require_tool

SCHEMA = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
FAST = {"max_iter": 30}


def _golub() -> ad.AnnData:
    return bionmf.datasets.golub()[:, :300].copy()


# --- n_runs ------------------------------------------------------------------------------------

def test_one_run_is_refused_in_the_library():
    adata = _golub()
    before = adata.copy()
    with pytest.raises(ValueError, match=r"n_runs=1: a consensus needs runs that can agree or disagree.*"
                                         r"use n_runs >= 10"):
        bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=1, solver=FAST)
    assert "nmf" not in adata.uns and "X_nmf" not in adata.obsm
    np.testing.assert_array_equal(adata.X, before.X)
    with pytest.raises(ValueError, match="n_runs=1"):
        SurveyOptions(n_runs=1)


def test_few_runs_warn_and_enough_do_not():
    with pytest.warns(UserWarning, match=r"n_runs=3: a consensus of so few runs.*n_runs >= 10"):
        bionmf.tl.nmf(_golub(), ranks=[2], n_runs=3, solver=FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bionmf.tl.nmf(_golub(), ranks=[2], n_runs=10, solver=FAST)


def test_one_run_is_refused_by_the_workflow_schema_and_few_runs_warn_at_the_config_check(tmp_path):
    errors = wf.config_errors({"datasets": {"g": {"path": "bundled:golub"}}, "n_runs": 1}, SCHEMA)
    assert errors == ["config['n_runs']: 1 is less than the minimum of 2"]
    config = {"datasets": {"golub": {"path": "bundled:golub"}}, "ranks": [2, 3], "n_runs": 4, "solver": {}}
    with pytest.warns(UserWarning, match="n_runs=4"):
        wf.check_config(config, workdir=tmp_path)
    with pytest.raises(ValueError, match=r"config\['n_runs'\]: n_runs=1"):
        wf.check_config({**config, "n_runs": 1}, workdir=tmp_path)


# --- key_added and random_state that an h5ad file cannot hold ------------------------------------

@pytest.mark.parametrize("key, error, words", [
    ("run/1", ValueError, "'run_1'"),
    ("", ValueError, "no empty name"),
    ("  ", ValueError, "no empty name"),
    (3, TypeError, "must be a str"),
])
def test_key_added_that_h5ad_cannot_hold_is_refused_before_the_survey(tmp_path, monkeypatch, key, error, words):
    def never(*args, **kwargs):
        raise AssertionError("the survey ran before key_added was checked")

    monkeypatch.setattr(bionmf.tl.Survey, "factorize_ranks", never)
    adata = _golub()
    with pytest.raises(error, match=words):
        bionmf.tl.nmf(adata, ranks=[2], n_runs=10, key_added=key, solver=FAST)
    assert not adata.uns and not adata.obsm and list(adata.obs.columns) == list(_golub().obs.columns)
    adata.write_h5ad(tmp_path / "x.h5ad")  # nothing half-written: the object still writes and reads
    ad.read_h5ad(tmp_path / "x.h5ad")


def test_key_added_accepted_reads_back_from_h5ad(tmp_path):
    adata = _golub()
    bionmf.tl.nmf(adata, ranks=[2], n_runs=10, key_added="run_1", solver=FAST)
    adata.write_h5ad(tmp_path / "x.h5ad")
    back = ad.read_h5ad(tmp_path / "x.h5ad")
    assert back.uns["run_1"]["rank"] == 2 and "X_run_1" in back.obsm and "run_1_cluster" in back.obs


def test_random_state_above_what_h5ad_records_is_refused_by_the_schema():
    assert wf.config_errors({"random_state": 2**70}, SCHEMA) == [
        f"config['random_state']: {2**70} is greater than the maximum of {2**63 - 1}"]
    assert wf.config_errors({"random_state": 2**63 - 1}, SCHEMA) == []


# --- ranks the data cannot have, caught at the config check from the file's header ---------------

def _table(path: Path, n_genes: int, n_samples: int) -> Path:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.gamma(2.0, 50.0, size=(n_genes, n_samples)).round(2),
                         index=[f"{200 + i}_at" for i in range(n_genes)], columns=[f"P{j}" for j in range(n_samples)])
    frame.index.name = "Name"
    frame.to_csv(path, sep="\t")
    return path


@pytest.mark.parametrize("name, spec, ranks, limit", [
    ("golub", {"path": "bundled:golub"}, [2, 38], "38 samples x 5000 genes"),
    ("table", {"path": "t.tsv"}, [2, 6], "6 samples x 40 genes"),
    ("gct", {"path": "t.gct"}, [2, 6], "6 samples x 40 genes"),
    ("top genes", {"path": "t.tsv", "normalize": {"n_top_genes": 4}}, [2, 4], "6 samples x 4 genes"),
])
def test_rank_at_or_above_the_data_size_is_caught_at_the_config_check(tmp_path, name, spec, ranks, limit):
    table = _table(tmp_path / "t.tsv", 40, 6)
    bionmf.io.write_gct(bionmf.io.read(table), tmp_path / "t.gct")
    config = {"datasets": {name: spec}, "ranks": ranks, "n_runs": 10, "solver": {}}
    with pytest.raises(ValueError, match=rf"config\['ranks'\] \(data set '{name}'.*ranks \[{ranks[1]}\] too large for "
                                         rf"{limit}"):
        wf.check_config(config, workdir=tmp_path)
    wf.check_config({**config, "ranks": [2, 3]}, workdir=tmp_path)


def test_exact_shape_follows_the_read_options(tmp_path):
    path = _table(tmp_path / "t.tsv", 40, 6)
    assert bionmf.io.read_exact_shape(path) == bionmf.io.read(path).shape == (6, 40)
    assert bionmf.io.read_exact_shape(path, transpose=False) == (40, 6)
    plain = tmp_path / "m.txt"
    plain.write_text("".join("\t".join(["1", "2", "3"]) + "\n" for _ in range(7)))
    assert bionmf.io.read_exact_shape(plain, header=False, index_col=None) == (3, 7)
    r_style = tmp_path / "r.tsv"  # R's write.table: the header one field shorter
    r_style.write_text("A\tB\tC\ng1\t1\t2\t3\ng2\t4\t5\t6\n")
    assert bionmf.io.read_exact_shape(r_style) == bionmf.io.read(r_style).shape == (3, 2)


def test_damaged_data_file_is_named_at_the_config_check(tmp_path):
    (tmp_path / "d.tsv.gz").write_bytes(b"\x1f\x8b" + bytes(100))
    config = {"datasets": {"d": {"path": "d.tsv.gz"}}, "ranks": [2], "n_runs": 10, "solver": {}}
    with pytest.raises(ValueError, match=r"config\['datasets'\]\['d'\]\['path'\]: .*d.tsv.gz is a damaged gzip file"):
        wf.check_config(config, workdir=tmp_path)


# --- damaged intermediate files ----------------------------------------------------------------

def _chunk(tmp_path: Path) -> Path:
    survey = bionmf.tl.Survey(_golub(), options=SurveyOptions(ranks=[2], n_runs=10), solver=FAST)
    path = tmp_path / "runs_0-10.npz"
    survey.factorize(2, range(10)).save(path)
    return path


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_chunk_is_named_and_removed_so_a_rerun_recomputes_it(tmp_path, damage):
    path = _chunk(tmp_path)
    good = wf.load_runs([path])[0]
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty": b""}[damage])
    with pytest.raises(wf.DamagedFile, match=rf"intermediate file {path} is damaged .*removed it, so that running "
                                             r"the same snakemake command again recomputes it"):
        wf.load_runs([path])
    assert not path.exists()
    assert good.rank == 2


def test_damaged_summary_choice_and_prepared_data_are_named(tmp_path):
    choice = tmp_path / "rank_choice.json"
    choice.write_text('{"rank": 2, "rank_ru')
    with pytest.raises(wf.DamagedFile, match="rank_choice.json is damaged"):
        wf.load_choice(choice)
    prepared = tmp_path / "prepared.h5ad"
    _golub().write_h5ad(prepared)
    prepared.write_bytes(prepared.read_bytes()[:2000])
    with pytest.raises(wf.DamagedFile, match="prepared.h5ad is damaged"):
        wf.job_survey(prepared, {"ranks": [2], "n_runs": 10})
    assert not prepared.exists() and not choice.exists()
    with pytest.raises(FileNotFoundError):  # a missing file is Snakemake's business, not damage
        wf.load_choice(choice)


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    require_tool("snakemake")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_workflow_recomputes_a_truncated_chunk_on_rerun(tmp_path):
    config = {"datasets": {"golub": {"path": "bundled:golub"}}, "ranks": [2], "n_runs": 10, "runs_per_job": 5,
              "random_state": 3, "solver": {"max_iter": 200, "check_interval": 10, "n_stable": 10}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    first = _snakemake(tmp_path)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    chunk = tmp_path / "results/golub/runs/rank_2/runs_0-5.npz"
    metrics = (tmp_path / "results/golub/rank_metrics.tsv").read_text()
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    # The consensus of rank 2 is redone (as after any change upstream): it meets the damaged chunk.
    second = _snakemake(tmp_path, "--forcerun", "consensus")
    log = (tmp_path / "logs/golub/consensus/rank_2.log").read_text()
    assert second.returncode != 0
    assert "intermediate file results/golub/runs/rank_2/runs_0-5.npz is damaged" in log
    assert "BadZipFile" in log and "removed it" in log
    assert not chunk.exists()
    # The same command again recomputes the chunk, then everything after it, with the same numbers.
    third = _snakemake(tmp_path, "--forcerun", "consensus")
    assert third.returncode == 0, (third.stdout + third.stderr)[-4000:]
    assert chunk.is_file()
    assert (tmp_path / "results/golub/rank_metrics.tsv").read_text() == metrics


# --- a cores cap no cluster node can give --------------------------------------------------------

def _fake_sinfo(tmp_path, monkeypatch, output: str) -> None:
    script = tmp_path / "bin" / "sinfo"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\nprintf '{output}'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")


def test_cores_above_the_largest_node_is_refused(tmp_path, monkeypatch):
    _fake_sinfo(tmp_path, monkeypatch, "4\\n8+\\n")
    with pytest.raises(ValueError, match=r"cores: 16 in profiles/slurm/config.yaml \(or --cores\) exceeds the CPUs "
                                         r"of the largest node of this cluster \(8,.*at most 8"):
        wf.check_cluster_cores(16, cluster=True)
    with pytest.raises(ValueError, match=r"no cores cap.*set cores: 4 in profiles/slurm/config.yaml"):
        wf.check_cluster_cores(None, cluster=True)
    wf.check_cluster_cores(8, cluster=True)
    wf.check_cluster_cores(16, cluster=False)  # a local run: cores are this machine's business


def test_no_sinfo_means_no_check(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    wf.check_cluster_cores(1000, cluster=True)
