"""`scratchcnn visualize <what>` and `scratchcnn report`: every picture is written with the size the JSON reports
and is not blank; bad input is one line and exit code 2."""
from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

import pytest

from scratchcnn.cli import main

from cli.helpers import assert_one_line_error, one_json, run
from viz.helpers import (build_model, check_png, draw_digit, draw_scene, make_checkpoint, make_finetune_dir,
                         make_run_dir, make_text_checkpoint, register_noconv, register_spareconv, save_model)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("vis")
    noconv = register_noconv()
    return {"ckpt": make_checkpoint(d / "ckpt"), "run": make_run_dir(d / "run"),
            "digit": draw_digit(d / "digit.png", light_background=True), "scene": draw_scene(d / "scene.png"),
            "noconv": save_model(d / "noconv", build_model(noconv)),
            "spare": save_model(d / "spare", build_model(register_spareconv())),
            "text": make_text_checkpoint(d / "text"), "ftdir": make_finetune_dir(d / "ft")}


@pytest.mark.parametrize("verb, args, size", [
    ("kernels", ["{ckpt}"], (1100, 310)),
    ("kernels", ["{run}", "--layer", "conv2"], (1100, 550)),
    ("feature-maps", ["{ckpt}", "--image", "{digit}", "--max-maps", "4"], (950, 520)),
    ("filter", ["--image", "{scene}", "--kernel", "sobel-y"], (1200, 420)),
    ("filter", ["--image", "{digit}", "--kernel", "[[0, 1], [1, 0]]", "--mode", "convolution"], (1200, 420)),
    ("gradcam", ["{ckpt}", "--image", "{digit}"], (1000, 360)),
    ("gradcam", ["{ckpt}", "--image", "{digit}", "--class", "3", "--layer", "conv1"], (1000, 360)),
    ("saliency", ["{ckpt}", "--image", "{digit}", "--class", "7"], (1000, 360)),
    ("curves", ["{run}"], (1200, 380)),
    ("confusion", ["{run}"], (810, 710)),
])
def test_visualize_writes_pictures(capsys, tmp_path, files, verb, args, size):
    out_png = tmp_path / f"{verb}.png"
    argv = [a.format(**files) for a in args]
    rc, out, err = run(capsys, "visualize", verb, *argv, "--out", out_png, "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["out"] == str(out_png) and (d["width"], d["height"]) == size
    check_png(out_png, size)
    if verb == "gradcam" and "--class" in args:
        assert d["class"] == "3" and d["layer"] == "conv1"


def test_visualize_text_output(capsys, tmp_path, files):
    rc, out, err = run(capsys, "visualize", "curves", files["run"], "--out", tmp_path / "c.png")
    assert rc == 0, err
    assert out == f"wrote curves of 3 epoch(s) to {tmp_path / 'c.png'} (1200x380)\n"


def test_visualize_mistakes_on_real_data(capsys, tmp_path, files, data_dir):
    rc, out, err = run(capsys, "visualize", "mistakes", files["ckpt"], "--dataset", "mnist", "--data-dir", data_dir,
                       "--limit", "60", "--max-images", "8", "--out", tmp_path / "m.png", "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["examined"] == 60 and d["shown"] == min(8, d["misclassified"]) and d["misclassified"] > 0
    assert all(e["true"] != e["pred"] for e in d["examples"])
    check_png(tmp_path / "m.png", (d["width"], d["height"]))


@pytest.mark.parametrize("verb, args, fragment", [
    ("kernels", ["{noconv}"], "no Conv2d layers"),
    ("feature-maps", ["{noconv}", "--image", "{digit}"], "no Conv2d layers"),
    ("gradcam", ["{noconv}", "--image", "{digit}"], "no Conv2d layers"),
    ("gradcam", ["{ckpt}", "--image", "{bad}"], "cannot read image"),
    ("saliency", ["{ckpt}", "--image", "{missing}"], "does not exist"),
    ("filter", ["--image", "{bad}"], "cannot read image"),
    ("filter", ["--image", "{digit}", "--kernel", "[[1, 2], [3]]"], "ragged"),
    ("filter", ["--image", "{digit}", "--kernel", '[["a"]]'], "non-numeric"),
    ("gradcam", ["{ckpt}", "--image", "{digit}", "--class", "12"], "out of range"),
    ("gradcam", ["{ckpt}", "--image", "{digit}", "--layer", "fc9"], "no layer"),
    ("curves", ["{ckpt}"], "no history.json"),
    ("confusion", ["{empty}"], "does not look like a training run"),
    ("kernels", ["{empty}"], "checkpoint"),
    ("gradcam", ["{spare}", "--image", "{digit}", "--layer", "spare"], "layer spare is not called"),
    ("kernels", ["{text}"], "it is a text model (Conv1d"),
    ("feature-maps", ["{text}", "--image", "{digit}"], "it is a text model (Conv1d"),
    ("saliency", ["{text}", "--image", "{digit}"], "it is a text model (Conv1d"),
    ("mistakes", ["{text}"], "textcnn is a text classifier"),
    ("gradcam", ["{ftdir}/merged", "--image", "{digit}", "--class", "3"], "give the class name"),
    ("confusion", ["{ftdir}"], "records the test accuracy but no confusion matrix"),
])
def test_visualize_bad_input(capsys, tmp_path, files, verb, args, fragment):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not a picture")
    (tmp_path / "empty").mkdir()
    names = dict(files, bad=bad, missing=tmp_path / "missing.png", empty=tmp_path / "empty")
    argv = [a.format(**names) for a in args]
    rc, out, err = run(capsys, "visualize", verb, *argv, "--out", tmp_path / "x.png", "--json")
    assert_one_line_error(rc, out, err, fragment)
    assert not (tmp_path / "x.png").exists()


def test_gradcam_default_layer_is_the_last_conv_that_runs(capsys, tmp_path, files):
    rc, out, err = run(capsys, "visualize", "gradcam", files["spare"], "--image", files["digit"],
                       "--out", tmp_path / "g.png", "--json")
    assert rc == 0, err
    assert one_json(out)["layer"] == "relu"          # `spare` is the last Conv2d defined, but never runs
    check_png(tmp_path / "g.png", (1000, 360))


def test_class_names_that_are_numbers_win_over_indices(capsys, tmp_path, files):
    rc, out, err = run(capsys, "visualize", "saliency", files["ftdir"] / "merged", "--image", files["digit"],
                       "--class", "7", "--out", tmp_path / "s.png", "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["class"] == "7" and d["class_index"] == 2


def test_report_of_a_finetune_folder(capsys, tmp_path, files):
    rc, out, err = run(capsys, "report", files["ftdir"], "--no-mistakes", "--out", tmp_path / "r.html", "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["images"] == 2 and d["missing"] == ["Confusion matrix (test)"]
    assert "test accuracy 0.6125" in (tmp_path / "r.html").read_text()


def test_visualize_refuses_non_png(capsys, tmp_path, files):
    rc, out, err = run(capsys, "visualize", "kernels", files["ckpt"], "--out", tmp_path / "k.jpg")
    assert_one_line_error(rc, out, err, "PNG")


def test_report(capsys, tmp_path, files, monkeypatch):
    import scratchcnn.data as data

    def no_data(name, *a, **kw):
        raise data.DatasetNotFoundError(f"dataset {name!r} not found here")
    monkeypatch.setattr(data, "load_dataset", no_data)
    rc, out, err = run(capsys, "report", files["run"], "--out", tmp_path / "r.html", "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["out"] == str(tmp_path / "r.html") and d["images"] == 3
    assert d["missing"] == ["Misclassified test images"]
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "not found here" in page
    rc, out, err = run(capsys, "report", files["run"], "--no-mistakes")
    assert rc == 0 and "wrote" in out and (files["run"] / "report.html").is_file()
    rc, out, err = run(capsys, "report", tmp_path, "--json")
    assert_one_line_error(rc, out, err, "does not look like a training run")
    rc, out, err = run(capsys, "report", files["run"], "--out", tmp_path / "r.txt")
    assert_one_line_error(rc, out, err, ".html")


@pytest.mark.slow
def test_real_run_end_to_end(capsys, tmp_path, data_dir, files):
    """A tiny real `scratchcnn train`, then every run-folder picture and the report from what it wrote."""
    run_dir = tmp_path / "run"
    so, se = io.StringIO(), io.StringIO()
    with redirect_stdout(so), redirect_stderr(se):
        rc = main(["train", "--model", "seed000", "--dataset", "mnist", "--epochs", "1", "--limit-train", "128",
                   "--limit-test", "64", "--batch-size", "64", "--val-split", "0", "--data-dir", str(data_dir),
                   "--out", str(run_dir), "--no-tensorboard", "--no-plots", "--no-progress", "--json"])
    assert rc == 0, se.getvalue()
    for verb, size in (("curves", (1200, 380)), ("confusion", (810, 710))):
        rc, out, err = run(capsys, "visualize", verb, run_dir, "--out", tmp_path / f"{verb}.png", "--json")
        assert rc == 0, err
        check_png(tmp_path / f"{verb}.png", size)
    rc, out, err = run(capsys, "visualize", "gradcam", run_dir / "best", "--image", files["digit"],
                       "--out", tmp_path / "g.png")
    assert rc == 0, err
    rc, out, err = run(capsys, "report", run_dir, "--data-dir", data_dir, "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["images"] == 4 and d["missing"] == []
    page = (run_dir / "report.html").read_text()
    assert "seed000 on mnist" in page and "limit_train" in page
