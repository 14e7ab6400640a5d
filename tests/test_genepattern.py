"""GenePattern NMFConsensus cluster files: layout checked by a strict GCT 1.2 parser and by bionmf.io.read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import leaves_list

import bionmf
from bionmf.core.consensus import consensus_linkage, misassigned


def strict_gct(path):
    """Parse a GCT 1.2 file, failing on anything the format does not allow.

    Returns (row names, descriptions, column names, int matrix rows x columns)."""
    raw = path.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n"), "LF line endings, last line terminated"
    lines = raw.decode("utf-8").split("\n")[:-1]
    assert lines[0] == "#1.2"
    dims = lines[1].split("\t")
    assert len(dims) == 2 and all(d.isdigit() for d in dims)
    n_rows, n_cols = map(int, dims)
    header = lines[2].split("\t")
    assert header[:2] == ["Name", "Description"] and len(header) == 2 + n_cols
    body = lines[3:]
    assert len(body) == n_rows, "row count announced on line 2"
    names, descs, values = [], [], []
    for line in body:
        fields = line.split("\t")
        assert len(fields) == 2 + n_cols
        assert all(f == f.strip() and f for f in fields)
        names.append(fields[0])
        descs.append(fields[1])
        values.append([int(v) for v in fields[2:]])  # cluster numbers: plain integers
    assert len(set(names)) == len(names)
    return names, descs, header[2:], np.array(values, dtype=np.int64).reshape(n_rows, n_cols)


@pytest.fixture(scope="module")
def golub():
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=8, random_state=0, verbose=False)
    return adata


def test_membership_and_consensus_k_files(golub, tmp_path):
    paths = bionmf.io.write_genepattern(golub, tmp_path, prefix="golub")
    assert [p.name for p in paths] == ["golub.membership.gct", "golub.consensus.k.2.gct", "golub.consensus.k.3.gct"]
    survey = golub.uns["nmf"]

    names, descs, columns, M = strict_gct(paths[0])
    assert names == list(golub.obs_names) and descs == names  # input order, name repeated
    assert columns == ["k=2", "k=3"]
    for j, k in enumerate([2, 3]):
        np.testing.assert_array_equal(M[:, j], survey["clusters"][str(k)] + 1)  # 1-based, as cutree
        assert set(M[:, j]) == set(range(1, k + 1))
    # rank 2 splits ALL from AML (Brunet et al. 2004: one or two samples misassigned)
    assert misassigned(M[:, 0], golub.obs["ALL_AML"].to_numpy()) <= 2

    for k, path in zip([2, 3], paths[1:]):
        names, descs, columns, M = strict_gct(path)
        leaves = leaves_list(consensus_linkage(survey["consensus"][str(k)]))
        assert names == list(golub.obs_names[leaves]) and descs == names and columns == ["membership"]
        np.testing.assert_array_equal(M[:, 0], survey["clusters"][str(k)][leaves] + 1)
        # clusters are cut from this tree, so in its leaf order each is one contiguous block
        assert np.count_nonzero(np.diff(M[:, 0])) == k - 1

    back = bionmf.io.read(paths[0])  # genes-as-rows reader: GCT rows (samples) land in var
    assert list(back.var_names) == list(golub.obs_names) and list(back.obs_names) == ["k=2", "k=3"]
    np.testing.assert_array_equal(back.X.T, np.column_stack([survey["clusters"]["2"], survey["clusters"]["3"]]) + 1)
    back = bionmf.io.read(paths[2])
    assert list(back.obs_names) == ["membership"] and back.n_vars == golub.n_obs


def test_writers_refuse_bad_input(golub, tmp_path):
    with pytest.raises(ValueError, match="no survey under 'other'"):
        bionmf.io.write_genepattern(golub, tmp_path, key="other")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bionmf.io.write_genepattern(golub, tmp_path / "missing")
    bad = pd.DataFrame({2: [0, 1, 2]}, index=["a", "b", "c"])
    with pytest.raises(ValueError, match="rank 2 has cluster numbers outside 0..1"):
        bionmf.io.write_membership_gct(bad, tmp_path / "m.gct")
    assert not (tmp_path / "m.gct").exists()
    with pytest.raises(ValueError, match="permutation"):
        bionmf.io.write_consensus_k_gct(pd.Series([0, 1], index=["a", "b"]), tmp_path / "c.gct", order=[0, 0])
    tabbed = pd.DataFrame({2: [0, 1]}, index=["a\tb", "c"])
    with pytest.raises(ValueError, match="tab"):
        bionmf.io.write_membership_gct(tabbed, tmp_path / "t.gct")


def test_component_survey_files_order_by_cluster(tmp_path):
    """A component-consensus survey has no consensus tree: consensus.k.<k>.gct lists the samples by
    cluster, in input order within each."""
    adata = bionmf.datasets.simulate_singlecell(n_cells=300, n_genes=200, n_identities=3, n_activities=0,
                                                random_state=0)
    bionmf.pp.normalize(adata, preset="singlecell", n_top_genes=150)
    bionmf.tl.nmf(adata, ranks=[3], n_runs=4, algorithm="hals", consensus="components", verbose=False)
    paths = bionmf.io.write_genepattern(adata, tmp_path)
    names, _, columns, M = strict_gct(paths[1])
    clusters = adata.uns["nmf"]["clusters"]["3"]
    order = np.argsort(clusters, kind="stable")
    assert names == list(adata.obs_names[order]) and columns == ["membership"]
    np.testing.assert_array_equal(M[:, 0], clusters[order] + 1)
    assert np.all(np.diff(M[:, 0]) >= 0)
