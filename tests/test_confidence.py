"""Per-sample consensus silhouette, checked against scikit-learn's silhouette on the same distances."""

from __future__ import annotations

import numpy as np
import pytest

import bionmf

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.fixture(scope="module")
def golub():
    adata = bionmf.datasets.golub()
    bionmf.tl.nmf(adata, ranks=[2, 3], n_runs=8, random_state=0, verbose=False)
    return adata


def test_sample_silhouette_on_golub(golub):
    survey = golub.uns["nmf"]
    s = bionmf.tl.sample_silhouette(golub)
    assert s.name == "nmf_silhouette" and s.index.equals(golub.obs_names)
    k = survey["rank"]
    C = survey["consensus"][str(k)]
    D = 1.0 - C
    np.fill_diagonal(D, 0.0)
    reference = sklearn_metrics.silhouette_samples(D, survey["clusters"][str(k)], metric="precomputed")
    np.testing.assert_allclose(s.to_numpy(), reference, atol=1e-12)
    assert s.mean() == pytest.approx(survey["metrics"].loc[k, "silhouette"], abs=1e-12)  # the rank's metric

    np.testing.assert_array_equal(golub.obs["nmf_silhouette"].to_numpy(), s.to_numpy())  # tl.nmf stores it
    for a in range(k):  # and the usages, one column per metagene
        np.testing.assert_array_equal(golub.obs[f"nmf_usage_{a}"].to_numpy(), golub.obsm["X_nmf"][:, a])
    s3 = bionmf.tl.sample_silhouette(golub, rank=3)
    assert s3.mean() == pytest.approx(survey["metrics"].loc[3, "silhouette"], abs=1e-12)
    # at rank 3 the samples least sure of their cluster are those runs split most evenly
    C3 = survey["consensus"]["3"]
    own = np.array([C3[i, survey["clusters"]["3"] == survey["clusters"]["3"][i]].mean() for i in range(golub.n_obs)])
    assert np.corrcoef(own, s3.to_numpy())[0, 1] > 0.5


def test_sample_silhouette_errors(golub):
    with pytest.raises(ValueError, match=r"rank 9 was not surveyed"):
        bionmf.tl.sample_silhouette(golub, rank=9)
    other = golub.copy()
    del other.uns["nmf"]["consensus"]
    other.uns["nmf"]["params"]["consensus"] = "components"
    with pytest.raises(ValueError, match="holds no consensus matrices"):
        bionmf.tl.sample_silhouette(other)
    with pytest.raises(ValueError, match="was adata subset after the survey"):
        bionmf.tl.sample_silhouette(golub[:10].copy())
