"""Result files appear whole or not at all (bionmf._atomic)."""

import numpy as np
import pandas as pd
import pytest

from bionmf._atomic import atomic_file, npz_path
from bionmf.workflow.jobs import write_json, write_tsv


def test_an_interrupted_write_leaves_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.tsv"
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target, "w") as file:
            file.write("half a table")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "choice.json"
    write_json({"rank": 2}, target)
    with pytest.raises(RuntimeError):
        with atomic_file(target, "w") as file:
            file.write('{"rank": ')
            raise RuntimeError("disk full")
    assert target.read_text() == '{\n  "rank": 2\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["choice.json"]


def test_writers_produce_the_complete_files(tmp_path):
    frame = pd.DataFrame({"cophenetic": [0.99, 0.95]}, index=pd.Index([2, 3], name="rank"))
    write_tsv(frame, tmp_path / "m.tsv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "m.tsv", sep="\t", index_col=0), frame)
    with atomic_file(npz_path(tmp_path / "runs"), "wb") as file:
        np.savez_compressed(file, a=np.arange(3))
    assert np.array_equal(np.load(tmp_path / "runs.npz")["a"], np.arange(3))
    assert npz_path(tmp_path / "x.npz") == tmp_path / "x.npz"
