"""Feature scores (bionmf.core.features) and metagene signatures (bionmf.tl.signatures)."""

from __future__ import annotations

import os
import subprocess

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import bionmf
from bionmf.core import features as F
from conftest import require_tool

# Golub et al. 1999 (Science 286:531), Fig. 3: genes most correlated with the AML/ALL distinction
AML_MARKERS = {"M27891_at": "CST3", "X95735_at": "zyxin", "M23197_at": "CD33", "M84526_at": "adipsin (DF)"}
ALL_MARKERS = {"U05259_rna1_at": "MB-1 (CD79A)", "M31523_at": "TCF3 (E2A)", "M92287_at": "CCND3"}


# ---------------------------------------------------------------- array level


def test_kim_score_extremes_and_formula():
    W = np.array([[5.0, 0.0, 0.0],   # one metagene only: 1
                  [2.0, 2.0, 2.0],   # all equal: 0
                  [3.0, 1.0, 0.0],   # by hand
                  [0.0, 0.0, 0.0]])  # not fitted: NaN
    s = F.kim_score(W)
    assert s[0] == pytest.approx(1.0)
    assert s[1] == pytest.approx(0.0, abs=1e-12)
    p = np.array([0.75, 0.25])
    assert s[2] == pytest.approx(1 + (p * np.log2(p)).sum() / np.log2(3))
    assert np.isnan(s[3])


def test_kim_score_is_scale_free_per_gene():
    rng = np.random.default_rng(0)
    W = rng.uniform(size=(50, 4))
    np.testing.assert_allclose(F.kim_score(W * rng.uniform(1, 100, size=(50, 1))), F.kim_score(W))


def test_mad_matches_normal_consistent_estimate():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    assert F.mad(x) == pytest.approx(1.4826 * 1.0)


def test_kim_select_rule():
    rng = np.random.default_rng(1)
    base = rng.uniform(1, 2, size=200)  # unspecific background: near-equal loadings
    W = np.column_stack([base, base * rng.uniform(0.95, 1.05, size=200)])
    W[:5] = [[30.0, 0.1]] * 5             # specific to metagene 0, large
    W[5:8] = [[0.1, 30.0]] * 3            # specific to metagene 1, large
    W[8:10] = [[0.02, 0.0001]] * 2        # specific but tiny: fails the loading rule
    metagene, score, threshold = F.kim_select(W)
    assert threshold == pytest.approx(np.median(score) + 3 * F.mad(score))
    assert set(np.flatnonzero(metagene == 0)) == set(range(5))
    assert set(np.flatnonzero(metagene == 1)) == {5, 6, 7}
    assert score[8] >= threshold and metagene[8] == -1
    assert (metagene[10:] == -1).all()


def test_top_loading_and_contribution():
    W = np.array([[9.0, 1.0], [5.0, 5.0], [1.0, 8.0], [0.0, 0.0], [4.0, 0.5]])
    top = F.top_loading(W, 2)
    assert top[0].tolist() == [0, 1] and top[1].tolist() == [2, 1]
    np.testing.assert_allclose(F.shares(W)[0], [0.9, 0.1])
    assert F.contribution_select(W, 0.85).tolist() == [0, -1, 1, -1, 0]
    np.testing.assert_allclose(F.scale_basis(W).sum(axis=0), 1.0)


@pytest.mark.parametrize(
    "W, match",
    [(np.ones(4), "2-D"), (np.ones((4, 1)), "at least 2"), (-np.ones((3, 2)), "negative"),
     (np.full((3, 2), np.nan), "NaN")],
)
def test_bad_basis(W, match):
    with pytest.raises(ValueError, match=match):
        F.kim_score(W)


def test_bad_options():
    with pytest.raises(ValueError, match="min_share"):
        F.contribution_select(np.ones((3, 2)), 0.4)
    with pytest.raises(ValueError, match="n_top"):
        F.top_loading(np.ones((3, 2)), 0)


# ---------------------------------------------------------------- AnnData level, on Golub


@pytest.fixture(scope="module")
def golub():
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=20, random_state=0, verbose=False)
    return adata


def _metagene_of(adata, label: str) -> str:
    """The rank-2 cluster (= metagene index) holding most samples of class ``label``."""
    clusters = pd.Series(adata.uns["nmf"]["clusters"]["2"].astype(str), index=adata.obs_names)
    return clusters[adata.obs["ALL_AML"] == label].mode()[0]


def test_golub_markers_in_kim_signatures(golub):
    """Golub's AML markers define the AML metagene at rank 2, the ALL markers the ALL metagene.

    All seven probes (CST3 M27891_at, zyxin X95735_at, CD33 M23197_at, adipsin M84526_at;
    MB-1/CD79A U05259_rna1_at, TCF3 M31523_at, CCND3 M92287_at) are among the 5000 genes, and
    the Kim & Park selection finds every one in the right metagene and none in the other.
    """
    adata = golub.copy()
    bionmf.tl.signatures(adata, rank=2, method="kim")
    table = adata.uns["nmf_signatures"]["table"]
    aml, all_ = _metagene_of(adata, "AML"), _metagene_of(adata, "ALL")
    assert aml != all_
    for markers, mine, other in ((AML_MARKERS, aml, all_), (ALL_MARKERS, all_, aml)):
        present = [p for p in markers if p in adata.var_names]
        assert present == list(markers), f"probes missing from the 5000: {set(markers) - set(present)}"
        found = set(table.loc[table["metagene"] == mine, "gene"]) & set(present)
        missing = {p: markers[p] for p in present if p not in found}
        assert not missing, f"markers not in metagene {mine}'s signature: {missing}"
        assert not set(table.loc[table["metagene"] == other, "gene"]) & set(present)


def test_golub_markers_lead_contribution_and_loading(golub):
    """Shares: every marker holds >= 80 % of its loading in its class's metagene. Top-50 loading,
    which favours highly expressed genes, still finds CST3 (AML) and MB-1 and CCND3 (ALL)."""
    adata = golub.copy()
    aml, all_ = _metagene_of(adata, "AML"), _metagene_of(adata, "ALL")
    bionmf.tl.signatures(adata, rank=2, method="contribution", min_share=0.8)
    t = adata.uns["nmf_signatures"]["table"]
    assert set(AML_MARKERS) <= set(t.loc[t["metagene"] == aml, "gene"])
    assert set(ALL_MARKERS) <= set(t.loc[t["metagene"] == all_, "gene"])
    bionmf.tl.signatures(adata, rank=2, method="loading", n_top=50)
    t = adata.uns["nmf_signatures"]["table"]
    assert "M27891_at" in set(t.loc[t["metagene"] == aml, "gene"])
    assert {"U05259_rna1_at", "M92287_at"} <= set(t.loc[t["metagene"] == all_, "gene"])


def test_signatures_table_contract(golub):
    adata = golub.copy()
    bionmf.tl.signatures(adata, method="kim", key_added="sig")
    out = adata.uns["sig"]
    table, params = out["table"], out["params"]
    assert list(table.columns) == ["metagene", "gene", "order", "score", "loading", "share", "kim_score"]
    assert params["rank"] == adata.uns["nmf"]["rank"] and params["method"] == "kim"
    k = params["rank"]
    assert list(table["metagene"].cat.categories) == [str(a) for a in range(k)]
    for a, group in table.groupby("metagene", observed=True):
        assert group["order"].tolist() == list(range(1, len(group) + 1))
        assert (np.diff(group["score"].to_numpy()) <= 1e-12).all()  # strongest first
        assert (group["kim_score"] >= params["threshold"]).all()
        assert (group["share"] == group[["share"]].max(axis=1)).all()
        np.testing.assert_array_equal(out["gene_sets"][f"nmf_k{k}_metagene{a}"], group["gene"].to_numpy())
    assert table["gene"].is_unique  # Kim assigns a gene to one metagene
    score = adata.var["sig_kim_score"]
    assert score.notna().all() and score.between(0, 1).all()
    np.testing.assert_allclose(score[table["gene"]].to_numpy(), table["kim_score"].to_numpy())


def test_n_top_and_rank(golub):
    adata = golub.copy()
    bionmf.tl.signatures(adata, rank=3, method="kim", n_top=5)
    t = adata.uns["nmf_signatures"]["table"]
    assert adata.uns["nmf_signatures"]["params"]["rank"] == 3
    assert t.groupby("metagene", observed=False).size().max() <= 5
    assert set(t["metagene"].astype(str)) <= {"0", "1", "2"}


def test_scale_false_is_r_package_basis(golub):
    """With scale=False the raw basis is scored: the score equals the formula on varm directly."""
    adata = golub.copy()
    bionmf.tl.signatures(adata, rank=2, scale=False)
    W = adata.uns["nmf"]["basis"]["2"]
    np.testing.assert_allclose(adata.var["nmf_signatures_kim_score"].to_numpy(), F.kim_score(W))


def test_copy_and_errors_leave_input_unchanged(golub):
    adata = golub.copy()
    new = bionmf.tl.signatures(adata, copy=True)
    assert "nmf_signatures" in new.uns and "nmf_signatures" not in adata.uns
    with pytest.raises(ValueError, match=r"rank 7 was not surveyed.*\[2, 3\]"):
        bionmf.tl.signatures(adata, rank=7)
    with pytest.raises(ValueError, match="method must be one of"):
        bionmf.tl.signatures(adata, method="entropy")
    with pytest.raises(ValueError, match="no 'other'"):
        bionmf.tl.signatures(adata, key="other")
    with pytest.raises(ValueError, match="min_share"):
        bionmf.tl.signatures(adata, method="contribution", min_share=0.3)
    with pytest.raises(TypeError, match="AnnData"):
        bionmf.tl.signatures(adata.X)
    assert "nmf_signatures" not in adata.uns and "nmf_signatures_kim_score" not in adata.var


def _strict_gmt(path) -> dict[str, tuple[str, list[str]]]:
    """GMT as GSEA defines it: per line name TAB description TAB gene..., no empty field."""
    sets = {}
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw
    for line in raw.decode("ascii").split("\n")[:-1]:
        fields = line.split("\t")
        assert len(fields) >= 3, f"line with no gene: {line!r}"
        assert all(f and f == f.strip() for f in fields), f"empty or padded field in {line!r}"
        assert fields[0] not in sets
        assert len(set(fields[2:])) == len(fields) - 2, "repeated gene"
        sets[fields[0]] = (fields[1], fields[2:])
    return sets


def test_gmt_and_tsv_output(golub, tmp_path):
    adata = golub.copy()
    bionmf.tl.signatures(adata, rank=2)
    out = adata.uns["nmf_signatures"]
    descriptions = out["descriptions"]
    assert descriptions["nmf_k2_metagene1"] == "bionmf kim signature of metagene 1 at rank 2 (consensus cluster 1)"
    bionmf.io.write_gmt(out["gene_sets"], tmp_path / "sig.gmt", descriptions=descriptions)
    parsed = _strict_gmt(tmp_path / "sig.gmt")
    assert set(parsed) == {"nmf_k2_metagene0", "nmf_k2_metagene1"}
    for name, (text, genes) in parsed.items():
        assert text == descriptions[name]
        assert genes == list(out["gene_sets"][name])
    assert bionmf.io.read_gmt(tmp_path / "sig.gmt") == {n: g for n, (_, g) in parsed.items()}
    # the reader of GSEApy (Fang et al. 2023), as users load gene sets for enrichment
    gseapy = pytest.importorskip("gseapy") if not os.environ.get("CI") else __import__("gseapy")
    assert gseapy.read_gmt(str(tmp_path / "sig.gmt")) == {n: g for n, (_, g) in parsed.items()}

    out["table"].to_csv(tmp_path / "sig.tsv", sep="\t", index=False)
    back = pd.read_csv(tmp_path / "sig.tsv", sep="\t", dtype={"metagene": str})
    pd.testing.assert_frame_equal(back, out["table"].astype({"metagene": str}))


def test_h5ad_round_trip(golub, tmp_path):
    adata = golub.copy()
    bionmf.tl.signatures(adata)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    pd.testing.assert_frame_equal(back.uns["nmf_signatures"]["table"], adata.uns["nmf_signatures"]["table"])
    for name, genes in adata.uns["nmf_signatures"]["gene_sets"].items():
        assert list(back.uns["nmf_signatures"]["gene_sets"][name]) == list(genes)


@pytest.mark.r
@pytest.mark.slow
def test_kim_selection_matches_r_package(golub, tmp_path):
    """extractFeatures(W) of the R package NMF selects the same genes for the same metagenes."""
    rscript = require_tool("Rscript")
    W = adata_basis = golub.uns["nmf"]["basis"]["2"]
    np.savetxt(tmp_path / "W.tsv", W, delimiter="\t", fmt="%.17g")
    script = (
        "suppressMessages(library(NMF)); W <- as.matrix(read.table(commandArgs(TRUE)[1], sep='\\t'));"
        "f <- extractFeatures(W, method='kim');"
        "for (a in seq_along(f)) if (!all(is.na(f[[a]]))) cat(paste(a - 1, f[[a]] - 1, sep='\\t'), sep='\\n')"
    )
    result = subprocess.run([rscript, "-e", script, str(tmp_path / "W.tsv")], capture_output=True, text=True,
                            check=True)
    r_pairs = {tuple(int(v) for v in line.split("\t")) for line in result.stdout.split("\n") if line}
    metagene, _, _ = F.kim_select(adata_basis)
    ours = {(int(metagene[i]), int(i)) for i in np.flatnonzero(metagene >= 0)}
    assert len(ours) > 100
    assert ours == r_pairs
