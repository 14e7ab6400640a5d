"""Hostile inputs (issue 13): files and values that used to give a silently wrong result or a raw
traceback now give a clear error naming the file, the problem and the fix (or a visible warning
where the input may be right), leave the input unchanged and write nothing."""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import bionmf
from bionmf import io
from tests.conftest import require_shared_data

RNG = np.random.default_rng(13)
VALUES = RNG.gamma(2.0, 50.0, size=(6, 4)).round(2)  # 6 genes x 4 samples


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path, **kwargs):
    """io.read, checking that the file is left as it was and nothing is written beside it."""
    before = _digest(path) if path.is_file() else None
    siblings = sorted(path.parent.iterdir())
    try:
        return io.read(path, **kwargs)
    finally:
        if before is not None:
            assert _digest(path) == before
        assert sorted(path.parent.iterdir()) == siblings


def _no_warning(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return _read(path, **kwargs)


# --- tables without a gene-name column, R's quoting --------------------------------------------

def _r_table(path, *, row_names: bool, sep="\t", quote=True):
    q = (lambda s: f'"{s}"') if quote else (lambda s: s)
    samples = [q(f"S{j}") for j in range(VALUES.shape[1])]
    lines = [sep.join(samples if not row_names or sep == "\t" else ['""', *samples])]
    for i, row in enumerate(VALUES):
        fields = [repr(float(v)) for v in row]
        lines.append(sep.join([q(f"g{i}"), *fields] if row_names else fields))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sep, name", [("\t", "x.tsv"), (",", "x.csv"), ("\t", "x.txt")])
def test_table_without_gene_name_column_is_refused_not_short_of_a_sample(tmp_path, sep, name):
    path = _r_table(tmp_path / name, row_names=False, sep=sep)
    with pytest.raises(ValueError) as error:
        _read(path)
    message = str(error.value)
    assert str(path) in message
    assert "no gene-name column" in message and "'S0' would be lost" in message
    assert "index_col=None" in message
    # The fix works: every sample is kept, the names without R's quotes.
    adata = _no_warning(path, index_col=None)
    assert adata.obs_names.to_list() == ["S0", "S1", "S2", "S3"]
    np.testing.assert_array_equal(adata.X, VALUES.T)


def test_table_whose_first_sample_holds_repeated_whole_numbers_is_refused(tmp_path):
    path = tmp_path / "counts.tsv"
    path.write_text("A\tB\tC\n3\t1\t2\n3\t5\t6\n0\t8\t9\n")
    with pytest.raises(ValueError, match=r"numbers that repeat .*'A' would be lost.*index_col=None"):
        _read(path)


def test_headerless_matrix_without_names_is_refused_not_short_of_a_sample():
    # The Golub matrix alone (no genes= file): its first sample's values are not gene names, and
    # make_unique=True, which the duplicate-name error used to suggest, would lose that sample.
    path = require_shared_data("golub", "ALL_AML_data.txt")
    with pytest.raises(ValueError, match=r"first column holds numbers that repeat.*its first sample would be "
                                         r"lost; pass index_col=None"):
        _read(path, header=False)
    assert _no_warning(path, header=False, index_col=None).shape == (38, 5000)


def test_whole_number_gene_ids_read_with_a_warning_that_names_the_fix(tmp_path):
    # Entrez ids are numbers too: read them, but say what to do if they were values.
    path = tmp_path / "entrez.tsv"
    path.write_text("S0\tS1\tS2\tS3\n7157\t1\t2\t3\n1956\t4\t5\t6\n672\t7\t8\t9\n")
    with pytest.warns(UserWarning, match=r"all whole numbers.*index_col=None"):
        adata = _read(path)
    assert adata.var_names.to_list() == ["7157", "1956", "672"]


def test_r_default_quoting_is_removed_from_names(tmp_path):
    # write.table(row.names=TRUE): a header one field shorter, every name quoted.
    path = _r_table(tmp_path / "r.tsv", row_names=True)
    adata = _no_warning(path)
    assert adata.obs_names.to_list() == ["S0", "S1", "S2", "S3"]
    assert adata.var_names.to_list() == [f"g{i}" for i in range(6)]
    np.testing.assert_array_equal(adata.X, VALUES.T)
    # A quote inside a name (doubled by R) is kept as one.
    path.write_text('"Name"\t"S""1"\t"S2"\t"S3"\t"S4"\n"g1"\t1\t2\t3\t4\n"g2"\t5\t6\t7\t8\n')
    assert _no_warning(path).obs_names.to_list() == ['S"1', "S2", "S3", "S4"]


def test_annotation_quoted_by_r_is_matched(tmp_path):
    data = _r_table(tmp_path / "d.tsv", row_names=True)
    labels = tmp_path / "labels.tsv"
    labels.write_text('"sample"\t"class"\n"S0"\t"ALL"\n"S1"\t"AML"\n"S2"\t"ALL"\n"S3"\t"AML"\n')
    adata = _read(data, annotation=labels)
    assert adata.obs["class"].astype(str).to_list() == ["ALL", "AML", "ALL", "AML"]


# --- orientation -------------------------------------------------------------------------------

def _samples_by_genes(path, index, columns):
    frame = pd.DataFrame(RNG.gamma(2.0, 50.0, size=(len(index), len(columns))).round(2),
                         index=index, columns=columns)
    frame.index.name = "id"
    frame.to_csv(path, sep="\t")
    return path


def test_samples_by_genes_table_read_the_default_way_is_warned_by_its_shape(tmp_path):
    # 38 patients x 300 genes written with samples as rows: read as 300 "samples" x 38 "genes".
    path = _samples_by_genes(tmp_path / "t.tsv", [f"P{i}" for i in range(38)], [f"G{j}" for j in range(300)])
    with pytest.warns(UserWarning) as record:
        adata = _read(path)
    message = str(record[0].message)
    assert str(path) in message and "300 samples x 38 genes" in message
    assert "fewer genes than samples" in message and "pass transpose=False" in message
    assert adata.shape == (300, 38)  # read as asked: the warning does not guess
    assert _no_warning(path, transpose=False).shape == (38, 300)


@pytest.mark.parametrize("genes, fix", [
    ([f"ENSG{j:011d}" for j in range(400)], "pass transpose=False"),
    ([f"{1000 + j}_s_at" for j in range(400)], "pass transpose=False"),
])
def test_gene_identifiers_as_sample_names_are_warned_whatever_the_shape(tmp_path, genes, fix):
    # 500 samples x 400 genes, samples in rows: more "genes" than "samples" after the wrong
    # reading, so only the names tell.
    barcodes = ["".join("ACGT"[(i >> (2 * b)) & 3] for b in range(14)) + "-1" for i in range(500)]
    path = _samples_by_genes(tmp_path / "t.tsv", barcodes, genes)
    with pytest.warns(UserWarning, match=f"look like gene identifiers.*{fix}"):
        _read(path)
    _no_warning(path, transpose=False)


def test_genes_by_samples_table_read_as_samples_by_genes_is_warned(tmp_path):
    path = _samples_by_genes(tmp_path / "t.tsv", [f"ENSG{j:011d}" for j in range(50)],
                             [f"TCGA-{i:02d}-0001" for i in range(40)])
    with pytest.warns(UserWarning, match="samples in rows, as transpose=False says.*leave out transpose=False"):
        _read(path, transpose=False)
    _no_warning(path)


def test_small_gene_panel_with_gene_like_names_is_not_warned(tmp_path):
    # 60 genes x 200 samples, correctly oriented: the probe ids say these rows are genes.
    path = _samples_by_genes(tmp_path / "panel.tsv", [f"{200 + j}_at" for j in range(60)],
                             [f"patient{i}" for i in range(200)])
    assert _no_warning(path).shape == (200, 60)


def test_orientation_check_raises_no_false_alarm_on_the_real_data():
    for parts, kwargs in [
        (("golub", "ALL_AML_data.txt"), {"header": False, "genes": ("golub", "ALL_AML_genes.txt")}),
        (("medulloblastoma", "Medulloblastoma_data.txt"),
         {"header": False, "genes": ("medulloblastoma", "Medulloblastoma_genes.txt")}),
        (("cns", "CNS34_genes_x_samples.tsv"), {}),
    ]:
        if "genes" in kwargs:
            kwargs = {**kwargs, "genes": require_shared_data(*kwargs["genes"])}
        _no_warning(require_shared_data(*parts), **kwargs)
    from bionmf.io._names import orientation_doubt

    for parts in [("pbmc3k", "pbmc3k_raw_counts.h5ad"), ("paul15", "paul15_subset_counts.h5ad")]:
        adata = io.read(require_shared_data(*parts), backed=True)
        assert orientation_doubt(adata.obs_names, adata.var_names) is None
    for adata in (bionmf.datasets.golub(), bionmf.datasets.simulate()):
        assert orientation_doubt(adata.obs_names, adata.var_names) is None


def test_transposed_golub_is_warned(tmp_path):
    path = tmp_path / "golub_samples_in_rows.tsv"
    io.write_table(bionmf.datasets.golub(), path, transpose=False)
    with pytest.warns(UserWarning, match=r"5000 samples x 38 genes.*\(M12759_at.*gene identifiers"):
        _read(path)


def test_transposed_gct_is_warned(tmp_path):
    golub = bionmf.datasets.golub()[:, :40].copy()
    flipped = ad.AnnData(np.ascontiguousarray(golub.X.T), obs=pd.DataFrame(index=golub.var_names),
                         var=pd.DataFrame(index=golub.obs_names))
    path = tmp_path / "flipped.gct"
    io.write_gct(flipped, path)
    with pytest.warns(UserWarning, match=r"40 samples x 38 genes \(a GCT file has genes in rows\).*gene identifiers"):
        _read(path)
    io.write_gct(golub, path)
    _no_warning(path)


# --- GCT rows with a field missing or added ----------------------------------------------------

def _gct13(path, rows):
    head = ["#1.3", "3\t4\t1\t1", "id\tsymbol\tS0\tS1\tS2\tS3", "group\tna\tA\tA\tB\tB"]
    path.write_text("\n".join(head + rows) + "\n")
    return path


def test_gct_row_missing_a_metadata_field_is_refused_naming_the_line(tmp_path):
    path = _gct13(tmp_path / "x.gct", ["g1\tTP53\t1\t2\t3\t4", "g2\t5\t6\t7\t8", "g3\tCD4\t9\t10\t11\t12"])
    with pytest.raises(ValueError) as error:
        _read(path)
    message = str(error.value)
    assert str(path) in message and "line 6 ('g2'): 5 fields" in message and "needs 6" in message
    assert "shift" in message


def test_gct_row_with_an_extra_field_is_refused(tmp_path):
    path = _gct13(tmp_path / "x.gct", ["g1\tTP53\t1\t2\t3\t4", "g2\tMYC\t5\t6\t7\t8\t9", "g3\tCD4\t9\t10\t11\t12"])
    with pytest.raises(ValueError, match=r"line 6 \('g2'\): 7 fields"):
        _read(path)


def test_gct12_short_row_is_refused_and_trailing_tabs_are_not(tmp_path):
    path = tmp_path / "x.gct"
    path.write_text("#1.2\n2\t3\nName\tDescription\tA\tB\tC\ng1\tna\t1\t2\t3\ng2\tna\t4\t5\n")
    with pytest.raises(ValueError, match=r"line 5 \('g2'\): 4 fields"):
        _read(path)
    # Spreadsheet exports end lines with empty fields; an empty field inside is a missing value.
    path.write_text("#1.2\n2\t3\nName\tDescription\tA\tB\tC\t\ng1\tna\t1\t2\t3\t\t\ng2\tna\t4\t\t6\n")
    adata = _read(path)
    np.testing.assert_array_equal(adata.X, [[1, 4], [2, np.nan], [3, 6]])


def test_gct_names_quoted_are_unquoted(tmp_path):
    path = tmp_path / "x.gct"
    path.write_text('#1.2\n2\t3\nName\tDescription\t"A"\t"B"\t"C"\n"g1"\tna\t1\t2\t3\n"g2"\tna\t4\t5\t6\n')
    adata = _read(path)
    assert adata.obs_names.to_list() == ["A", "B", "C"] and adata.var_names.to_list() == ["g1", "g2"]


# --- tables whose lines do not line up -----------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("Name\tS0\tS1\tS2\ng1\t1\t2\t3\ng2\t4\t5\ng3\t1\t2\t3\n", r"line 3: 3\).*wrong sample"),
    ("Name\tS0\tS1\tS2\ng1\t1\t2\t3\ng2\t4\t5\t6\t7\ng3\t1\t2\t3\n", r"line 3: 5\)"),
    ("S1\tS2\ng1\t1\t2\t3\t4\ng2\t4\t5\t6\t7\n", r"header line has 2 fields but the data lines have 5"),
])
def test_table_line_with_a_field_missing_or_added_is_refused(tmp_path, text, words):
    # pandas pads a short line with NaN: the values after the gap would sit under the wrong sample.
    path = tmp_path / "x.tsv"
    path.write_text(text)
    with pytest.raises(ValueError, match=words) as error:
        _read(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("name, text, sep", [
    ("x.csv", "Name\tS0\tS1\tS2\ng1\t1\t2\t3\n", r"sep='\\t'"),
    ("x.tsv", "Name,S0,S1,S2\ng1,1,2,3\n", "sep=','"),
    ("x.csv", "Name;S0;S1;S2\ng1;1,5;2;3\n", "sep=';'"),
    ("x.txt", "Name S0 S1 S2\ng1 1 2 3\n", "sep=' '"),
])
def test_table_with_another_separator_names_it(tmp_path, name, text, sep):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=f"first line holds no .*{sep}"):
        _read(path)


def test_trailing_empty_fields_and_missing_last_values_are_read(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("Name\tS0\tS1\tS2\t\t\ng1\t1\t\t\t\t\ng2\t4\t5\t6\t\t\n")
    adata = _no_warning(path)
    assert adata.obs_names.to_list() == ["S0", "S1", "S2"]
    np.testing.assert_array_equal(adata.X, [[1, 4], [np.nan, 5], [np.nan, 6]])


# --- damaged, empty and wrongly named files ----------------------------------------------------

def _table_text() -> str:
    return "Name\tS0\tS1\tS2\n" + "".join(f"g{i}\t1\t2\t3\n" for i in range(2000))


@pytest.mark.parametrize("name", ["x.gct", "x.tsv", "x.csv", "x.txt", "x.h5", "x.h5ad"])
@pytest.mark.parametrize("content, problem", [
    (bytes(range(256)) * 4, r"binary data|not UTF-8|HDF5 signature"),
    (bytes(np.random.default_rng(5).integers(0x80, 0x100, 500).astype(np.uint8)),
     r"not UTF-8|HDF5 signature"),
    (b"", r"empty"),
    (b"PK\x03\x04" + bytes(200), r"zip archive|HDF5 signature|zip"),
])
def test_garbage_or_empty_file_gives_a_value_error_naming_it(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=problem) as error:
        _read(path)
    assert str(path) in str(error.value)


def test_hdf5_of_the_wrong_kind_is_named(tmp_path):
    import h5py

    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as handle:
        handle["something"] = np.arange(3)
    with pytest.raises(ValueError, match="not a Cell Ranger matrix"):
        _read(path)
    h5ad = tmp_path / "x.h5ad"
    bionmf.datasets.simulate().write_h5ad(h5ad)
    with pytest.raises(ValueError, match=f"{h5ad}.*not a Cell Ranger matrix.*format='h5ad'"):
        _read(h5ad, format="10x_h5")
    truncated = tmp_path / "cut.h5ad"
    truncated.write_bytes(h5ad.read_bytes()[: h5ad.stat().st_size // 3])
    with pytest.raises(ValueError, match=f"{truncated} .*not a readable h5ad file"):
        _read(truncated)


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_truncated_gzip_is_named(tmp_path, cut):
    data = gzip.compress(_table_text().encode())
    path = tmp_path / "x.tsv.gz"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ValueError, match=f"{path} is a truncated gzip file.*again"):
        _read(path)


@pytest.mark.parametrize("name", ["x.tsv.gz", "x.gct.gz"])
def test_damaged_gzip_is_named(tmp_path, name):
    data = bytearray(gzip.compress(("#1.2\n2000\t3\n" + _table_text()).encode()))
    data[30:60] = bytes(30)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{path} is a (damaged|truncated) gzip file"):
        _read(path)


def test_text_in_another_encoding_is_named(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("Name\tS\u00e91\tS2\tS3\ng1\t1\t2\t3\n".encode("latin-1"))
    with pytest.raises(ValueError, match=f"{path} is not UTF-8 text.*iconv"):
        _read(path)


def _tenx_dir(path, *, v3=True):
    path.mkdir()
    matrix = sp.random(5, 4, density=0.6, format="coo", random_state=1) * 10
    opener = gzip.open if v3 else open
    suffix = ".gz" if v3 else ""
    with opener(path / f"matrix.mtx{suffix}", "wb") as handle:
        scipy.io.mmwrite(handle, sp.coo_matrix(np.round(matrix.toarray())))
    with opener(path / f"barcodes.tsv{suffix}", "wt") as handle:
        handle.write("".join(f"AAAC{i}-1\n" for i in range(4)))
    name = "features.tsv" if v3 else "genes.tsv"
    with opener(path / f"{name}{suffix}", "wt") as handle:
        extra = "\tGene Expression" if v3 else ""
        handle.write("".join(f"ENSG{j}\tG{j}{extra}\n" for j in range(5)))
    return path


@pytest.mark.parametrize("v3, missing", [(True, "barcodes.tsv.gz"), (True, "features.tsv.gz"),
                                         (False, "genes.tsv"), (False, "barcodes.tsv")])
def test_tenx_directory_missing_a_file_names_it(tmp_path, v3, missing):
    folder = _tenx_dir(tmp_path / "mtx", v3=v3)
    assert _read(folder).shape == (4, 5)
    (folder / missing).unlink()
    with pytest.raises(ValueError, match=f"{folder} lacks {missing}.*copy the missing"):
        _read(folder)


def test_tenx_directory_with_a_truncated_matrix_is_named(tmp_path):
    folder = _tenx_dir(tmp_path / "mtx")
    data = (folder / "matrix.mtx.gz").read_bytes()
    (folder / "matrix.mtx.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"{folder}"):
        _read(folder)
    (folder / "barcodes.tsv.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="barcodes.tsv.gz is empty"):
        _read(folder)


def test_names_file_and_annotation_damaged_are_named(tmp_path):
    data = tmp_path / "d.txt"
    data.write_text("1\t2\t3\n4\t5\t6\n")
    genes = tmp_path / "genes.txt.gz"
    genes.write_bytes(gzip.compress(b"Name\n" + b"".join(b"g%d\n" % i for i in range(5000)))[:100])
    with pytest.raises(ValueError, match=f"{genes} is a truncated gzip file"):
        _read(data, header=False, genes=genes)
    labels = tmp_path / "labels.tsv"
    labels.write_bytes(b"")
    with pytest.raises(ValueError, match=f"annotation {labels} is empty"):
        _read(data, header=False, index_col=None, annotation=labels)


# --- preprocessing: logging twice, values far outside float32's comfortable range ---------------

def _logged_golub() -> ad.AnnData:
    adata = bionmf.datasets.golub()
    adata.X = np.log2(adata.X.astype(np.float64) + 1.0)
    return adata


@pytest.mark.parametrize("preset, options, step", [
    ("counts", {}, "preset='counts'"),
    ("bulk", {"log": True}, "preset='bulk' with log=True"),
])
def test_presets_that_log_warn_once_on_logged_data(preset, options, step):
    adata = _logged_golub()
    with pytest.warns(UserWarning) as record:
        bionmf.pp.normalize(adata, preset=preset, **options)
    logged = [str(w.message) for w in record if "log-transformed already" in str(w.message)]
    assert len(logged) == 1, logged  # one shared check, not one per step
    assert step in logged[0] and "maximum 15.9" in logged[0]
    assert ("start from the raw counts" if preset == "counts" else "pass log=False") in logged[0]


def test_counts_preset_on_raw_counts_does_not_warn():
    adata = bionmf.datasets.golub()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bionmf.pp.normalize(adata, preset="counts")


@pytest.mark.parametrize("factor, problem, fix", [
    (1e26, "too large", "adata.X /= 1e26"),
    (1e10, "too large", "adata.X /= 1e10"),
    (1e-16, "too small", "adata.X *= 1e16"),
    (1e-7, "too small", "adata.X *= 1e7"),
])
def test_tl_nmf_refuses_values_far_outside_float32_range(factor, problem, fix):
    adata = bionmf.datasets.golub()
    adata.X = adata.X.astype(np.float64) * factor
    before = adata.copy()
    with pytest.raises(ValueError) as error:
        bionmf.tl.nmf(adata, ranks=[2], n_runs=2, solver={"max_iter": 20})
    message = str(error.value)
    assert problem in message and fix in message and "do not depend on the scale" in message
    # Nothing written, the matrix untouched.
    assert "nmf" not in adata.uns and "X_nmf" not in adata.obsm and "nmf_cluster" not in adata.obs
    np.testing.assert_array_equal(adata.X, before.X)
    # The same check in preprocessing, which leaves adata as it was too.
    with pytest.raises(ValueError, match=problem):
        bionmf.pp.normalize(adata)
    np.testing.assert_array_equal(adata.X, before.X)
    assert list(adata.var.columns) == list(before.var.columns)


def test_rescaled_as_the_error_says_gives_the_result_of_the_original_scale():
    adata = bionmf.datasets.golub()
    adata.X = adata.X.astype(np.float64)
    scaled = adata.copy()
    scaled.X = scaled.X * 1e26
    scaled.X /= 1e26  # the fix the error gives
    kwargs = dict(ranks=[2, 3], n_runs=4, solver={"max_iter": 100}, random_state=3)
    bionmf.tl.nmf(adata, **kwargs)
    bionmf.tl.nmf(scaled, **kwargs)
    assert (adata.obs["nmf_cluster"] == scaled.obs["nmf_cluster"]).all()
    pd.testing.assert_frame_equal(adata.uns["nmf"]["metrics"], scaled.uns["nmf"]["metrics"], rtol=1e-4)


def test_scale_check_accepts_the_real_data_and_its_normal_forms():
    from bionmf.pp._validate import SCALE_RANGE

    golub = bionmf.datasets.golub()
    assert SCALE_RANGE[0] <= golub.X.max() <= SCALE_RANGE[1]
    bionmf.pp.validate(golub)
    counts = golub.copy()
    bionmf.pp.normalize(counts, preset="counts")  # counts per million, logged
    bionmf.pp.validate(counts)
    pbmc = io.read(require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad"))[:300]
    bionmf.pp.normalize(pbmc, preset="singlecell")  # unit variance genes
    bionmf.pp.validate(pbmc)


# --- random_state that cannot be stored or reproduced ------------------------------------------

@pytest.mark.parametrize("random_state, error, words", [
    (2**70, ValueError, "larger than 2**63 - 1"),
    (np.uint64(2**63), ValueError, "larger than 2**63 - 1"),
    (-1, ValueError, "non-negative"),
    (3.0, TypeError, "pass int(3.0)"),
    (0.5, TypeError, "non-negative int, got 0.5"),
    (True, TypeError, "got True"),
    ("7", TypeError, "got '7'"),
    (None, TypeError, "got None"),
])
def test_random_state_that_cannot_be_recorded_is_refused_before_anything_runs(tmp_path, random_state, error,
                                                                             words):
    adata = bionmf.datasets.golub()
    with pytest.raises(error) as raised:
        bionmf.tl.nmf(adata, ranks=[2], n_runs=2, solver={"max_iter": 20}, random_state=random_state)
    assert words in str(raised.value)
    assert "nmf" not in adata.uns
    # Nothing half-recorded: the object writes and reads back.
    adata.write_h5ad(tmp_path / "x.h5ad")
    ad.read_h5ad(tmp_path / "x.h5ad")


def test_largest_recordable_random_state_and_numpy_ints_round_trip_through_h5ad(tmp_path):
    for random_state in (2**63 - 1, np.int64(11), np.uint32(12)):
        adata = bionmf.datasets.golub()[:, :200].copy()
        bionmf.tl.nmf(adata, ranks=[2], n_runs=2, solver={"max_iter": 20}, random_state=random_state)
        path = tmp_path / "x.h5ad"
        adata.write_h5ad(path)
        assert ad.read_h5ad(path).uns["nmf"]["params"]["random_state"] == int(random_state)
