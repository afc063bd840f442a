"""`scratchcnn finetune` and `finetune-compare` on synthetic data: --json shapes, human output, one-line errors
with nothing written, and the produced checkpoints working with `evaluate` and `predict`."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (shared fixtures of tests/finetune)

import scratchcnn as sc  # noqa: E402
from scratchcnn import models  # noqa: E402

from cli.helpers import assert_one_line_error as one_line_error  # noqa: E402
from cli.helpers import one_json, run  # noqa: E402
from finetune.conftest import TINY, save_base, write_fake_dataset  # noqa: E402

ROW_KEYS = {"strategy", "accuracy", "trainable_params", "trainable_percent", "seconds", "checkpoint_bytes"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_ft")
    data = write_fake_dataset(root / "data")
    sc.manual_seed(3)
    base = save_base(root / "base", models.get(TINY, num_classes=5), [str(i) for i in range(5)])
    return root, data, base


def _common(data, out):
    return ["--data-dir", data, "--out", out, "--epochs", "1", "--batch-size", "8", "--no-progress"]


def test_finetune_json_and_text(setup, capsys):
    root, data, base = setup
    rc, out, err = run(capsys, "finetune", base, "--strategy", "lora", "--classes", "5-9", "--labels-per-class",
                       "4", "--rank", "2", "--json", *_common(data, root / "lora"))
    assert rc == 0, err
    res = one_json(out)
    assert ROW_KEYS <= set(res) and res["strategy"] == "lora" and "history" not in res
    assert Path(res["adapter_checkpoint"]).is_dir() and Path(res["merged_checkpoint"]).is_dir()
    assert res["config"]["rank"] == 2 and res["num_train"] == 20
    rc, out, err = run(capsys, "finetune", base, "--strategy", "adapter", "--classes", "5-9",
                       "--labels-per-class", "4", *_common(data, root / "adapter-text"))
    assert rc == 0, err
    assert "test accuracy" in out and "adapter-only checkpoint:" in out and "trainable parameters:" in out


def test_finetune_compare_json(setup, capsys):
    root, data, base = setup
    rc, out, err = run(capsys, "finetune-compare", base, "--strategies", "bitfit,lora", "--classes", "5-9",
                       "--labels-per-class", "3", "--limit-test", "30", "--json", *_common(data, root / "cmp"))
    assert rc == 0, err
    res = one_json(out)
    assert [r["strategy"] for r in res["rows"]] == ["bitfit", "lora", "scratch"]
    for r in res["rows"]:
        assert ROW_KEYS <= set(r)
    assert Path(res["png"]).is_file() and Path(res["csv"]).is_file()
    rc, out, err = run(capsys, "finetune-compare", base, "--strategies", "linear-probe", "--classes", "5-9",
                       "--labels-per-class", "3", "--limit-test", "30", "--no-plots", *_common(data, root / "cmp2"))
    assert rc == 0, err
    assert "linear-probe" in out and "scratch" in out and "acc %" in out


@pytest.mark.parametrize("args,fragments", [
    (["--strategy", "lora", "--rank", "50"], ["rank 50 is larger than the layer allows"]),
    (["--classes", "7-12"], ["absent from mnist"]),
    (["--strategy", "lora", "--targets", "bn1"], ["LoRA applies to Conv1d, Conv2d and Linear"]),
])
def test_bad_input_one_line_nothing_written(setup, capsys, args, fragments):
    root, data, base = setup
    out_dir = root / "bad"
    rc, out, err = run(capsys, "finetune", base, *args, "--json", *_common(data, out_dir))
    one_line_error(rc, out, err, *fragments)
    assert not out_dir.exists()
    cmp_args = ["--strategies" if a == "--strategy" else a for a in args]
    rc, out, err = run(capsys, "finetune-compare", base, *cmp_args, "--json", *_common(data, out_dir))
    one_line_error(rc, out, err, *fragments)
    assert not out_dir.exists()


def test_incremental_checkpoints_work_with_evaluate_and_predict(setup, capsys, tmp_path):
    root, data, base = setup
    rc, out, err = run(capsys, "finetune", base, "--strategy", "lora", "--extend-classes", "--labels-per-class", "4",
                       "--replay", "2", "--json", *_common(data, root / "ext"))
    assert rc == 0, err
    res = one_json(out)
    assert res["class_names"] == [str(i) for i in range(10)]
    assert {"old_accuracy", "new_accuracy", "old_accuracy_before"} <= set(res)
    # the merged checkpoint (LoRA merged: a plain model) and the adapter-only one both work with evaluate
    rc, out, err = run(capsys, "evaluate", res["merged_checkpoint"], "--data-dir", data, "--json")
    assert rc == 0, err
    ev = one_json(out)
    assert ev["num_samples"] == res["num_test"]
    assert abs(ev["accuracy"] - res["accuracy"]) < 1e-12
    rc, out, err = run(capsys, "evaluate", res["adapter_checkpoint"], "--data-dir", data, "--json")
    assert rc == 0, err
    assert abs(one_json(out)["accuracy"] - res["accuracy"]) < 1e-12
    from PIL import Image
    img = np.zeros((28, 28), np.uint8)
    img[8:14, 8:14] = 255
    Image.fromarray(img).save(tmp_path / "x.png")
    for ckpt in (res["adapter_checkpoint"], res["merged_checkpoint"]):
        rc, out, err = run(capsys, "predict", ckpt, tmp_path / "x.png", "--json")
        assert rc == 0, err
        pred = one_json(out)["predictions"][0]
        assert pred["label"] in res["class_names"]


def test_adapter_checkpoint_with_changed_base_is_refused(setup, capsys, tmp_path):
    root, data, _ = setup
    sc.manual_seed(8)
    base = save_base(tmp_path / "base", models.get(TINY, num_classes=5), [str(i) for i in range(5)])
    rc, out, err = run(capsys, "finetune", base, "--strategy", "adapter", "--classes", "0-9", "--json",
                       *_common(data, tmp_path / "run"))
    assert rc == 0, err
    adapter = one_json(out)["adapter_checkpoint"]
    sc.manual_seed(9)
    save_base(tmp_path / "base", models.get(TINY, num_classes=5), [str(i) for i in range(5)])
    rc, out, err = run(capsys, "evaluate", adapter, "--data-dir", data, "--json")
    one_line_error(rc, out, err, "different base", "SHA-256")


def test_subset_checkpoint_with_evaluate(setup, capsys):
    root, data, base = setup
    rc, out, err = run(capsys, "finetune", base, "--strategy", "bitfit", "--classes", "5-9", "--json",
                       *_common(data, root / "subset"))
    assert rc == 0, err
    res = one_json(out)
    rc, out, err = run(capsys, "evaluate", res["merged_checkpoint"], "--data-dir", data, "--json")
    assert rc == 0, err
    ev = one_json(out)
    assert ev["class_names"] == ["5", "6", "7", "8", "9"] and abs(ev["accuracy"] - res["accuracy"]) < 1e-12


@pytest.mark.parametrize("linear", [True, False])
def test_adapter_linear_option_and_checkpoint_round_trip(setup, capsys, linear):
    """--adapter-linear (default) adds a parallel adapter beside fc1; it is saved in the adapter-only checkpoint,
    re-created on loading, and evaluate agrees with the run's own test accuracy."""
    from scratchcnn.finetune import load_any
    root, data, base = setup
    flag = "--adapter-linear" if linear else "--no-adapter-linear"
    rc, out, err = run(capsys, "finetune", base, "--strategy", "adapter", "--classes", "5-9", "--labels-per-class",
                       "4", "--adapter-dim", "2", flag, "--json", *_common(data, root / f"adapter-{linear}"))
    assert rc == 0, err
    res = one_json(out)
    assert res["config"]["adapter_linear"] is linear
    model = load_any(res["adapter_checkpoint"])[0]
    keys = {k for k in model.state_dict() if k.startswith("parallel.")}
    assert keys == ({f"parallel.fc1.{p}.{w}" for p in ("down", "up") for w in ("weight", "bias")} if linear
                    else set())
    rc, out, err = run(capsys, "evaluate", res["adapter_checkpoint"], "--data-dir", data, "--json")
    assert rc == 0, err
    assert one_json(out)["accuracy"] == pytest.approx(res["accuracy"])


# ------------------------------------------------------------------------------------------------ --insert-block
@pytest.fixture(scope="module")
def inserted_run(setup, tmp_path_factory):
    """linear-probe with residual blocks after bn2 (a (8, 7, 7) map) and fc1 (a 32-vector)."""
    import contextlib
    import io
    from scratchcnn.cli import main
    root, data, base = setup
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main([str(a) for a in ("finetune", base, "--strategy", "linear-probe", "--insert-block", "bn2",
                                    "--insert-block", "fc1", "--classes", "5-9", "--labels-per-class", "4",
                                    "--json", *_common(data, root / "insert"))])
    assert rc == 0
    return one_json(stdout.getvalue())


def test_insert_block_trains_blocks_and_head_and_checkpoints_load(setup, capsys, inserted_run, tmp_path):
    """The blocks and the head train (8 * 8 * 9 + 8 twice, 32 * 32 + 32 twice, 32 * 5 + 5); evaluate gives the
    run's accuracy on both checkpoints; predict and visualize take them (visualize lists the model's convs, not
    the blocks')."""
    root, data, base = setup
    res = inserted_run
    assert res["config"]["insert_blocks"] == ["bn2", "fc1"]
    assert res["trainable_params"] == 2 * (8 * 8 * 9 + 8) + 2 * (32 * 32 + 32) + 32 * 5 + 5
    for ckpt in (res["adapter_checkpoint"], res["merged_checkpoint"]):
        rc, out, err = run(capsys, "evaluate", ckpt, "--data-dir", data, "--json")
        assert rc == 0, err
        ev = one_json(out)
        assert ev["num_samples"] == res["num_test"] and ev["accuracy"] == pytest.approx(res["accuracy"])
    from PIL import Image
    img = np.zeros((28, 28), np.uint8)
    img[8:14, 8:14] = 255
    Image.fromarray(img).save(tmp_path / "x.png")
    for i, ckpt in enumerate((res["adapter_checkpoint"], res["merged_checkpoint"])):
        rc, out, err = run(capsys, "predict", ckpt, tmp_path / "x.png", "--json")
        assert rc == 0, err
        assert one_json(out)["predictions"][0]["label"] in res["class_names"]
        for verb, extra in (("kernels", ["--layer", "conv2"]), ("gradcam", ["--image", tmp_path / "x.png"]),
                            ("feature-maps", ["--image", tmp_path / "x.png", "--max-maps", "4"])):
            rc, out, err = run(capsys, "visualize", verb, ckpt, *extra, "--out", tmp_path / f"{verb}{i}.png", "--json")
            assert rc == 0, err
            assert (tmp_path / f"{verb}{i}.png").is_file()
            if verb == "gradcam":                                  # the model's last conv block, not a block's
                assert "inserted" not in one_json(out)["layer"]


def test_insert_block_in_finetune_compare(setup, capsys):
    root, data, base = setup
    rc, out, err = run(capsys, "finetune-compare", base, "--strategies", "bitfit", "--insert-block", "fc1",
                       "--classes", "5-9", "--labels-per-class", "3", "--limit-test", "30", "--no-plots", "--json",
                       *_common(data, root / "cmp-insert"))
    assert rc == 0, err
    rows = one_json(out)["rows"]
    assert [r["strategy"] for r in rows] == ["bitfit", "scratch"]
    bitfit = rows[0]
    # BitFit's biases (conv1, conv2, fc1; BatchNorm frozen by default) and head, plus the block after fc1
    assert bitfit["trainable_params"] == 4 + 8 + 32 + (32 * 5 + 5) + 2 * (32 * 32 + 32)


@pytest.mark.parametrize("args,fragments", [
    (["--insert-block", "fc2"], ["--insert-block fc2 is the classifier head"]),
    (["--insert-block", "nope"], ["--insert-block 'nope' is not a module of the model", "bn2"]),
    (["--insert-block", "bn2", "--insert-block", "bn2"], ["--insert-block bn2 is given twice"]),
    (["--insert-block", "bn2", "--strategy", "adapter"], ["the adapter strategy already inserts an adapter after bn2"]),
])
def test_insert_block_bad_input_one_line_nothing_written(setup, capsys, args, fragments):
    root, data, base = setup
    out_dir = root / "bad-insert"
    rc, out, err = run(capsys, "finetune", base, *args, "--classes", "5-9", "--json", *_common(data, out_dir))
    one_line_error(rc, out, err, *fragments)
    assert not out_dir.exists()
    cmp_args = ["--strategies" if a == "--strategy" else a for a in args]
    rc, out, err = run(capsys, "finetune-compare", base, *cmp_args, "--classes", "5-9", "--json",
                       *_common(data, out_dir))
    one_line_error(rc, out, err, *fragments)
    assert not out_dir.exists()


def test_base_with_inserted_blocks_is_refused(setup, capsys, inserted_run):
    root, data, _ = setup
    out_dir = root / "second"
    for ckpt in (inserted_run["merged_checkpoint"], inserted_run["adapter_checkpoint"]):
        rc, out, err = run(capsys, "finetune", ckpt, "--strategy", "full", "--classes", "0-4", "--json",
                           *_common(data, out_dir))
        one_line_error(rc, out, err, "residual blocks inserted by --insert-block (after bn2, fc1)")
        assert not out_dir.exists()
