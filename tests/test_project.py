"""bionmf.tl.project and the programs file: usages of a survey's metagenes/programs in new data."""

from __future__ import annotations

import warnings

import anndata as ad
import h5py
import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

matplotlib.use("Agg")

import bionmf  # noqa: E402
from bionmf.datasets import simulate_singlecell  # noqa: E402
from bionmf.io import Programs, read_programs, write_programs  # noqa: E402

from conftest import require_shared_data  # noqa: E402


def correlations(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(A[:, j], B[:, j])[0, 1] for j in range(A.shape[1])])


@pytest.fixture(scope="module")
def golub():
    """Golub as bundled (the prepared values) and its sample-consensus survey at ranks 2-3 (brunet)."""
    raw = bionmf.datasets.golub()
    ref = raw.copy()
    bionmf.pp.normalize(ref, preset="bulk")
    bionmf.tl.nmf(ref, ranks=[2, 3], n_runs=10, random_state=0, verbose=False)
    return raw, ref


@pytest.fixture(scope="module")
def cells():
    """Simulated UMI counts (sparse) and their component-consensus survey (hals) after the
    singlecell preset with library='total', which the projection replays (library size, gene
    scaling; the preset's default leaves the counts unnormalized, cNMF's way)."""
    raw = simulate_singlecell(n_cells=600, n_genes=400, n_identities=4, n_activities=1, random_state=3)
    ref = raw.copy()
    bionmf.pp.normalize(ref, preset="singlecell", n_top_genes=300, library="total")
    bionmf.tl.nmf(ref, ranks=[5], n_runs=10, algorithm="hals", consensus="components", random_state=0,
                  verbose=False)
    return raw, ref


def test_self_projection_sample_consensus(golub):
    """Projecting Golub onto its own survey gives back its coefficients, at the chosen and another rank."""
    raw, ref = golub
    for rank in (2, 3):
        new = bionmf.tl.project(raw, ref, rank=rank, copy=True)
        U = new.obsm["nmf_projection"]
        r = correlations(U, ref.uns["nmf"]["coefficients"][str(rank)])
        assert (r > 0.99).all(), (rank, r)
        record = new.uns["nmf_projection"]
        assert record["kind"] == "projection" and record["rank"] == rank and record["consensus"] == "samples"
        assert record["params"]["loss"] == "kl"  # a brunet reference is refit under its own objective
        assert len(record["genes_missing"]) == 0 and len(record["genes_used"]) == ref.n_vars
    assert "nmf_projection" not in raw.obsm  # copy=True left the input alone
    # the chosen rank's clusters are named as the reference's
    new = bionmf.tl.project(raw, ref, copy=True)
    assert list(new.obs["nmf_projection_cluster"].cat.categories) == list(ref.obs["nmf_cluster"].cat.categories)


def test_least_squares_differs_on_a_brunet_reference(golub):
    """Why a brunet reference is refit under KL: least-squares usages of a KL basis are further off."""
    raw, ref = golub
    kl = correlations(bionmf.tl.project(raw, ref, copy=True).obsm["nmf_projection"], ref.obsm["X_nmf"])
    ls = correlations(bionmf.tl.project(raw, ref, loss="frobenius", copy=True).obsm["nmf_projection"], ref.obsm["X_nmf"])
    assert kl.min() > ls.min()


def test_self_projection_component_consensus_dense_sparse_chunked(cells):
    """Raw counts projected onto their own programs (library size and gene scaling replayed with the
    reference's factors) give back the usages; dense, sparse and chunked runs agree."""
    raw, ref = cells
    new = bionmf.tl.project(raw, ref, copy=True)
    U = new.obsm["nmf_projection"]
    r = correlations(U, ref.obsm["X_nmf"])
    assert (r > 0.99).all(), r
    record = new.uns["nmf_projection"]
    assert record["consensus"] == "components" and record["params"]["loss"] == "frobenius"
    assert list(record["preprocessing"]) == ["library", "scale"]
    dense = raw.copy()
    dense.X = raw.X.toarray()
    chunked = bionmf.tl.project(dense, ref, chunk_size=37, copy=True).obsm["nmf_projection"]
    np.testing.assert_allclose(chunked, U, rtol=1e-6, atol=1e-9)
    sparse_chunked = bionmf.tl.project(raw, ref, chunk_size=50, copy=True).obsm["nmf_projection"]
    np.testing.assert_allclose(sparse_chunked, U, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(new.obs["nmf_projection_cluster"].astype(str).to_numpy(),
                                  [str(a) for a in U.argmax(axis=1)])


def test_kl_projection_of_sparse_equals_dense(golub):
    raw, ref = golub
    sparse = raw.copy()
    sparse.X = sp.csr_matrix(raw.X)
    a = bionmf.tl.project(raw, ref, chunk_size=10, copy=True).obsm["nmf_projection"]
    b = bionmf.tl.project(sparse, ref, copy=True).obsm["nmf_projection"]
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_golub_held_out_samples_land_in_their_metagene():
    """Five stratified splits of the 38 Golub samples: metagenes of 27 (rank 2, brunet) and the
    11 held out (8 ALL, 3 AML) projected onto them. The ALL (AML) metagene is the one most
    training ALL (AML) samples load on. Measured: 4 of the 55 held-out samples misassigned
    (0, 1, 2, 0, 1 per split: ALL_7092 twice, ALL_14749, AML_13)."""
    golub = bionmf.datasets.golub()
    label = golub.obs["ALL_AML"].astype(str).to_numpy()
    misassigned = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        held = np.sort(np.r_[rng.choice(np.flatnonzero(label == "ALL"), 8, replace=False),
                             rng.choice(np.flatnonzero(label == "AML"), 3, replace=False)])
        train = np.setdiff1d(np.arange(golub.n_obs), held)
        ref = golub[train].copy()
        bionmf.pp.normalize(ref, preset="bulk")
        bionmf.tl.nmf(ref, ranks=[2], n_runs=20, random_state=0, verbose=False)
        H = ref.obsm["X_nmf"]
        metagene = {c: np.bincount(H[label[train] == c].argmax(axis=1), minlength=2).argmax() for c in ("ALL", "AML")}
        assert metagene["ALL"] != metagene["AML"]
        new = golub[held].copy()
        bionmf.tl.project(new, ref)
        predicted = new.obsm["nmf_projection"].argmax(axis=1)
        misassigned += int((predicted != np.array([metagene[c] for c in label[held]])).sum())
    assert misassigned <= 5, misassigned


def test_pbmc3k_programs_of_one_half_cluster_the_other():
    """pbmc3k split in two halves of cells (seed 0): programs of half A (k=9, hals, component
    consensus) projected on half B's raw counts. Argmax clusters vs the Seurat labels: measured ARI
    0.536 (A's own fit, on A's cells), 0.494 (B's own fit), 0.486 (B projected on A)."""
    from sklearn.metrics import adjusted_rand_score

    full = ad.read_h5ad(require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad"))
    full.var_names_make_unique()
    order = np.random.default_rng(0).permutation(full.n_obs)
    halves = [full[np.sort(order[: full.n_obs // 2])].copy(), full[np.sort(order[full.n_obs // 2:])].copy()]

    def fit(raw):
        fitted = raw.copy()
        bionmf.pp.normalize(fitted, preset="singlecell")
        bionmf.tl.nmf(fitted, ranks=[9], n_runs=20, algorithm="hals", consensus="components", random_state=0,
                      verbose=False)
        return fitted

    def ari(obj, column):
        known = obj.obs["seurat_annotation"].notna().to_numpy()
        return adjusted_rand_score(obj.obs["seurat_annotation"][known], obj.obs[column][known].astype(str))

    fit_a, fit_b = fit(halves[0]), fit(halves[1])
    projected = bionmf.tl.project(halves[1], fit_a, copy=True)
    ari_a, ari_b, ari_projected = ari(fit_a, "nmf_cluster"), ari(fit_b, "nmf_cluster"), ari(projected, "nmf_projection_cluster")
    # on the same cells, A's programs cluster B about as well as B's own; A's own figure is on
    # other cells, so it gets a wider margin
    assert abs(ari_projected - ari_b) <= 0.05, (ari_b, ari_projected)
    assert abs(ari_projected - ari_a) <= 0.1, (ari_a, ari_projected)
    assert ari_projected > 0.3  # the projection does find the cell types


def test_missing_genes_warn_with_lost_weight_then_error(golub):
    raw, ref = golub
    programs = bionmf.io.programs_from_survey(ref)  # the genes with some loading at the chosen rank
    W, n = programs.loadings, len(programs.genes)
    # drop the 100 genes of least total loading: a small share of each metagene
    light = programs.genes[np.argsort(W.sum(axis=1))[:100]]
    subset = raw[:, ~raw.var_names.isin(light)].copy()
    with pytest.warns(UserWarning, match=rf"100 genes of the reference's {n} .* are missing") as caught:
        new = bionmf.tl.project(subset, ref, copy=True)
    message = str(caught[0].message)
    assert " %" in message and f"{n - 100} shared genes" in message
    record = new.uns["nmf_projection"]
    assert sorted(record["genes_missing"]) == sorted(light) and len(record["genes_used"]) == n - 100
    expected = W[programs.genes.isin(light)].sum(axis=0) / W.sum(axis=0)
    np.testing.assert_allclose(record["lost_weight"], expected)
    assert (correlations(new.obsm["nmf_projection"], ref.obsm["X_nmf"]) > 0.99).all()
    # the heaviest genes carry most of the weight: losing them is an error, and nothing is written
    heavy = programs.genes[np.argsort(W.sum(axis=1))[-1500:]]
    stripped = raw[:, ~raw.var_names.isin(heavy)].copy()
    with pytest.raises(ValueError, match="max_missing=0.5"):
        bionmf.tl.project(stripped, ref)
    assert "nmf_projection" not in stripped.uns and "nmf_projection" not in stripped.obsm


def test_wrong_orientation_negative_and_nonfinite_values(golub):
    raw, ref = golub
    with pytest.raises(ValueError, match="transposed.*adata_new.T"):
        bionmf.tl.project(raw.T.copy(), ref)
    other = raw.copy()
    other.var_names = [f"x{i}" for i in range(other.n_vars)]
    with pytest.raises(ValueError, match="same gene identifiers"):
        bionmf.tl.project(other, ref)
    centred = raw.copy()
    centred.X = centred.X - centred.X.mean(axis=0)
    with pytest.raises(ValueError, match="negative value.*cannot be projected"):
        bionmf.tl.project(centred, ref)
    holes = raw.copy()
    holes.X = holes.X.astype(np.float64)
    holes.X[3, 7] = np.nan
    with pytest.raises(ValueError, match=f"1 NaN value in 1 gene \\({raw.var_names[7]}\\)"):
        bionmf.tl.project(holes, ref)
    assert "nmf_projection" not in holes.uns
    with pytest.raises(TypeError, match="reference must be"):
        bionmf.tl.project(raw, np.ones((3, 3)))
    with pytest.raises(ValueError, match="rank 7 was not surveyed"):
        bionmf.tl.project(raw, ref, rank=7)


def test_replay_uses_the_references_factors_and_refuses_what_it_cannot(cells):
    raw, ref = cells
    steps = bionmf.pp.preprocessing_steps(ref)
    target = next(s for s in steps if s["step"] == "normalize_library")["target_sum"]
    # the same normalization by hand, with the reference's library size and gene sd
    genes = ref.var_names[ref.var["nmf_use"].to_numpy()]
    X = raw.X.toarray().astype(np.float64)
    X = X * (target / X.sum(axis=1, keepdims=True))
    X = X[:, raw.var_names.get_indexer(genes)] / ref.var.loc[genes, "scale_sd"].to_numpy()
    by_hand = ad.AnnData(X=X, var=pd.DataFrame(index=genes), obs=raw.obs[[]])
    a = bionmf.tl.project(by_hand, ref, normalize=False, copy=True).obsm["nmf_projection"]
    b = bionmf.tl.project(raw, ref, copy=True).obsm["nmf_projection"]
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    # a step the projection does not know
    odd = ref.copy()
    record = dict(odd.uns["bionmf_preprocessing"])
    record["99_magic"] = {"step": "magic"}
    odd.uns["bionmf_preprocessing"] = record
    with pytest.raises(ValueError, match="cannot replay the reference's preprocessing step 'magic'"):
        bionmf.tl.project(raw, odd)


def test_programs_file_round_trip(tmp_path, cells, golub):
    raw, ref = cells
    path = write_programs(ref, tmp_path / "programs.h5")
    programs = read_programs(path)
    direct = bionmf.io.programs_from_survey(ref)
    np.testing.assert_array_equal(programs.loadings, direct.loadings)
    assert list(programs.genes) == list(direct.genes) and programs.names == direct.names
    assert programs.rank == 5 and programs.consensus == "components" and programs.algorithm == "hals"
    assert programs.preprocessing == direct.preprocessing and programs.source == str(path)
    np.testing.assert_array_equal(programs.scale_sd, direct.scale_sd)
    # projecting through the file (object or path) is projecting through the AnnData
    a = bionmf.tl.project(raw, ref, copy=True).obsm["nmf_projection"]
    b = bionmf.tl.project(raw, path, copy=True)
    np.testing.assert_allclose(b.obsm["nmf_projection"], a)
    assert b.uns["nmf_projection"]["reference"] == str(path)
    np.testing.assert_allclose(bionmf.tl.project(raw, programs, copy=True).obsm["nmf_projection"], a)
    with pytest.raises(ValueError, match="of rank 5, not 3"):
        bionmf.tl.project(raw, programs, rank=3)
    # a named rank of a sample-consensus survey, without scaling
    graw, gref = golub
    g = read_programs(write_programs(gref, tmp_path / "golub3.h5", rank=3))
    assert g.rank == 3 and g.scale_sd is None and g.algorithm == "brunet"
    W3 = gref.uns["nmf"]["basis"]["3"]
    np.testing.assert_allclose(g.loadings, W3[W3.sum(axis=1) > 0])


def test_damaged_and_foreign_programs_files(tmp_path, cells):
    _, ref = cells
    good = write_programs(ref, tmp_path / "programs.h5")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated.h5"):
        read_programs(truncated)
    text = tmp_path / "text.h5"
    text.write_text("gene\tprogram\n")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        read_programs(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.ones(3)
    with pytest.raises(ValueError, match="not a bionmf programs file"):
        read_programs(foreign)
    # a file whose parts disagree: one gene name short
    broken = tmp_path / "broken.h5"
    broken.write_bytes(data)
    with h5py.File(broken, "r+") as f:
        genes = f["genes"][()]
        del f["genes"]
        f.create_dataset("genes", data=genes[:-1], dtype=h5py.string_dtype("utf-8"))
    with pytest.raises(ValueError, match="broken.h5: 299 gene names for 300 rows"):
        read_programs(broken)
    negative = tmp_path / "negative.h5"
    negative.write_bytes(data)
    with h5py.File(negative, "r+") as f:
        f["loadings"][0, 0] = -1.0
    with pytest.raises(ValueError, match="negative.h5: loadings hold negative values"):
        read_programs(negative)
    with pytest.raises(FileNotFoundError):
        read_programs(tmp_path / "absent.h5")
    with pytest.raises(ValueError, match="negative values"):
        Programs(loadings=-np.ones((3, 2)), genes=pd.Index(list("abc")), names=["0", "1"], rank=2,
                 consensus="samples", algorithm="brunet")


def test_projection_plots(golub):
    raw, ref = golub
    new = bionmf.tl.project(raw, ref, copy=True)
    fig = bionmf.pl.clusters(new, key="nmf_projection")
    ax = next(a for a in fig.axes if a.get_label() == "embedding")
    k = ref.uns["nmf"]["rank"]
    assert ax.get_title() == f"Projected clusters (largest usage), rank {k} (38 samples)"
    counts = new.obs["nmf_projection_cluster"].value_counts()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert all(f"cluster {a} ({counts[str(a)]})" in legend for a in range(k))
    fig = bionmf.pl.metagenes(new, key="nmf_projection", annotate="ALL_AML")
    heat = next(a for a in fig.axes if a.get_label() == "heatmap:coef")
    P = heat.get_images()[0].get_array()
    assert P.shape == (k, raw.n_obs)
    # samples are grouped by their projected cluster
    names = [t.get_text() for t in heat.get_xticklabels()]
    grouped = new.obs.loc[names, "nmf_projection_cluster"].astype(int).to_numpy()
    assert (np.diff(grouped) >= 0).all() and len(set(grouped)) == k
    import matplotlib.pyplot as plt

    plt.close("all")


def test_no_signal_observation_gets_no_cluster(cells):
    raw, ref = cells
    new = raw.copy()
    X = new.X.tolil()
    X[4, :] = 0
    new.X = X.tocsr()
    with pytest.warns(UserWarning, match="1 observation .* no signal"):
        bionmf.tl.project(new, ref)
    assert pd.isna(new.obs["nmf_projection_cluster"].iloc[4])
    assert (new.obsm["nmf_projection"][4] == 0).all()
    assert new.uns["nmf_projection"]["clusters"]["5"][4] == -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bionmf.tl.project(raw, ref, key_added="again")
    assert "again" in raw.obsm and raw.obs["again_cluster"].notna().all()


def test_bulk_replay_threshold_log_and_posneg():
    """Floor, ceiling, log2 and gene selection of a bulk reference are replayed with its values; a
    posneg reference splits the new genes into the same halves."""
    raw = bionmf.datasets.golub()
    ref = raw.copy()
    bionmf.pp.normalize(ref, preset="bulk", floor=100, ceiling=16000, log=True, n_top_genes=1000)
    bionmf.tl.nmf(ref, ranks=[2], n_runs=5, algorithm="lee", random_state=0, verbose=False)
    genes = ref.var_names[ref.var["nmf_use"].to_numpy()]
    by_hand = raw[:, genes].copy()
    by_hand.X = np.log2(np.clip(np.asarray(by_hand.X, dtype=np.float64), 100, 16000) + 1)
    a = bionmf.tl.project(by_hand, ref, normalize=False, copy=True).obsm["nmf_projection"]
    b = bionmf.tl.project(raw, ref, copy=True)
    np.testing.assert_allclose(b.obsm["nmf_projection"], a, rtol=1e-6, atol=1e-9)
    assert list(b.uns["nmf_projection"]["preprocessing"]) == ["threshold", "log2"]
    assert (correlations(b.obsm["nmf_projection"], ref.obsm["X_nmf"]) > 0.99).all()

    centred = raw[:, :600].copy()
    centred.X = np.asarray(centred.X, dtype=np.float64) - 400.0
    split = centred.copy()
    bionmf.pp.normalize(split, preset="bulk", negative="posneg")
    bionmf.tl.nmf(split, ranks=[2], n_runs=5, random_state=0, verbose=False)
    new = bionmf.tl.project(centred, split, copy=True)
    assert list(new.uns["nmf_projection"]["preprocessing"]) == ["posneg"]
    assert (correlations(new.obsm["nmf_projection"], split.obsm["X_nmf"]) > 0.99).all()
    # the plots' basis folds the halves back onto the new data's genes
    assert new.uns["nmf_projection"]["basis"]["2"].shape == (600, 2)
    # a floor at or above 0 also handles negative input: the bulk reference takes the centred values
    with pytest.warns(UserWarning, match="876 genes of the reference's 1000"):
        bionmf.tl.project(centred, ref, max_missing=0.99)


def test_counts_reference_warns_on_data_logged_already():
    raw = simulate_singlecell(n_cells=300, n_genes=300, n_identities=3, n_activities=0, random_state=5)
    ref = raw.copy()
    bionmf.pp.normalize(ref, preset="counts", n_top_genes=200)
    bionmf.tl.nmf(ref, ranks=[3], n_runs=5, algorithm="hals", random_state=0, verbose=False)
    new = bionmf.tl.project(raw, ref, copy=True)
    assert list(new.uns["nmf_projection"]["preprocessing"]) == ["library", "log2"]
    assert (correlations(new.obsm["nmf_projection"], ref.obsm["X_nmf"]) > 0.99).all()
    logged = raw.copy()
    bionmf.pp.log1p(logged)
    with pytest.warns(UserWarning, match="looks log-transformed already"):
        bionmf.tl.project(logged, ref)
