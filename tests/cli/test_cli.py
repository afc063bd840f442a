"""The `scratchcnn` command line: --json prints exactly one JSON object, errors are one line with exit code 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchcnn.cli import main

from cli.helpers import assert_one_line_error, one_json, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """One short real training through the CLI (seed000, 400 images, 1 epoch); its stdout JSON and folder."""
    out_dir = tmp_path_factory.mktemp("cli") / "run"
    args = ["train", "--model", "seed000", "--dataset", "mnist", "--epochs", "1", "--limit-train", "400",
            "--limit-test", "200", "--batch-size", "50", "--data-dir", str(data_dir), "--out", str(out_dir),
            "--no-tensorboard", "--json"]
    import io
    from contextlib import redirect_stderr, redirect_stdout
    so, se = io.StringIO(), io.StringIO()
    with redirect_stdout(so), redirect_stderr(se):
        rc = main(args)
    assert rc == 0, se.getvalue()
    return one_json(so.getvalue()), out_dir, se.getvalue()


def test_train_json(trained):
    res, out_dir, err = trained
    assert {"test_accuracy", "epochs", "seconds", "checkpoint", "val_accuracy", "history"} <= set(res)
    assert res["epochs"] == 1 and 0.0 <= res["test_accuracy"] <= 1.0 and res["seconds"] > 0
    assert res["num_train"] == 360 and res["num_val"] == 40 and res["num_test"] == 200
    assert Path(res["checkpoint"], "model.safetensors").is_file()
    assert json.loads(Path(res["history"]).read_text())[0]["epoch"] == 1
    for f in ("history.csv", "curves.png", "confusion_matrix.png", "test_metrics.json", "last/trainer_state.json"):
        assert (out_dir / f).is_file(), f
    meta = json.loads((out_dir / "best" / "meta.json").read_text())
    assert meta["model"]["name"] == "seed000" and meta["normalization"]["mean"] == [0.1307]
    assert meta["metrics"]["test_accuracy"] == res["test_accuracy"]
    assert "epoch 1/1" in err  # progress lines go to stderr


def test_resume_via_cli(trained, capsys, data_dir):
    _, out_dir, _ = trained
    rc, out, err = run(capsys, "train", "--resume", out_dir, "--lr", "0.5", "--json")
    assert_one_line_error(rc, out, err, "cannot resume", "lr")


def test_evaluate_json(trained, capsys, data_dir):
    _, out_dir, _ = trained
    rc, out, err = run(capsys, "evaluate", out_dir / "best", "--dataset", "mnist", "--split", "test",
                       "--data-dir", data_dir, "--limit", "300", "--json")
    assert rc == 0, err
    res = one_json(out)
    assert {"accuracy", "precision", "recall", "f1", "confusion_matrix"} <= set(res)
    cm = np.array(res["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 300
    assert res["accuracy"] == pytest.approx(np.trace(cm) / 300)
    rc, out, err = run(capsys, "evaluate", out_dir / "best", "--data-dir", data_dir, "--limit", "50")
    assert rc == 0 and "accuracy" in out and "confusion matrix" in out and "(50 images)" in out
    # a run folder means its best/ checkpoint; the dataset defaults to the one trained on
    rc, out, err = run(capsys, "evaluate", out_dir, "--data-dir", data_dir, "--limit", "300", "--json")
    assert rc == 0 and one_json(out)["confusion_matrix"] == res["confusion_matrix"]


def test_predict_json(trained, capsys, data_dir, tmp_path):
    from PIL import Image

    from scratchcnn.data import load_dataset
    _, out_dir, _ = trained
    test = load_dataset("mnist", "test", data_dir=data_dir)
    dark = tmp_path / "digit.png"
    Image.fromarray(test.images[0]).save(dark)
    light = tmp_path / "paper.jpg"  # dark ink on white paper, larger and in colour
    big = np.array(Image.fromarray(255 - test.images[1]).resize((96, 96)))
    Image.fromarray(np.stack([big] * 3, axis=-1)).save(light)
    rc, out, err = run(capsys, "predict", out_dir / "best", dark, light, "--top-k", "3", "--json")
    assert rc == 0, err
    preds = one_json(out)["predictions"]
    assert [p["file"] for p in preds] == [str(dark), str(light)]
    for p in preds:
        assert {"file", "label", "probability", "top_k"} <= set(p)
        assert len(p["top_k"]) == 3 and p["top_k"][0]["label"] == p["label"]
        probs = [t["probability"] for t in p["top_k"]]
        assert probs == sorted(probs, reverse=True) and 0 < probs[0] <= 1
    rc, out, err = run(capsys, "predict", out_dir / "best", tmp_path / "missing.png")
    assert_one_line_error(rc, out, err, "missing.png")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    rc, out, err = run(capsys, "predict", out_dir / "best", bad, "--json")
    assert_one_line_error(rc, out, err, "broken.png")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 40), 250, np.uint8)).save(blank)
    rc, out, err = run(capsys, "predict", out_dir / "best", dark, blank, "--json")
    assert_one_line_error(rc, out, err, "blank.png", "is blank")


def test_pictures_are_fitted_like_the_checkpoints_dataset():
    from scratchcnn.train.predict import image_fit
    assert image_fit("fashion-mnist") == "fill" and image_fit("FASHION-MNIST") == "fill"
    assert image_fit("mnist") == image_fit("kmnist") == image_fit(None) == image_fit("my-folder") == "digit"


def test_summary(trained, capsys):
    rc, out, err = run(capsys, "summary", "seed000", "--json")
    assert rc == 0, err
    res = one_json(out)
    assert res["total_params"] == 206_922 and res["layers"][0]["name"] == "conv1"
    rc, out, err = run(capsys, "summary", trained[1] / "best")
    assert rc == 0 and "Total params: 206,922" in out
    rc, out, err = run(capsys, "summary", "resnet999")
    assert_one_line_error(rc, out, err, "resnet999")


def test_summary_text_model(capsys):
    rc, out, err = run(capsys, "summary", "textcnn", "--num-classes", "2", "--json")
    assert rc == 0, err
    res = one_json(out)
    assert res["input_shape"] == [None, 64] and res["input_dtype"] == "int64"
    assert res["layers"][0]["name"] == "embedding" and res["layers"][-1]["output_shape"] == [None, 2]
    rc, out, err = run(capsys, "summary", "textcnn", "--input-shape", "100")
    assert rc == 0 and "input: (None, 100) int64 token ids" in out and "(None, 100, 300)" in out
    rc, out, err = run(capsys, "summary", "seed000", "--input-shape", "1,28,28", "--json")
    assert rc == 0 and one_json(out)["total_params"] == 206_922
    rc, out, err = run(capsys, "summary", "textcnn", "--input-shape", "1,28,28", "--json")
    assert_one_line_error(rc, out, err, "token ids", "(L,)")
    rc, out, err = run(capsys, "summary", "seed000", "--input-shape", "big", "--json")
    assert_one_line_error(rc, out, err, "--input-shape", "'big'")


def test_datasets(capsys, data_dir, tmp_path, monkeypatch):
    rc, out, err = run(capsys, "datasets", "list", "--data-dir", data_dir, "--json")
    assert rc == 0, err
    rows = {r["name"]: r for r in one_json(out)["datasets"]}
    assert rows["mnist"]["found"] and "kmnist" in rows
    rc, out, err = run(capsys, "datasets", "path", "mnist", "--data-dir", data_dir)
    assert rc == 0 and Path(out.strip(), "train-images-idx3-ubyte.gz").exists()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("SCRATCHCNN_DATA", str(tmp_path))
    rc, out, err = run(capsys, "datasets", "path", "kmnist", "--data-dir", tmp_path)
    if rc == 0:
        pytest.skip("kmnist is installed on this machine")
    assert_one_line_error(rc, out, err, "kmnist")


def test_errors_are_one_line(capsys, tmp_path):
    rc, out, err = run(capsys, "evaluate", tmp_path / "nope", "--json")
    assert_one_line_error(rc, out, err, "nope")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "meta.json").write_text("{broken")
    rc, out, err = run(capsys, "evaluate", tmp_path / "ckpt", "--json")
    assert_one_line_error(rc, out, err, "damaged")
    rc, out, err = run(capsys, "train", "--model", "resnet999", "--json")
    assert_one_line_error(rc, out, err, "unknown model 'resnet999'")
    rc, out, err = run(capsys, "train", "--optimizer", "rmsprop")
    assert_one_line_error(rc, out, err, "rmsprop")
    rc, out, err = run(capsys, "bogus")
    assert_one_line_error(rc, out, err, "bogus")
    # a --data-dir typo is an error, not silently replaced by $SCRATCHCNN_DATA
    for verb in (["train", "--epochs", "1", "--out", tmp_path / "run"], ["datasets", "list"]):
        rc, out, err = run(capsys, *verb, "--data-dir", tmp_path / "typo", "--json")
        assert_one_line_error(rc, out, err, str(tmp_path / "typo"), "does not exist")
    assert not (tmp_path / "run").exists()


def _python(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=e, timeout=120)


def test_python_m_and_debug_traceback(tmp_path):
    p = _python("-m", "scratchcnn", "evaluate", str(tmp_path / "nope"), "--json")
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    p = _python("-m", "scratchcnn", "--debug", "summary", "resnet999")
    assert p.returncode != 0 and "Traceback" in p.stderr
    p = _python("-m", "scratchcnn", "--help")
    assert p.returncode == 0 and "train" in p.stdout and "predict" in p.stdout


def test_import_scratchcnn_is_light():
    heavy = ["torch", "matplotlib", "tensorboardX", "PIL", "tqdm", "click", "safetensors", "sklearn", "scipy"]
    code = ("import sys, scratchcnn, scratchcnn.nn, scratchcnn.optim, scratchcnn.models, scratchcnn.train\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    p = _python("-c", code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_nan_loss_is_one_line(capsys, data_dir, tmp_path):
    rc, out, err = run(capsys, "train", "--limit-train", "640", "--epochs", "1", "--lr", "1e9", "--optimizer", "sgd",
                       "--data-dir", data_dir, "--out", tmp_path / "nan", "--no-plots", "--no-tensorboard", "--no-progress",
                       "--json")
    assert_one_line_error(rc, out, err, "epoch 1, step", "lower learning rate")
