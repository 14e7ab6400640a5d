"""Every plot of bionmf.pl, rendered with Agg on Golub and pbmc3k, checked for what it shows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.cluster.hierarchy import dendrogram, leaves_list  # noqa: E402

import bionmf  # noqa: E402
from bionmf.core import RankRuns, SurveyOptions, summarize_rank  # noqa: E402
from bionmf.core.consensus import consensus_linkage  # noqa: E402
from bionmf.core.metrics import silhouette_samples  # noqa: E402
from bionmf.pl._utils import metagene_proportions  # noqa: E402
from conftest import require_shared_data  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def golub():
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=[2, 3, 4], n_runs=10, random_state=0, verbose=False, n_permutations=1, solver={"max_iter": 500})
    bionmf.tl.signatures(adata)
    return adata


@pytest.fixture(scope="module")
def pbmc():
    import scanpy as sc

    path = require_shared_data("pbmc3k", "pbmc3k_raw_counts.h5ad")
    adata = sc.read_h5ad(path)
    adata = adata[adata.obs["seurat_annotation"].notna()]
    rng = np.random.default_rng(0)
    adata = adata[np.sort(rng.choice(adata.n_obs, 300, replace=False))].copy()
    sc.pp.filter_genes(adata, min_cells=3)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=500, subset=True)
    adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
    bionmf.tl.nmf(adata, ranks=[2, 3, 4], n_runs=10, algorithm="hals", random_state=0, verbose=False)
    return adata


def by_label(fig, label):
    found = [ax for ax in fig.axes if ax.get_label() == label]
    assert len(found) == 1, f"{label!r} among {[ax.get_label() for ax in fig.axes]}"
    return found[0]


def labels(fig, prefix):
    return [ax.get_label() for ax in fig.axes if ax.get_label().startswith(prefix)]


def tick_texts(ax, axis="x"):
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks]


def tree_leaves(C):
    return np.asarray(dendrogram(consensus_linkage(C), no_plot=True)["leaves"])


# ------------------------------------------------------------------ consensus


def test_consensus_heatmap_in_tree_order(golub):
    survey = golub.uns["nmf"]
    k = survey["rank"]
    fig = bionmf.pl.consensus(golub, annotate=["ALL_AML", "class3"])
    C = survey["consensus"][str(k)]
    leaves = tree_leaves(C)
    heat = by_label(fig, "heatmap")
    np.testing.assert_array_equal(heat.images[0].get_array(), C[np.ix_(leaves, leaves)])
    assert tick_texts(heat) == list(golub.obs_names[leaves])
    assert tick_texts(heat, "y") == list(golub.obs_names[leaves])
    assert labels(fig, "track") == ["track:consensus cluster", "track:silhouette", "track:ALL_AML", "track:class3"]
    assert "colorbar:consensus" in labels(fig, "colorbar") and "colorbar:silhouette" in labels(fig, "colorbar")
    legend_ax = labels(fig, "legend")
    assert legend_ax == ["legend:consensus cluster,ALL_AML,class3"]
    texts = [t.get_text() for t in by_label(fig, legend_ax[0]).get_legend().get_texts()]
    assert {"ALL", "AML", "ALL-B", "ALL-T"} <= set(texts)
    assert f"rank {k}" in by_label(fig, "dendrogram").get_title(loc="left")
    # the cluster track's colours follow the clusters in tree order: as many colour changes as cluster boundaries
    track = by_label(fig, "track:consensus cluster").images[0].get_array()[0]
    changes = (np.abs(np.diff(track[:, :3], axis=0)).sum(axis=1) > 0).sum()
    assert changes == (np.diff(survey["clusters"][str(k)][leaves]) != 0).sum()
    # silhouette track: the per-sample widths in tree order
    sil = silhouette_samples(1 - C, survey["clusters"][str(k)])[leaves]
    expected = plt.get_cmap("RdBu")((sil + 1) / 2)
    np.testing.assert_allclose(by_label(fig, "track:silhouette").images[0].get_array()[0], expected, atol=1e-6)


def test_consensus_other_rank_and_errors(golub):
    fig = bionmf.pl.consensus(golub, rank=4, silhouette=False)
    heat = by_label(fig, "heatmap")
    C = golub.uns["nmf"]["consensus"]["4"]
    leaves = tree_leaves(C)
    np.testing.assert_array_equal(heat.images[0].get_array(), C[np.ix_(leaves, leaves)])
    assert "track:silhouette" not in labels(fig, "track")
    with pytest.raises(ValueError, match=r"rank 9 was not surveyed.*\[2, 3, 4\]"):
        bionmf.pl.consensus(golub, rank=9)
    with pytest.raises(ValueError, match="no column \\['tissue'\\]"):
        bionmf.pl.consensus(golub, annotate="tissue")
    with pytest.raises(ValueError, match="run bionmf.tl.nmf"):
        bionmf.pl.consensus(bionmf.datasets.golub())


def test_consensus_grid(golub):
    fig = bionmf.pl.consensus_grid(golub)
    assert labels(fig, "heatmap") == ["heatmap:2", "heatmap:3", "heatmap:4"]
    chosen = golub.uns["nmf"]["rank"]
    for r in (2, 3, 4):
        C = golub.uns["nmf"]["consensus"][str(r)]
        leaves = tree_leaves(C)
        np.testing.assert_array_equal(by_label(fig, f"heatmap:{r}").images[0].get_array(), C[np.ix_(leaves, leaves)])
        title = by_label(fig, f"track:{r}").get_title()
        assert title.startswith(f"k = {r}") and ("(chosen)" in title) == (r == chosen)
    assert labels(fig, "colorbar") == ["colorbar:consensus"]
    fig = bionmf.pl.consensus_grid(golub, ranks=[3], ncols=1)
    assert labels(fig, "heatmap") == ["heatmap:3"]
    with pytest.raises(ValueError, match="not surveyed"):
        bionmf.pl.consensus_grid(golub, ranks=[2, 8])


# ------------------------------------------------------------------ rank metrics


def test_rank_metrics_marks_chosen_and_null(golub):
    survey = golub.uns["nmf"]
    chosen = survey["rank"]
    fig = bionmf.pl.rank_metrics(golub)
    names = ["cophenetic", "dispersion", "silhouette", "pac", "rss", "evar"]
    assert labels(fig, "metric") == [f"metric:{m}" for m in names]
    for m in names:
        ax = by_label(fig, f"metric:{m}")
        assert ax.get_xlabel() == "rank k" and ax.get_ylabel() == m and ax.get_title()
        lines = {line.get_label(): line for line in ax.get_lines()}
        np.testing.assert_allclose(lines["data"].get_ydata(), survey["metrics"][m].to_numpy())
        np.testing.assert_array_equal(lines["chosen rank"].get_xdata(), [chosen])
        np.testing.assert_allclose(lines["chosen rank"].get_ydata(), [survey["metrics"].loc[chosen, m]])
        np.testing.assert_allclose(lines["permuted data"].get_ydata(), survey["null_metrics"][m].to_numpy())
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"chosen rank ({chosen})" in legend_texts
    assert "permuted data (mean, band: range of 1 permutations)" in legend_texts
    assert f"chosen rank {chosen}" in fig.get_suptitle()


def test_rank_metrics_without_null_and_single_axes(golub, pbmc):
    fig = bionmf.pl.rank_metrics(golub, null=False, metrics=["cophenetic", "pac"])
    assert labels(fig, "metric") == ["metric:cophenetic", "metric:pac"]
    assert all("permuted data" not in [ln.get_label() for ln in ax.get_lines()] for ax in fig.axes)
    # a survey run without permutations has no null to draw
    fig = bionmf.pl.rank_metrics(pbmc)
    assert all("permuted data" not in [ln.get_label() for ln in ax.get_lines()] for ax in fig.axes)
    _, ax = plt.subplots()
    assert bionmf.pl.rank_metrics(golub, metrics="dispersion", ax=ax) is ax
    assert ax.get_label() == "metric:dispersion"
    with pytest.raises(ValueError, match="one metric"):
        bionmf.pl.rank_metrics(golub, ax=ax)
    with pytest.raises(ValueError, match="not in uns"):
        bionmf.pl.rank_metrics(golub, metrics=["accuracy"])


# ------------------------------------------------------------------ metagenes and signatures


def _cluster_order(adata, k):
    survey = adata.uns["nmf"]
    clusters = survey["clusters"][str(k)]
    P = metagene_proportions(survey["basis"][str(k)], survey["coefficients"][str(k)])
    strength = P[np.arange(len(clusters)), clusters]
    return clusters, P, np.lexsort((-strength, clusters))


def test_metagenes_coefmap_and_basismap(golub):
    k = golub.uns["nmf"]["rank"]
    fig = bionmf.pl.metagenes(golub, annotate="class3", n_genes=10)
    clusters, P, order = _cluster_order(golub, k)
    coef = by_label(fig, "heatmap:coef")
    image = coef.images[0].get_array()
    np.testing.assert_allclose(image, P[order].T)
    np.testing.assert_allclose(image.sum(axis=0), 1.0)
    assert (np.diff(clusters[order]) >= 0).all()  # samples grouped by cluster
    assert tick_texts(coef) == list(golub.obs_names[order])
    assert tick_texts(coef, "y") == [f"metagene {a}" for a in range(k)]
    basis = by_label(fig, "heatmap:basis")
    table = golub.uns["nmf_signatures"]["table"]
    top = table[table["order"] <= 10].sort_values(["metagene", "order"])
    assert tick_texts(basis) == list(top["gene"])
    B = basis.images[0].get_array()
    assert B.shape == (k, len(top))
    # each signature gene's largest share is in its own metagene row
    np.testing.assert_array_equal(B.argmax(axis=0), top["metagene"].astype(int).to_numpy())
    assert {"colorbar:metagene proportion", "colorbar:share of gene's loading"} <= set(labels(fig, "colorbar"))
    assert labels(fig, "track") == ["track:consensus cluster", "track:class3"]


def test_signatures_heatmap(golub):
    k = golub.uns["nmf"]["rank"]
    golub.var["symbol"] = [d.split(" ")[0] for d in golub.var["description"]]
    fig = bionmf.pl.signatures(golub, n_genes=8, gene_symbols="symbol", annotate=["ALL_AML"])
    clusters, _, order = _cluster_order(golub, k)
    heat = by_label(fig, "heatmap")
    table = golub.uns["nmf_signatures"]["table"]
    top = table[table["order"] <= 8].sort_values(["metagene", "order"])
    assert tick_texts(heat, "y") == list(golub.var.loc[top["gene"], "symbol"])
    assert tick_texts(heat) == list(golub.obs_names[order])
    Z = heat.images[0].get_array()
    assert Z.shape == (len(top), golub.n_obs) and np.abs(Z).max() <= 2.5
    # a metagene's signature genes are, on average, highest in that metagene's cluster
    for a in range(k):
        rows = (top["metagene"].astype(int) == a).to_numpy()
        if rows.any():
            means = [Z[rows][:, clusters[order] == c].mean() for c in range(k)]
            assert int(np.argmax(means)) == a
    assert labels(fig, "track") == ["track:consensus cluster", "track:ALL_AML", "track:metagene"]
    assert len(labels(fig, "colorbar")) == 1 and "log1p" in labels(fig, "colorbar")[0]


def test_signatures_plot_does_not_write(golub):
    adata = golub.copy()
    del adata.uns["nmf_signatures"]
    fig = bionmf.pl.signatures(adata, rank=3, n_genes=5)
    assert "nmf_signatures" not in adata.uns
    assert by_label(fig, "heatmap").images[0].get_array().shape[0] <= 15
    with pytest.raises(ValueError, match="no 'mine'"):
        bionmf.pl.signatures(adata, signatures="mine")


# ------------------------------------------------------------------ clusters


def test_clusters_plot(golub):
    k = golub.uns["nmf"]["rank"]
    keys = set(golub.obsm)
    fig = bionmf.pl.clusters(golub)
    assert set(golub.obsm) == keys  # PCA computed, not stored
    emb, bars = by_label(fig, "embedding"), by_label(fig, "proportions")
    offsets = emb.collections[0].get_offsets()
    assert len(offsets) == golub.n_obs
    assert emb.get_xlabel().startswith("PC") and emb.get_title().startswith(f"Consensus clusters, rank {k}")
    alphas = emb.collections[0].get_facecolors()[:, 3]
    assert alphas.min() < alphas.max()  # opacity follows membership strength
    clusters, P, order = _cluster_order(golub, k)
    heights = np.array([p.get_height() for p in bars.patches]).reshape(k, golub.n_obs)
    np.testing.assert_allclose(heights, P[order].T)
    np.testing.assert_allclose(heights.sum(axis=0), 1.0)
    assert [t.get_text() for t in bars.get_legend().get_texts()] == [f"metagene {a}" for a in range(k)]
    assert tick_texts(bars) == list(golub.obs_names[order])


def test_clusters_given_basis_and_ax(golub):
    adata = golub.copy()
    adata.obsm["X_umap"] = np.column_stack([np.arange(adata.n_obs), -np.arange(adata.n_obs)]).astype(float)
    _, ax = plt.subplots()
    assert bionmf.pl.clusters(adata, basis="umap", proportions=False, ax=ax) is ax
    offsets = np.asarray(ax.collections[0].get_offsets())
    assert sorted(map(tuple, offsets)) == sorted(map(tuple, adata.obsm["X_umap"]))
    assert ax.get_xlabel() == "UMAP 1"
    with pytest.raises(ValueError, match="proportions=False"):
        bionmf.pl.clusters(adata, ax=ax)
    with pytest.raises(ValueError, match="tsne"):
        bionmf.pl.clusters(adata, basis="tsne")


# ------------------------------------------------------------------ files and pbmc3k


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_save_png_and_pdf(golub, tmp_path, suffix, magic):
    draws = {
        "consensus": lambda p: bionmf.pl.consensus(golub, annotate="class3", save=p),
        "grid": lambda p: bionmf.pl.consensus_grid(golub, save=p),
        "metrics": lambda p: bionmf.pl.rank_metrics(golub, save=p),
        "metagenes": lambda p: bionmf.pl.metagenes(golub, save=p),
        "signatures": lambda p: bionmf.pl.signatures(golub, save=p),
        "clusters": lambda p: bionmf.pl.clusters(golub, save=p),
    }
    for name, draw in draws.items():
        path = tmp_path / f"{name}{suffix}"
        draw(path)
        assert path.read_bytes()[:4] == magic
        plt.close("all")
    with pytest.raises(ValueError, match="does not exist"):
        bionmf.pl.consensus(golub, save=tmp_path / "no" / "c.png")


def test_pbmc3k_plots(pbmc):
    k = pbmc.uns["nmf"]["rank"]
    n = pbmc.n_obs
    fig = bionmf.pl.consensus(pbmc, annotate="seurat_annotation")
    C = pbmc.uns["nmf"]["consensus"][str(k)]
    leaves = tree_leaves(C)
    heat = by_label(fig, "heatmap")
    np.testing.assert_array_equal(heat.images[0].get_array(), C[np.ix_(leaves, leaves)])
    assert tick_texts(heat) == [] and heat.get_xlabel() == f"{n} samples (tree order)"  # too many to name
    texts = [t.get_text() for t in by_label(fig, labels(fig, "legend")[0]).get_legend().get_texts()]
    assert {"B", "NK", "CD14+ Mono"} <= set(texts)

    assert len(labels(bionmf.pl.consensus_grid(pbmc), "heatmap")) == 3
    assert len(labels(bionmf.pl.rank_metrics(pbmc), "metric")) == 6

    bionmf.tl.signatures(pbmc, method="kim", n_top=10)
    fig = bionmf.pl.metagenes(pbmc, n_genes=10)
    clusters, P, order = _cluster_order(pbmc, k)
    np.testing.assert_allclose(by_label(fig, "heatmap:coef").images[0].get_array(), P[order].T)
    fig = bionmf.pl.signatures(pbmc, n_genes=10, annotate="seurat_annotation")
    Z = by_label(fig, "heatmap").images[0].get_array()
    assert Z.shape[1] == n and "log1p" not in labels(fig, "colorbar")[0]  # log data are not logged again

    fig = bionmf.pl.clusters(pbmc)
    assert len(by_label(fig, "embedding").collections[0].get_offsets()) == n
    assert tick_texts(by_label(fig, "proportions")) == []


def test_large_deep_consensus(tmp_path):
    """Thousands of samples with identical consensus rows give a tree too deep for scipy's recursive
    dendrogram; the plots still draw it, in leaves_list order, and the proportions as bands."""
    rng = np.random.default_rng(0)
    n, g, k = 2000, 30, 2
    X = rng.poisson(2.0, size=(n, g)).astype(np.float32)
    labels = rng.integers(0, k, size=(10, n)).astype(np.int16)
    labels[:, : n // 2] = 0  # half the samples always together: a chain of zero-height merges
    rr = RankRuns(rank=k, runs=np.arange(10), labels=labels, objective=np.ones(10), n_iter=np.ones(10),
                  best_W=rng.uniform(size=(g, k)), best_H=rng.uniform(size=(k, n)), best_run=0)
    adata = ad.AnnData(X)
    _store(adata, rr, summarize_rank(X, rr))
    fig = bionmf.pl.consensus(adata, save=tmp_path / "big.png")
    C = adata.uns["nmf"]["consensus"]["2"]
    order = leaves_list(consensus_linkage(C))
    np.testing.assert_array_equal(by_label(fig, "heatmap").images[0].get_array(), C[np.ix_(order, order)])
    tree = by_label(fig, "dendrogram").collections[0]
    assert len(tree.get_segments()) == n - 1  # one U per merge
    fig = bionmf.pl.clusters(adata, basis="pca")
    bands = by_label(fig, "proportions").collections
    assert len(bands) == k and [b.get_label() for b in bands] == ["metagene 0", "metagene 1"]


def _store(adata, rr, summary):
    """Write a survey of the one rank of ``rr`` into ``adata``, as tl.nmf would."""
    survey = bionmf.tl.Survey(adata, options=SurveyOptions(ranks=[rr.rank], n_runs=rr.runs.size, consensus="samples",
                                                             rank_rule="largest_drop"))
    survey.write(adata, [rr], [summary], choice=survey.choose([summary])[1])


def _survey_with_basis(W, rng):
    """A stored survey (rank = W's columns) whose best basis is ``W``, on random data."""
    g, k = W.shape
    n = 30
    X = rng.uniform(size=(n, g)).astype(np.float32)
    H = rng.uniform(size=(k, n))
    labels = np.tile(H.argmax(axis=0), (5, 1)).astype(np.int16)
    rr = RankRuns(rank=k, runs=np.arange(5), labels=labels, objective=np.ones(5), n_iter=np.ones(5),
                  best_W=W, best_H=H, best_run=0)
    adata = ad.AnnData(X)
    _store(adata, rr, summarize_rank(X, rr))
    return adata


def test_signature_plots_when_kim_selects_nothing():
    """Half the genes exclusive to one metagene, half shared equally: median + 3 MAD of the Kim
    scores exceeds 1, nothing passes; plots fall back to top loadings, stored empty tables fail."""
    rng = np.random.default_rng(0)
    W = np.ones((40, 2))
    W[:10, 1] = 0.0
    W[10:20, 0] = 0.0
    adata = _survey_with_basis(W, rng)
    bionmf.tl.signatures(adata)
    assert adata.uns["nmf_signatures"]["params"]["threshold"] > 1
    assert adata.uns["nmf_signatures"]["table"].empty and adata.uns["nmf_signatures"]["gene_sets"] == {}
    with pytest.raises(ValueError, match="holds no signature gene.*'contribution' or 'loading'"):
        bionmf.pl.signatures(adata)
    del adata.uns["nmf_signatures"]
    fig = bionmf.pl.signatures(adata, n_genes=5)
    assert "by loading" in fig.axes[0].get_title(loc="left")
    assert by_label(fig, "heatmap").images[0].get_array().shape == (10, adata.n_obs)


def test_numeric_annotation_track(golub):
    adata = golub.copy()
    adata.obs["depth"] = np.linspace(0.0, 1.0, adata.n_obs)
    adata.obs["is_aml"] = (adata.obs["ALL_AML"] == "AML").to_numpy()
    fig = bionmf.pl.consensus(adata, annotate=["depth", "class3", "is_aml"])
    assert "colorbar:depth" in labels(fig, "colorbar") and "track:depth" in labels(fig, "track")
    assert labels(fig, "legend") == ["legend:consensus cluster,class3,is_aml"]  # booleans are categories


def test_plots_after_h5ad_round_trip(golub, tmp_path):
    """The workflow plots from a written .h5ad: every plot reads the survey as stored there."""
    golub.write_h5ad(tmp_path / "golub.h5ad")
    back = ad.read_h5ad(tmp_path / "golub.h5ad")
    fig = bionmf.pl.rank_metrics(back)
    lines = {ln.get_label(): ln for ln in by_label(fig, "metric:cophenetic").get_lines()}
    np.testing.assert_allclose(lines["permuted data"].get_ydata(), golub.uns["nmf"]["null_metrics"]["cophenetic"])
    k = golub.uns["nmf"]["rank"]
    np.testing.assert_array_equal(by_label(bionmf.pl.consensus(back), "heatmap").images[0].get_array(),
                                  by_label(bionmf.pl.consensus(golub), "heatmap").images[0].get_array())
    assert tick_texts(by_label(bionmf.pl.metagenes(back), "heatmap:basis")) == \
        tick_texts(by_label(bionmf.pl.metagenes(golub), "heatmap:basis"))
    assert len(labels(bionmf.pl.consensus_grid(back), "heatmap")) == 3
    assert len(by_label(bionmf.pl.clusters(back), "embedding").collections[0].get_offsets()) == back.n_obs
    assert by_label(bionmf.pl.signatures(back), "heatmap").images[0].get_array().shape[1] == back.n_obs
    assert k == back.uns["nmf"]["rank"]
