"""`train --data-dir` relative is recorded absolute (train, finetune), so `--resume` and `report` work from another
working folder; the report searches the usual places for an older run's relative folder."""
from __future__ import annotations

import json
from pathlib import Path

import scratchcnn.data.sources as dl
from scratchcnn.finetune import FinetuneConfig
from scratchcnn.train import TrainConfig
from scratchcnn.viz.report import _saved_data_dir

from cli.helpers import one_json, run
from fake_idx import write_fake_idx


def _fake(folder: Path, gz: bool = True, n_train: int = 20, n_test: int = 10) -> Path:
    return write_fake_idx(folder, gz=gz, n_train=n_train, n_test=n_test)


def test_a_relative_data_dir_is_recorded_absolute(capsys, tmp_path, monkeypatch):
    """`train --data-dir raw` recorded "raw": `--resume` and `report` from another folder then looked in the wrong
    place ('data folder raw does not exist (--data-dir) ... leave it out', though it was never given)."""
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    _fake(proj / "raw" / "mnist")
    elsewhere.mkdir()
    monkeypatch.delenv("SCRATCHCNN_DATA", raising=False)
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(proj)
    rc, out, err = run(capsys, "train", "--model", "seed000", "--data-dir", "raw", "--epochs", "1", "--no-progress",
                       "--no-plots", "--no-tensorboard", "--out", "run", "--json")
    assert rc == 0, err
    absolute = str((proj / "raw").resolve())
    assert one_json(out)["config"]["data_dir"] == absolute
    state = json.loads((proj / "run" / "last" / "trainer_state.json").read_text())
    assert state["config"]["data_dir"] == absolute
    monkeypatch.chdir(elsewhere)
    rc, out, err = run(capsys, "train", "--resume", proj / "run", "--no-progress", "--no-plots", "--no-tensorboard",
                       "--json")
    assert rc == 0, err
    rc, out, err = run(capsys, "train", "--resume", proj / "run", "--data-dir", "../proj/raw", "--no-progress",
                       "--no-plots", "--no-tensorboard", "--json")    # given again, relative to here: the same
    assert rc == 0 and one_json(out)["config"]["data_dir"] == absolute, err


def test_configs_and_report_use_absolute_data_dirs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = tmp_path.resolve()
    assert TrainConfig(data_dir="raw").data_dir == str(here / "raw")
    assert TrainConfig.from_dict(TrainConfig(data_dir="raw").to_dict()).data_dir == str(here / "raw")
    assert TrainConfig().data_dir is None
    assert FinetuneConfig(data_dir="raw").data_dir == str(here / "raw")
    assert FinetuneConfig().data_dir is None
    (tmp_path / "raw").mkdir()
    # the report uses a run's recorded folder while it exists; an older run's relative one means another working
    # folder's, so the usual places are searched instead
    assert _saved_data_dir({"data_dir": str(here / "raw")}) == str(here / "raw")
    assert _saved_data_dir({"data_dir": "raw"}) is None
    assert _saved_data_dir({"data_dir": str(here / "gone")}) is None
    assert _saved_data_dir({}) is None


def test_absolute_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dl.absolute_dir(None) is None
    assert dl.absolute_dir("raw") == str(tmp_path.resolve() / "raw")
    assert dl.absolute_dir(Path("a/../b")) == str(tmp_path.resolve() / "b")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert dl.absolute_dir("~/x") == str((tmp_path / "h" / "x").resolve())
