"""A survey shows a progress bar a person sees, stays silent when asked, and stops on Ctrl-C."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import pytest

import bionmf
import bionmf._progress as progress_module


@pytest.fixture(scope="module")
def golub():
    return bionmf.datasets.golub()


@pytest.fixture
def watched(monkeypatch):
    """Pretend a person watches stderr (pytest's capture is no terminal)."""
    monkeypatch.setattr(progress_module, "interactive", lambda: True)


@pytest.mark.parametrize("algorithm", ["brunet", "hals"])
def test_progress_bar_counts_every_run_on_stderr(golub, watched, capsys, algorithm):
    bionmf.tl.nmf(golub, ranks=[2, 3], n_runs=3, algorithm=algorithm, n_permutations=1 if algorithm == "brunet" else 0,
                  copy=True)
    err = capsys.readouterr().err
    total = 12 if algorithm == "brunet" else 6
    assert "NMF runs" in err
    assert f"{total}/{total}" in err
    assert "rank 2: " in err


def test_verbose_false_silences_the_bar(golub, watched, capsys):
    bionmf.tl.nmf(golub, ranks=[2, 3], n_runs=3, copy=True, verbose=False)
    assert capsys.readouterr().err == ""


def test_no_bar_when_nobody_watches(golub, monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "interactive", lambda: False)
    bionmf.tl.nmf(golub, ranks=[2], n_runs=2, copy=True)
    assert "NMF runs" not in capsys.readouterr().err


@pytest.mark.parametrize("algorithm, n_jobs", [("brunet", 1), ("brunet", 2), ("hals", 2)])
def test_ctrl_c_stops_the_survey_at_once_and_leaves_adata_untouched(golub, algorithm, n_jobs):
    adata = golub.copy()
    before = adata.X.copy()
    fields = (set(adata.uns), set(adata.obsm), set(adata.varm), set(adata.obs.columns))
    # long enough to be interrupted in the middle: a thousand runs
    solver = {"max_iter": 2000, "n_stable": 200} if algorithm == "brunet" else {"tol": 1e-9}
    fired = {}

    def interrupt():
        fired["at"] = time.perf_counter()
        _thread.interrupt_main()

    timer = threading.Timer(1.0, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            bionmf.tl.nmf(adata, ranks=range(2, 12), n_runs=100, algorithm=algorithm, solver=solver, n_jobs=n_jobs,
                          verbose=False)
        stopped = time.perf_counter()
    finally:
        timer.cancel()
    assert "at" in fired, "the survey ended before the interrupt: make it longer"
    assert stopped - fired["at"] < 2.0
    np.testing.assert_array_equal(adata.X, before)
    assert (set(adata.uns), set(adata.obsm), set(adata.varm), set(adata.obs.columns)) == fields
