"""Bad input on the command line (audit): every refusal is one line on stderr naming the problem, exit code 2,
nothing on stdout (also with --json) and nothing written or overwritten."""
from __future__ import annotations

import gzip
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from scratchcnn.cli import main

from cli.helpers import assert_one_line_error, one_json, run


def _quiet(*args) -> tuple[int, str, str]:
    so, se = io.StringIO(), io.StringIO()
    with redirect_stdout(so), redirect_stderr(se):
        rc = main([str(a) for a in args])
    return rc, so.getvalue(), se.getvalue()


@pytest.fixture(scope="module")
def image_run(data_dir, tmp_path_factory):
    """A small real seed000 run folder (200 images, 1 epoch; about a second)."""
    out_dir = tmp_path_factory.mktemp("badinput") / "run"
    rc, so, se = _quiet("train", "--model", "seed000", "--dataset", "mnist", "--epochs", "1", "--limit-train", "200",
                        "--limit-test", "50", "--batch-size", "50", "--data-dir", data_dir, "--out", out_dir,
                        "--no-tensorboard", "--no-plots", "--no-progress", "--json")
    assert rc == 0, se
    return out_dir


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A tiny TextCNN checkpoint trained on a two-label English corpus (well under a second)."""
    root = tmp_path_factory.mktemp("badinput_text")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "pos.txt").write_text("".join(f"good great film {i}\n" for i in range(20)), encoding="utf-8")
    (corpus / "neg.txt").write_text("".join(f"bad awful film {i}\n" for i in range(20)), encoding="utf-8")
    rc, so, se = _quiet("train-text", "--data", corpus, "--embed-dim", "4", "--num-filters", "2", "--kernel-sizes",
                        "1", "--epochs", "1", "--no-progress", "--out", root / "run", "--json")
    assert rc == 0, se
    return root / "run", corpus


# ------------------------------------------------------------------------------------ non-finite float options
@pytest.mark.parametrize("verb,option,value", [
    ("train", "--lr", "inf"),             # was: NaN loss, "try a lower learning rate, e.g. --lr nan", folder left
    ("train", "--lr", "nan"),
    ("train", "--weight-decay", "inf"),   # was: NaN loss blamed on the learning rate, empty folder left
    ("finetune", "--lr", "inf"),          # was: "save_checkpoint: ... non-finite values", empty folder left
    ("finetune", "--alpha", "inf"),       # was: NaN loss blamed on the learning rate
    ("finetune-compare", "--weight-decay", "nan"),
    ("train-text", "--lr", "inf"),        # was: a numpy RuntimeWarning (2 lines) + "outputs are NaN", folder left
    ("train-text", "--adversarial", "inf"),
    ("train-text", "--max-norm", "nan"),
    ("bench", "--seconds", "nan"),        # was: notices, then "cannot convert float NaN to integer"
    ("bench", "--seconds", "inf"),        # was: "OverflowError: cannot convert float infinity to integer"
])
def test_non_finite_numbers_are_refused_before_anything_runs(capsys, tmp_path, verb, option, value):
    out_dir = tmp_path / "out"
    lead = {"train": [], "bench": ["--no-memory", "--no-torch"], "train-text": ["--data", tmp_path],
            "finetune": [tmp_path], "finetune-compare": [tmp_path]}[verb]
    outs = [] if verb == "bench" else ["--out", out_dir]
    rc, out, err = run(capsys, verb, *lead, option, value, *outs, "--json")
    assert_one_line_error(rc, out, err, f"'{option}'", f"'{value}' is not a finite number")
    assert not out_dir.exists()


# ------------------------------------------------------------------------------------------- negative --seed
@pytest.mark.parametrize("verb", ["train", "finetune", "train-text"])
def test_negative_seed_names_the_option(capsys, tmp_path, verb):
    """Was numpy's bare "expected non-negative integer" (no option named) after loading the data."""
    lead = {"train": [], "train-text": ["--data", tmp_path], "finetune": [tmp_path]}[verb]
    rc, out, err = run(capsys, verb, *lead, "--seed", "-1", "--out", tmp_path / "out", "--json")
    assert_one_line_error(rc, out, err, "'--seed'", "-1")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------- a group without a command
@pytest.mark.parametrize("args,names", [
    ([], ["train", "evaluate", "explain"]),
    (["explain"], ["conv", "receptive-field"]),
    (["visualize"], ["kernels", "gradcam"]),
    (["datasets"], ["list", "verify"]),
])
def test_missing_command_is_one_short_line(capsys, args, names):
    """Was the whole help text squeezed into one ~1,000-character 'error: Usage: ...' line."""
    rc, out, err = run(capsys, *args)
    assert_one_line_error(rc, out, err, "missing command", *names, "--help")
    assert len(err) < 300 and "Usage:" not in err


# ------------------------------------------------------------------------------------- report --data-dir typo
def test_report_data_dir_that_does_not_exist_is_an_error(capsys, tmp_path, image_run):
    """Was exit 0 with the mistakes section silently left out (README: a --data-dir typo is an error)."""
    page = tmp_path / "r.html"
    rc, out, err = run(capsys, "report", image_run, "--data-dir", tmp_path / "typo", "--out", page, "--json")
    assert_one_line_error(rc, out, err, "'--data-dir'", str(tmp_path / "typo"), "does not exist")
    assert not page.exists()


# ------------------------------------------------------------------------------------------- export --out name
@pytest.mark.parametrize("name", ["kernels.png", "model.txt", "report.html"])
def test_export_out_must_be_an_onnx_file(capsys, tmp_path, image_run, name):
    """Was accepted: an ONNX graph written over (or into) a file of any other kind."""
    target = tmp_path / name
    target.write_text("keep me")
    rc, out, err = run(capsys, "export", image_run, "--out", target, "--json")
    assert_one_line_error(rc, out, err, "'--out'", "ending in .onnx", name)
    assert target.read_text() == "keep me"


# ------------------------------------------------------------------------- evaluate a text checkpoint --data-dir
def test_evaluate_text_checkpoint_refuses_data_dir(capsys, tmp_path, text_run):
    """Was silently ignored (the text checkpoint's own corpus was evaluated)."""
    run_dir, corpus = text_run
    rc, out, err = run(capsys, "evaluate", run_dir, "--data-dir", tmp_path, "--json")
    assert_one_line_error(rc, out, err, "--data-dir", "text classifier", "--dataset")
    rc, out, err = run(capsys, "evaluate", run_dir, "--dataset", corpus, "--json")   # the right way still works
    assert rc == 0, err
    assert one_json(out)["num_samples"] > 0


# ------------------------------------------------------------------------------------ datasets verify advice
def test_verify_gives_its_advice_once(capsys, tmp_path, data_dir):
    """A truncated gzip file: the line said 'delete it and download it again' twice."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    src = Path(data_dir) / "mnist"
    for f in src.iterdir():
        (folder / f.name).symlink_to(f.resolve())
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    data = bad.read_bytes()
    bad.unlink()
    bad.write_bytes(gzip.compress(gzip.decompress(data))[:2000])
    rc, out, err = run(capsys, "datasets", "verify", "mnist", "--data-dir", tmp_path)
    assert rc == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "failed verification" in lines[0] and "t10k-labels-idx1-ubyte.gz" in lines[0]
    assert lines[0].count("download it again") == 1, lines[0]
