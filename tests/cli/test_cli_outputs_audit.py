"""Audit of the reporting verbs: the --json documents of train/evaluate/predict against the keys the README
documents, progress only on stderr, evaluate/predict on a checkpoint of every built-in image model, pictures of
many kinds and folders of them, class names, and diverged checkpoints refused in one line."""
from __future__ import annotations

import io
import json
import math
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from scratchcnn import manual_seed, models
from scratchcnn.cli import main
from scratchcnn.io import load_checkpoint, save_checkpoint

from cli.helpers import assert_one_line_error, one_json, run

ROOT = Path(__file__).resolve().parents[2]
IMAGE_MODELS = [m for m in ("seed000", "seed001", "lenet5")]
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _documented_keys(verb: str) -> set[str]:
    """The keys README's "JSON output" list gives for ``verb`` (every `name` in its bullet)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^- {verb}( \([^)]*\))?:(.*?)(?=^- |^\s*$)", text, flags=re.M | re.S)
    assert m, f"README documents no JSON keys for {verb}"
    return set(re.findall(r"`([a-z_0-9]+)`", m.group(2)))


def _all_keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | set().union(*(_all_keys(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_all_keys(v) for v in obj)) if obj else set()
    return set()


def _strict(out: str) -> dict:
    """The one JSON object on stdout, parsed strictly (NaN/Infinity are not JSON)."""
    obj = one_json(out)
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    return obj


def _check_schema(verb: str, obj: dict) -> None:
    documented = _documented_keys(verb)
    assert documented <= _all_keys(obj), documented - _all_keys(obj)
    assert set(obj) <= documented, f"undocumented {verb} keys: {set(obj) - documented}"


def _cli(args) -> tuple[int, str, str]:
    so, se = io.StringIO(), io.StringIO()
    with redirect_stdout(so), redirect_stderr(se):
        rc = main([str(a) for a in args])
    return rc, so.getvalue(), se.getvalue()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """An untrained checkpoint of each built-in image model, as `scratchcnn train` would label it."""
    root = tmp_path_factory.mktemp("ckpts")
    out = {}
    for name in IMAGE_MODELS:
        manual_seed(0)
        model = models.get(name, num_classes=10)
        meta = models.model_meta(model, dataset="mnist", class_names=NAMES, input_shape=[1, 28, 28],
                                 normalization={"mean": [0.1307], "std": [0.3081]})
        save_checkpoint(root / name, model.state_dict(), meta)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, data_dir):
    """Digits as files of several kinds: grey PNG, RGB JPEG of another size, 16-bit PNG, RGBA PNG, in a folder."""
    from PIL import Image

    from scratchcnn.data import load_dataset
    d = tmp_path_factory.mktemp("pics")
    test = load_dataset("mnist", "test", data_dir=data_dir)
    Image.fromarray(test.images[0]).save(d / "a_grey.png")
    big = np.array(Image.fromarray(255 - test.images[1]).resize((90, 50)))
    Image.fromarray(np.stack([big] * 3, axis=-1)).save(d / "b_paper.jpg")
    Image.fromarray(test.images[2].astype(np.uint16) * 257).save(d / "c_16bit.png")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = test.images[3]
    Image.fromarray(rgba).save(d / "d_alpha.png")
    (d / "notes.txt").write_text("not a picture")
    return d


def test_train_json_is_one_documented_document_and_progress_stays_on_stderr(tmp_path, data_dir):
    base = ["train", "--model", "seed000", "--epochs", "1", "--limit-train", "200", "--limit-test", "50",
            "--batch-size", "50", "--data-dir", data_dir, "--no-plots", "--json"]
    rc, out, err = _cli(base + ["--out", tmp_path / "a"])
    assert rc == 0, err
    res = _strict(out)
    _check_schema("train", res)
    assert "epoch 1/1" in err and "batch" in err                 # tqdm bar and epoch line on stderr only
    assert set(res["test"]) == {"accuracy", "loss", "precision", "recall", "f1"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in res["test"].values())
    rc, out, err = _cli(base + ["--out", tmp_path / "b", "--no-progress"])
    assert rc == 0 and err == "" and _strict(out)["test_accuracy"] == res["test_accuracy"]


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_evaluate_each_image_model(name, checkpoints, capsys, data_dir):
    rc, out, err = run(capsys, "evaluate", checkpoints[name], "--data-dir", data_dir, "--limit", "40", "--json")
    assert rc == 0, err
    res = _strict(out)
    _check_schema("evaluate", res)
    cm = np.array(res["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 40 == res["num_samples"]
    assert res["accuracy"] == pytest.approx(np.trace(cm) / 40)
    assert res["per_class"]["support"] == cm.sum(axis=1).tolist()
    assert res["class_names"] == NAMES and res["model"] == name
    rc, out, _ = run(capsys, "evaluate", checkpoints[name], "--data-dir", data_dir, "--limit", "40")
    assert rc == 0 and "zero" in out and f"{name} on mnist test (40 images)" in out


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_predict_each_image_model_on_files_and_a_folder(name, checkpoints, pictures, capsys):
    files = sorted(str(p) for p in pictures.iterdir() if p.suffix in (".png", ".jpg"))
    rc, out, err = run(capsys, "predict", checkpoints[name], pictures, "--top-k", "2", "--json")
    assert rc == 0, err
    res = _strict(out)
    _check_schema("predict", res)
    preds = res["predictions"]
    assert [p["file"] for p in preds] == files                   # a folder: its pictures by name, not notes.txt
    for p in preds:
        assert p["label"] == NAMES[p["index"]] and len(p["top_k"]) == 2
        assert p["top_k"][0] == {"label": p["label"], "index": p["index"], "probability": p["probability"]}
        assert p["top_k"][0]["probability"] >= p["top_k"][1]["probability"] > 0
    rc, out, err = run(capsys, "predict", checkpoints[name], files[0], files[1])
    assert rc == 0 and out.count("top-3:") == 2 and any(n in out for n in NAMES)


def test_predict_errors_are_one_line(checkpoints, pictures, tmp_path, capsys):
    ckpt = checkpoints["seed000"]
    rc, out, err = run(capsys, "predict", ckpt, pictures / "notes.txt", "--json")
    assert_one_line_error(rc, out, err, "cannot read image", "notes.txt")
    (tmp_path / "empty").mkdir()
    rc, out, err = run(capsys, "predict", ckpt, tmp_path / "empty")
    assert_one_line_error(rc, out, err, "holds no image files")
    rc, out, err = run(capsys, "predict", ckpt, tmp_path / "nowhere")
    assert_one_line_error(rc, out, err, "no such image file or folder", "nowhere")
    torn = tmp_path / "torn.png"
    torn.write_bytes((pictures / "a_grey.png").read_bytes()[:60])
    rc, out, err = run(capsys, "predict", ckpt, torn)
    assert_one_line_error(rc, out, err, "torn.png")


def test_diverged_checkpoint_is_refused_in_one_line(checkpoints, pictures, tmp_path, capsys, data_dir):
    """Weights that overflow float32 give infinite logits: evaluate used to print an accuracy (argmax of
    inf/NaN) with a null loss and a flood of RuntimeWarnings, predict probabilities of NaN."""
    weights, meta = load_checkpoint(checkpoints["seed000"])
    weights = {k: (v * np.float32(1e12) if k.endswith("weight") else v) for k, v in weights.items()}
    save_checkpoint(tmp_path / "big", weights, meta)
    rc, out, err = run(capsys, "evaluate", tmp_path / "big", "--data-dir", data_dir, "--limit", "20", "--json")
    assert_one_line_error(rc, out, err, "NaN or infinite for", "of 20 samples", "retrain")
    rc, out, err = run(capsys, "predict", tmp_path / "big", pictures / "a_grey.png", "--json")
    assert_one_line_error(rc, out, err, "NaN or infinite for 1 of 1 images")
