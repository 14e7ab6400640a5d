"""bionmf.io: readers and writers on real files and on small files written here."""

from __future__ import annotations

import gzip
import logging

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import bionmf
from bionmf import io
from tests.conftest import require_shared_data


def _small(seed=0, n_obs=5, n_vars=7, *, integer=False, nan=False) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 50.0, size=(n_obs, n_vars))
    if integer:
        X = np.round(X).astype(np.int64)
    if nan:
        X[1, 2] = np.nan
    obs = pd.DataFrame(index=[f"S{i}" for i in range(n_obs)])
    var = pd.DataFrame(index=[f"G{j}_at" for j in range(n_vars)])
    return ad.AnnData(X=X, obs=obs, var=var)


def _no_leftovers(directory, keep=()):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


# --- GCT -----------------------------------------------------------------------------------------

def test_gct_12_round_trip_exact(tmp_path):
    adata = _small(nan=True)
    adata.var["description"] = [f"gene number {j}, with comma" for j in range(adata.n_vars)]
    path = tmp_path / "m.gct"
    io.write_gct(adata, path)
    text = path.read_text().splitlines()
    assert text[0] == "#1.2" and text[1] == "7\t5"
    assert text[2].split("\t")[:3] == ["Name", "Description", "S0"]
    back = io.read(path)
    assert back.uns["gct_version"] == "1.2"
    np.testing.assert_array_equal(back.X, adata.X)  # exact, NaN included
    assert list(back.obs_names) == list(adata.obs_names)
    assert list(back.var_names) == list(adata.var_names)
    assert list(back.var["description"]) == list(adata.var["description"])


def test_gct_13_round_trip_with_metadata(tmp_path):
    adata = _small(integer=True)
    adata.obs["group"] = ["a", "b", "a", "c", "b"]
    adata.obs["age"] = [31, 45, 52, 60, 28]
    adata.obs["score"] = [0.5, np.nan, 1.25, 2.0, -3.5]
    adata.var["symbol"] = ["TP53", "MYC", "EGFR", "KRAS", "PTEN", "RB1", np.nan]
    adata.var["nmf_use"] = [True, False, True, True, False, True, True]
    path = tmp_path / "m.gct.gz"
    io.write_gct(adata, path)
    with gzip.open(path, "rt") as handle:
        assert handle.readline() == "#1.3\n"
        assert handle.readline() == "7\t5\t2\t3\n"
    back = io.read_gct(path)
    np.testing.assert_array_equal(back.X, adata.X)
    pd.testing.assert_index_equal(back.obs_names, adata.obs_names)
    pd.testing.assert_index_equal(back.var_names, adata.var_names)
    assert list(back.obs["group"]) == ["a", "b", "a", "c", "b"]
    assert back.obs["age"].dtype == np.int64 and list(back.obs["age"]) == [31, 45, 52, 60, 28]
    np.testing.assert_array_equal(back.obs["score"].to_numpy(), adata.obs["score"].to_numpy())
    assert list(back.var["symbol"][:6]) == ["TP53", "MYC", "EGFR", "KRAS", "PTEN", "RB1"]
    assert pd.isna(back.var["symbol"].iloc[6])
    assert back.var["nmf_use"].dtype == bool
    assert list(back.var["nmf_use"]) == list(adata.var["nmf_use"])


def test_gct_reads_crlf_and_sparse_written(tmp_path):
    adata = _small()
    adata.X = sp.csr_matrix(np.where(adata.X > 100, adata.X, 0))
    path = tmp_path / "m.gct"
    io.write_gct(adata, path)
    crlf = tmp_path / "crlf.gct"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    back = io.read(crlf)
    np.testing.assert_array_equal(back.X, adata.X.toarray())
    assert list(back.var_names) == list(adata.var_names)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("#1.4\n1\t2\n", "starts with '#1.2' or '#1.3'"),
        ("#1.2\n2\tx\nName\tDescription\tA\tB\n", "numbers of rows and columns"),
        ("#1.2\n2\t2\nName\tDescription\tA\tB\ng1\td\t1\t2\n", "announces 2 genes but the file holds 1"),
        ("#1.2\n1\t3\nName\tDescription\tA\tB\ng1\td\t1\t2\n", "header line has 4 fields"),
    ],
)
def test_gct_malformed_headers(tmp_path, content, message):
    path = tmp_path / "bad.gct"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        io.read_gct(path)


def test_gct_non_numeric_cell_named(tmp_path):
    path = tmp_path / "bad.gct"
    path.write_text("#1.2\n3\t3\nName\tDescription\tA\tB\tC\n"
                    "g1\td\t1\t2\t3\ng2\td\t4\t5,5\t6\ng3\td\tNA\t\t7 mg\n")
    with pytest.raises(ValueError, match="2 non-numeric cells") as error:
        io.read_gct(path)
    text = str(error.value)
    assert "gene 'g2', sample 'B': '5,5'" in text
    assert "gene 'g3', sample 'C': '7 mg'" in text


def test_gct_trailing_tabs(tmp_path):
    path = tmp_path / "excel.gct"
    path.write_text("#1.2\n2\t2\t\nName\tDescription\tA\tB\t\ng1\td\t1\t2\t\ng2\td\t3\t4\t\n")
    adata = io.read_gct(path)
    assert list(adata.obs_names) == ["A", "B"]
    np.testing.assert_array_equal(adata.X, [[1, 3], [2, 4]])


def test_gct_missing_values_become_nan(tmp_path):
    path = tmp_path / "na.gct"
    path.write_text("#1.2\n2\t3\nName\tDescription\tA\tB\tC\ng1\td\t1\tNA\t3\ng2\td\t\t5\tNaN\n")
    adata = io.read_gct(path)
    assert np.isnan(adata.X).sum() == 3
    assert adata.X[0, 0] == 1 and adata.X[1, 1] == 5


def test_gct_duplicate_names(tmp_path):
    path = tmp_path / "dup.gct"
    path.write_text("#1.2\n3\t3\nName\tDescription\tA\tB\tA\ng1\td\t1\t2\t3\ng2\td\t4\t5\t6\ng1\td\t7\t8\t9\n")
    with pytest.raises(ValueError, match=r"1 duplicate sample name \(A\).*make_unique=True"):
        io.read_gct(path)
    adata = io.read_gct(path, make_unique=True)
    assert list(adata.obs_names) == ["A", "B", "A-1"]
    assert list(adata.var_names) == ["g1", "g2", "g1-1"]
    np.testing.assert_array_equal(adata.X[:, 2], [7, 8, 9])


def test_write_gct_refuses_tabs_and_leaves_no_file(tmp_path):
    adata = _small()
    adata.obs["note"] = ["ok", "tab\there", "ok", "ok", "ok"]
    path = tmp_path / "out.gct"
    with pytest.raises(ValueError, match="tab or line break"):
        io.write_gct(adata, path)
    assert _no_leftovers(tmp_path) == []


def test_write_gct_failure_midway_removes_temporary(tmp_path, monkeypatch):
    adata = _small()
    path = tmp_path / "out.gct"
    path.write_text("previous content\n")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("bionmf.io._gct.format_values", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        io.write_gct(adata, path)
    assert _no_leftovers(tmp_path) == ["out.gct"]
    assert path.read_text() == "previous content\n"


# --- tables --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["m.tsv", "m.csv", "m.txt.gz", "m.csv.gz"])
def test_table_round_trip(tmp_path, name):
    adata = _small(seed=3, nan=True)
    path = tmp_path / name
    io.write_table(adata, path)
    back = io.read(path)
    np.testing.assert_array_equal(back.X, adata.X)
    pd.testing.assert_index_equal(back.obs_names, adata.obs_names)
    pd.testing.assert_index_equal(back.var_names, adata.var_names)


def test_table_samples_as_rows(tmp_path):
    adata = _small(seed=4, integer=True)
    path = tmp_path / "samples_x_genes.csv"
    io.write_table(adata, path, transpose=False)
    assert path.read_text().splitlines()[0].startswith("Name,G0_at,G1_at")
    back = io.read(path, transpose=False)
    np.testing.assert_array_equal(back.X, adata.X)
    assert list(back.obs_names) == list(adata.obs_names)
    # Read the other way round, genes and samples swap, with a warning: the probe ids say so.
    with pytest.warns(UserWarning, match="look like gene identifiers"):
        swapped = io.read(path)
    assert swapped.shape == (adata.n_vars, adata.n_obs)


def test_table_description_and_meta_columns(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("Gene\tDescription\tSymbol\tA\tB\tC\n"
                    "g1\tfirst\tTP53\t1\t2\t3\ng2\tsecond\tMYC\t4\t5\t6\r\n")
    adata = io.read(path, meta_columns=["Symbol"])
    assert adata.shape == (3, 2)
    assert list(adata.var["description"]) == ["first", "second"]
    assert list(adata.var["Symbol"]) == ["TP53", "MYC"]
    with pytest.raises(ValueError, match=r"non-numeric cells.*'TP53'.*1 column holds only text \(Symbol\).*"
                                         "meta_columns="):
        io.read(path)


def test_table_r_style_header(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("A\tB\tC\ng1\t1\t2\t3\ng2\t4\t5\t6\n")
    adata = io.read(path)
    assert list(adata.obs_names) == ["A", "B", "C"]
    assert list(adata.var_names) == ["g1", "g2"]
    np.testing.assert_array_equal(adata.X, [[1, 4], [2, 5], [3, 6]])


def test_table_non_numeric_and_duplicates(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Name,A,B,C\ng1,1,2,3\ng2,4,five,6\n")
    with pytest.raises(ValueError, match="1 non-numeric cell .*gene 'g2', sample 'B': 'five'"):
        io.read(path)
    path.write_text("Name,A,B,C\ng1,1,2,3\ng1,4,5,6\n")
    with pytest.raises(ValueError, match=r"1 duplicate gene name \(g1\)"):
        io.read(path)
    path.write_text("Name,A,B,A\ng1,1,2,3\ng2,4,5,6\n")  # pandas alone would rename the second A
    with pytest.raises(ValueError, match=r"1 duplicate sample name \(A\)"):
        io.read(path)
    assert list(io.read(path, make_unique=True).obs_names) == ["A", "B", "A-1"]


def test_table_headerless_with_names_file(tmp_path):
    data = tmp_path / "data.txt"
    data.write_bytes(b"1\t2\t3\r\n4\t5\t6\r\n")
    genes = tmp_path / "genes.txt"
    genes.write_bytes(b"Name\tDescription\r\ng1\tfirst, quoted\r\ng2\tsecond\r\n")
    adata = io.read(data, header=False, index_col=None, genes=genes)
    assert list(adata.var_names) == ["g1", "g2"]
    assert list(adata.obs_names) == ["sample_1", "sample_2", "sample_3"]
    assert list(adata.var["description"]) == ["first, quoted", "second"]
    genes.write_text("Name\ng1\ng2\ng3\n")
    with pytest.raises(ValueError, match="has 2 genes but the names file .* lists 3"):
        io.read(data, header=False, index_col=None, genes=genes)
    named = tmp_path / "named.txt"
    named.write_text("g1\t1\t2\ng2\t3\t4\n")
    adata = io.read(named, header=False, obs_names=["A", "B"])  # row names in the first column
    assert list(adata.var_names) == ["g1", "g2"] and list(adata.obs_names) == ["A", "B"]
    with pytest.raises(ValueError, match="2 non-numeric cells .*'g1'"):
        io.read(named, header=False, var_names=["x", "y"])  # names given: the first column is data


def test_unknown_format_and_missing_file(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    with pytest.raises(ValueError, match="cannot tell the format of 'data.xlsx'"):
        io.read(path)
    with pytest.raises(FileNotFoundError):
        io.read(tmp_path / "absent.gct")
    with pytest.raises(ValueError, match="transpose= applies to tables"):
        io.read(path, format="gct", transpose=False)


# --- the real data sets --------------------------------------------------------------------------

def test_golub_files_as_on_disk_match_bundled():
    folder = require_shared_data("golub")
    adata = io.read(folder / "ALL_AML_data.txt", header=False, index_col=None,
                    genes=folder / "ALL_AML_genes.txt", annotation=folder / "ALL_AML_sample_labels.tsv")
    ref = bionmf.datasets.golub()
    np.testing.assert_array_equal(adata.X, ref.X)
    pd.testing.assert_frame_equal(adata.obs, ref.obs)
    pd.testing.assert_frame_equal(adata.var, ref.var)
    assert adata.X.min() == 20 and adata.X.max() == 61225


def test_medulloblastoma_files():
    folder = require_shared_data("medulloblastoma")
    adata = io.read(folder / "Medulloblastoma_data.txt", header=False,  # no id column: index_col auto
                    genes=folder / "Medulloblastoma_genes.txt",
                    annotation=folder / "Medulloblastoma_sample_labels.tsv")
    assert adata.shape == (34, 5893)
    assert adata.X.min() >= 20 and adata.X.max() <= 16000
    assert adata.obs["histology_code"].value_counts().to_dict() == {"C": 25, "D": 9}
    assert list(adata.obs["histology_code"][:25]) == ["C"] * 25
    assert adata.var_names[0] == "AFFX-BioB-3_at"
    assert not any(n.endswith("\r") for n in adata.var["description"])


def test_cns_table():
    path = require_shared_data("cns", "CNS34_genes_x_samples.tsv")
    adata = io.read(path)
    assert adata.shape == (34, 1379)
    classes = adata.obs_names.str.split("_").str[0]
    assert classes.value_counts().to_dict() == {"MD": 10, "Mglio": 10, "Rhab": 10, "Ncer": 4}
    assert adata.X.min() >= 10 and adata.X.max() <= 16000


def test_h5ad_pbmc3k_and_paul15():
    pbmc = io.read(require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad"))
    assert pbmc.shape == (2700, 32738)
    assert sp.issparse(pbmc.X) and pbmc.X.dtype == np.int32
    labels = require_shared_data("pbmc3k", "seurat_annotation_labels.csv")
    plain = io.read(require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad"), annotation=labels)
    counts = plain.obs["cell_type"].value_counts()
    assert counts["Naive CD4 T"] == 697 and counts["Platelet"] == 14
    paul = io.read(require_shared_data("paul15", "paul15_subset_counts.h5ad"))
    assert paul.shape == (2660, 3004)
    table = require_shared_data("paul15", "obs_metadata.csv")
    joined = io.read(require_shared_data("paul15", "paul15_subset_counts.h5ad"), annotation=table)
    for column in ("cluster", "cell_type", "CD34_measurement", "paul15_clusters_scanpy_style"):
        np.testing.assert_array_equal(joined.obs[column].astype(str), paul.obs[column].astype(str))
    assert joined.obs["CD34_measurement"].dtype.kind == "f"


# --- 10x -----------------------------------------------------------------------------------------

def _tenx_counts(seed=1):
    rng = np.random.default_rng(seed)
    counts = sp.random(6, 5, density=0.5, format="csr", random_state=seed, dtype=np.float32)
    counts.data = np.ceil(counts.data * 20)
    barcodes = [f"AAAC{i}-1" for i in range(6)]
    ids = [f"ENSG0000{j}" for j in range(5)]
    symbols = ["CD3E", "MS4A1", "CD3E", "LYZ", "NKG7"]  # a repeated symbol, as in real data
    del rng
    return counts, barcodes, ids, symbols


def _write_mtx_dir(folder, counts, barcodes, ids, symbols, *, v3=True):
    folder.mkdir()
    if v3:
        with gzip.open(folder / "matrix.mtx.gz", "wb") as handle:
            scipy.io.mmwrite(handle, sp.csr_matrix(counts.T), field="integer")
        with gzip.open(folder / "features.tsv.gz", "wt") as handle:
            handle.writelines(f"{i}\t{s}\tGene Expression\n" for i, s in zip(ids, symbols))
        with gzip.open(folder / "barcodes.tsv.gz", "wt") as handle:
            handle.writelines(f"{b}\n" for b in barcodes)
    else:
        scipy.io.mmwrite(folder / "matrix.mtx", sp.csr_matrix(counts.T), field="integer")
        (folder / "genes.tsv").write_text("".join(f"{i}\t{s}\n" for i, s in zip(ids, symbols)))
        (folder / "barcodes.tsv").write_text("".join(f"{b}\n" for b in barcodes))


@pytest.mark.parametrize("v3", [True, False])
def test_10x_mtx_directory(tmp_path, v3):
    counts, barcodes, ids, symbols = _tenx_counts()
    folder = tmp_path / "filtered_feature_bc_matrix"
    _write_mtx_dir(folder, counts, barcodes, ids, symbols, v3=v3)
    adata = io.read(folder)
    assert sp.issparse(adata.X)
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray())
    assert list(adata.obs_names) == barcodes
    assert list(adata.var_names) == ["CD3E", "MS4A1", "CD3E-1", "LYZ", "NKG7"]
    assert list(adata.var["gene_ids"]) == ids
    by_id = io.read_10x(folder, var_names="gene_ids")
    assert list(by_id.var_names) == ids
    with pytest.raises(ValueError, match="repeated gene names \\(CD3E\\)"):
        io.read_10x(folder, make_unique=False)


def test_10x_h5(tmp_path):
    counts, barcodes, ids, symbols = _tenx_counts(seed=2)
    csc = sp.csc_matrix(counts.T.astype(np.int32))  # Cell Ranger stores genes x cells, CSC
    path = tmp_path / "filtered_feature_bc_matrix.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("matrix")
        group["barcodes"] = np.array(barcodes, dtype="S")
        group["data"] = csc.data
        group["indices"] = csc.indices.astype(np.int64)
        group["indptr"] = csc.indptr.astype(np.int64)
        group["shape"] = np.array(csc.shape, dtype=np.int32)
        features = group.create_group("features")
        features["id"] = np.array(ids, dtype="S")
        features["name"] = np.array(symbols, dtype="S")
        features["feature_type"] = np.array(["Gene Expression"] * len(ids), dtype="S")
        features["genome"] = np.array(["GRCh38"] * len(ids), dtype="S")
        features["_all_tag_keys"] = np.array([b"genome"])
    adata = io.read(path)
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray())
    assert list(adata.obs_names) == barcodes
    assert list(adata.var_names) == ["CD3E", "MS4A1", "CD3E-1", "LYZ", "NKG7"]
    by_id = io.read(path, var_names="gene_ids")
    assert list(by_id.var_names) == ids
    assert list(by_id.var["gene_symbols"]) == symbols


def test_h5ad_round_trip_with_annotation(tmp_path):
    adata = _small(seed=5)
    path = tmp_path / "x.h5ad"
    adata.write_h5ad(path)
    labels = pd.DataFrame({"sample": ["S4", "S0", "S2", "S1", "S3", "extra"],
                           "group": ["b", "a", "a", "b", "b", "z"],
                           "age": [40, 31, 52, 28, 60, 1]})
    table = tmp_path / "labels.csv"
    labels.to_csv(table, index=False)
    back = io.read(path, annotation=table)
    np.testing.assert_array_equal(back.X, adata.X)
    assert list(back.obs["group"]) == ["a", "b", "a", "b", "b"]
    assert isinstance(back.obs["group"].dtype, pd.CategoricalDtype)
    assert back.obs["age"].dtype.kind in "if" and list(back.obs["age"]) == [31, 28, 52, 60, 40]


# --- annotation ----------------------------------------------------------------------------------

def test_annotation_problems(tmp_path):
    adata = _small()
    partial = pd.DataFrame({"group": ["a", "b"]}, index=["S0", "S1"])
    with pytest.warns(UserWarning, match=r"no row for 3 samples \(S2, S3, S4\)"):
        io.annotate(adata, partial)
    assert adata.obs["group"].isna().sum() == 3
    with pytest.raises(ValueError, match="none of the 5 sample names"):
        io.annotate(_small(), pd.DataFrame({"g": [1]}, index=["other"]))
    dup = tmp_path / "dup.tsv"
    dup.write_text("sample\tg\nS0\ta\nS0\tb\n")
    untouched = _small()
    with pytest.raises(ValueError, match=r"1 sample name appears more than once \(S0\)"):
        io.annotate(untouched, dup)
    assert list(untouched.obs.columns) == []
    with pytest.raises(ValueError, match="by='order' needs one row per sample"):
        io.annotate(_small(), pd.DataFrame({"g": [1]}, index=["x"]), by="order")


# --- GMT -----------------------------------------------------------------------------------------

def test_gmt_round_trip(tmp_path):
    sets = {"metagene_1": ["TP53", "MYC", "TP53", "EGFR"], "metagene_2": ["CD19"]}
    path = tmp_path / "sets.gmt"
    io.write_gmt(sets, path, descriptions={"metagene_1": "rank 2, factor 1"})
    assert path.read_text().splitlines()[0] == "metagene_1\trank 2, factor 1\tTP53\tMYC\tEGFR"
    back, texts = io.read_gmt(path, descriptions=True)
    assert back == {"metagene_1": ["TP53", "MYC", "EGFR"], "metagene_2": ["CD19"]}
    assert texts == {"metagene_1": "rank 2, factor 1", "metagene_2": "na"}


def test_gmt_from_dataframes(tmp_path):
    wide = pd.DataFrame({"f1": ["A", "B", "C"], "f2": ["D", np.nan, np.nan]})
    io.write_gmt(wide, tmp_path / "w.gmt", descriptions="top genes")
    assert io.read_gmt(tmp_path / "w.gmt") == {"f1": ["A", "B", "C"], "f2": ["D"]}
    member = pd.DataFrame({"f1": [True, False, True], "f2": [False, True, True]}, index=["g1", "g2", "g3"])
    io.write_gmt(member, tmp_path / "m.gmt.gz")
    assert io.read_gmt(tmp_path / "m.gmt.gz") == {"f1": ["g1", "g3"], "f2": ["g2", "g3"]}


def test_gmt_errors_leave_no_file(tmp_path):
    with pytest.raises(ValueError, match=r"1 gene set without genes \(empty\)"):
        io.write_gmt({"ok": ["A"], "empty": []}, tmp_path / "a.gmt")
    with pytest.raises(ValueError, match="tab or line break"):
        io.write_gmt({"bad\tname": ["A"]}, tmp_path / "a.gmt")
    with pytest.raises(TypeError, match="single string"):
        io.write_gmt({"s": "ABC"}, tmp_path / "a.gmt")
    assert _no_leftovers(tmp_path) == []
    (tmp_path / "dup.gmt").write_text("s\tna\tA\ns\tna\tB\n")
    with pytest.raises(ValueError, match="'s' appears twice"):
        io.read_gmt(tmp_path / "dup.gmt")


def test_reader_logs_nothing_to_stdout(tmp_path, capsys, caplog):
    adata = _small()
    io.write_table(adata, tmp_path / "m.tsv")
    with caplog.at_level(logging.INFO, logger="bionmf"):
        io.read(tmp_path / "m.tsv")
    assert capsys.readouterr().out == ""
