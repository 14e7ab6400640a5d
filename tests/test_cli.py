"""The `bionmf` console script end to end on a small GCT file: its outputs, --help and error exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import bionmf
import bionmf.workflow as wf
from conftest import REPO
from test_genepattern import strict_gct

RANKS = [2, 3]


def bionmf_cli(*args, cwd):
    """Run the console script's entry point (pyproject [project.scripts]) in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-c", "import sys; from bionmf.cli import main; sys.exit(main())", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_console_script_is_declared():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"bionmf": "bionmf.cli:main"}


@pytest.fixture(scope="module")
def small_gct(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    golub = bionmf.datasets.golub()[:, :400].copy()
    bionmf.io.write_gct(golub, root / "small.gct")
    golub.obs[["ALL_AML"]].to_csv(root / "labels.tsv", sep="\t")
    return root


@pytest.mark.slow
def test_survey_end_to_end(small_gct):
    done = bionmf_cli("survey", "small.gct", "--ranks", "2-3", "--runs", "4", "--max-iter", "300",
                      "--annotation", "labels.tsv", "--out", "results", cwd=small_gct)
    assert done.returncode == 0, done.stderr
    out = small_gct / "results"
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    expected = {"bionmf.h5ad", "rank_metrics.tsv", "rank_choice.json", "clusters.tsv", "membership.gct",
                "convergence.tsv", "plots/convergence.png", "plots/consensus_grid.png",
                *(f"plots/{name}.png" for name in wf.SURVEY_PLOTS),
                *(f"program_genes/{name}.tsv" for name in wf.PROGRAM_GENE_TABLES)}
    for k in RANKS:
        expected |= {f"rank_{k}/consensus.tsv", f"consensus.k.{k}.gct", f"plots/consensus_rank_{k}.png",
                     f"signatures/rank_{k}_scores.tsv", f"signatures/rank_{k}.gmt"}
    assert files == expected
    assert not [p for p in small_gct.iterdir() if p.name.startswith(".results.")]  # staging removed

    # the same survey in Python (tl.nmf on the same prepared data) gives the same numbers
    adata = ad.read_h5ad(out / "bionmf.h5ad")
    same = wf.prepare_dataset({"path": str(small_gct / "small.gct"), "preset": "bulk"})
    bionmf.tl.nmf(same, ranks=RANKS, n_runs=4, solver={"max_iter": 300}, verbose=False)
    pd.testing.assert_frame_equal(adata.uns["nmf"]["metrics"], same.uns["nmf"]["metrics"])
    np.testing.assert_array_equal(adata.obsm["X_nmf"], same.obsm["X_nmf"])

    table = pd.read_csv(out / "rank_metrics.tsv", sep="\t", index_col=0)
    choice = json.loads((out / "rank_choice.json").read_text())
    assert table.index[table["chosen"]].tolist() == [choice["rank"]] == [adata.uns["nmf"]["rank"]]
    clusters = pd.read_csv(out / "clusters.tsv", sep="\t", index_col=0)
    assert "ALL_AML" in clusters.columns  # the annotation rode along
    names, _, columns, M = strict_gct(out / "membership.gct")
    assert names == list(clusters.index) and columns == ["k=2", "k=3"]
    np.testing.assert_array_equal(M, clusters[["rank_2", "rank_3"]].to_numpy() + 1)
    assert adata.obs["nmf_silhouette"].notna().all()
    assert [f"nmf_usage_{a}" in adata.obs for a in range(choice["rank"])] == [True] * choice["rank"]

    trace = pd.read_csv(out / "convergence.tsv", sep="\t")
    for k in RANKS:
        last = trace[trace["rank"] == k]["objective"].iloc[-1]
        assert last == pytest.approx(adata.uns["nmf"]["metrics"].loc[k, "objective"], rel=1e-9)
    top = pd.read_csv(out / "program_genes" / "top_genes.tsv", sep="\t")
    assert list(top.columns) == ["program", "order", "gene", "zscore", "expression"]
    zscores = pd.read_csv(out / "program_genes" / "zscore.tsv", sep="\t", index_col=0)
    assert zscores.shape == (adata.n_vars, choice["rank"])

    sig = bionmf_cli("signatures", "results/bionmf.h5ad", "--rank", "3", "--method", "loading", "--n-top", "5",
                     "--out", "sig", cwd=small_gct)
    assert sig.returncode == 0, sig.stderr
    scores = pd.read_csv(small_gct / "sig" / "signatures" / "rank_3_scores.tsv", sep="\t")
    assert len(scores) == 15


def test_help_documents_every_option(small_gct):
    from bionmf.cli import build_parser

    parser = build_parser()
    for command in ("survey", "signatures", "project"):
        done = bionmf_cli(command, "--help", cwd=small_gct)
        assert done.returncode == 0 and "exit codes:" in done.stdout
        sub = parser._subparsers._group_actions[0].choices[command]
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in done.stdout, flag
            assert action.help, action.dest  # every option explained


def test_error_exits_leave_nothing(small_gct):
    missing = bionmf_cli("survey", "absent.gct", "--out", "r", cwd=small_gct)
    assert missing.returncode == 3 and "absent.gct does not exist" in missing.stderr
    usage = bionmf_cli("survey", "small.gct", "--ranks", "4-2", "--out", "r", cwd=small_gct)
    assert usage.returncode == 2 and "runs backwards" in usage.stderr
    refused = bionmf_cli("survey", "small.gct", "--ranks", "2,40", "--runs", "2", "--out", "r", cwd=small_gct)
    assert refused.returncode == 1
    assert "ranks [40] too large for 38 samples" in refused.stderr and "Traceback" not in refused.stderr
    assert not (small_gct / "r").exists()
    assert not [p for p in small_gct.iterdir() if p.name.startswith(".r.")]


def test_project_scores_held_out_samples_with_a_programs_file(small_gct, tmp_path):
    golub = bionmf.datasets.golub()[:, :400].copy()
    held = golub.obs_names[::4]
    reference = golub[~golub.obs_names.isin(held)].copy()
    bionmf.tl.nmf(reference, ranks=[2], n_runs=6, random_state=0, verbose=False)
    bionmf.io.write_programs(reference, tmp_path / "programs.h5")
    bionmf.io.write_gct(golub[held].copy(), tmp_path / "new.gct")
    done = bionmf_cli("project", "new.gct", "--reference", "programs.h5", "--out", "projected", "--no-plots",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "projected" / "projection_usages.tsv", sep="\t", index_col=0)
    assert list(table.index) == list(held) and {"usage_0", "usage_1", "cluster"} <= set(table.columns)
    # the ALL and AML samples held out land in different metagenes, mostly
    labels = golub.obs.loc[held, "ALL_AML"].astype(str)
    assert pd.crosstab(table["cluster"], labels).max(axis=1).sum() >= len(held) - 2
    projected = ad.read_h5ad(tmp_path / "projected" / "projection.h5ad")
    assert projected.obsm["nmf_projection"].shape == (len(held), 2)
    absent = bionmf_cli("project", "new.gct", "--reference", "nothing.h5", "--out", "p2", cwd=tmp_path)
    assert absent.returncode == 3 and "nothing.h5 does not exist" in absent.stderr
    assert not (tmp_path / "p2").exists()
