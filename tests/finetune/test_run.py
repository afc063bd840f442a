"""End-to-end runs on synthetic data: results, incremental old/new accuracy, the comparison table, seeding, and
bad input (clear errors, nothing written)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models
from scratchcnn.finetune import FinetuneConfig, finetune, finetune_compare
from scratchcnn.finetune.compare import ROW_KEYS, format_table, parse_strategies

from .conftest import TINY, save_base


def _cfg(base, data, **kw):
    kw.setdefault("classes", "5-9")
    kw.setdefault("labels_per_class", 4)
    kw.setdefault("epochs", 1)
    kw.setdefault("limit_test", 40)
    return FinetuneConfig(base=str(base), data_dir=str(data), batch_size=8, **kw)


def test_finetune_result_and_files(base_ckpt, fake_data, tmp_path):
    res = finetune(_cfg(base_ckpt, fake_data, strategy="lora", epochs=2), tmp_path / "run", progress=False)
    for key in ("accuracy", "trainable_params", "trainable_percent", "seconds", "checkpoint_bytes", "merged_bytes"):
        assert isinstance(res[key], (int, float)), key
    assert 0 <= res["accuracy"] <= 1 and 0 < res["trainable_percent"] < 100
    assert res["num_train"] == 20 and res["num_test"] == 40 and len(res["history"]) == 2
    assert res["old_accuracy"] is None and res["class_names"] == ["5", "6", "7", "8", "9"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["adapter", "history.json", "merged",
                                                                   "result.json"]
    # same seed, same run
    again = finetune(_cfg(base_ckpt, fake_data, strategy="lora", epochs=2), tmp_path / "run2", progress=False)
    assert again["accuracy"] == res["accuracy"] and again["history"][-1]["loss"] == res["history"][-1]["loss"]


def test_incremental_reports_old_and_new(base_ckpt, fake_data, tmp_path):
    res = finetune(_cfg(base_ckpt, fake_data, strategy="full", extend_classes=True, replay=2),
                   tmp_path / "run", progress=False)
    assert res["class_names"] == [str(i) for i in range(10)]
    for key in ("old_accuracy", "new_accuracy", "old_accuracy_before"):
        assert 0.0 <= res[key] <= 1.0
    assert res["num_train"] == 5 * 2 + 5 * 4


def test_scratch_baseline_and_model_option(fake_data, tmp_path):
    cfg = FinetuneConfig(model=TINY, strategy="scratch", dataset="mnist", classes="0-4", data_dir=str(fake_data),
                         epochs=1, batch_size=16, limit_test=20)
    res = finetune(cfg, tmp_path / "pre", progress=False)
    assert res["adapter_checkpoint"] is None and res["merged_checkpoint"].endswith("merged")
    assert res["trainable_percent"] == 100.0
    # the from-scratch model serves as a base for fine-tuning (pretraining on 0-4, then 5-9)
    res2 = finetune(_cfg(tmp_path / "pre", fake_data, strategy="linear-probe"), tmp_path / "ft", progress=False)
    assert res2["base"]["model"] == TINY


def test_compare_rows_and_files(base_ckpt, fake_data, tmp_path):
    res = finetune_compare(_cfg(base_ckpt, fake_data), "lora,linear-probe", tmp_path / "cmp", progress=False)
    assert [r["strategy"] for r in res["rows"]] == ["lora", "linear-probe", "scratch"]
    for r in res["rows"]:
        assert set(ROW_KEYS) <= set(r)
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["strategy"] for r in saved["rows"]] == ["lora", "linear-probe", "scratch"]
    csv_lines = (tmp_path / "cmp" / "compare.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(ROW_KEYS) and len(csv_lines) == 4
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lora" in res["table"] and "acc %" in res["table"]
    # a strategy inside the comparison gives the same result as the same run alone
    alone = finetune(_cfg(base_ckpt, fake_data, strategy="lora"), tmp_path / "alone", progress=False)
    assert alone["accuracy"] == res["rows"][0]["accuracy"]


def test_format_table_old_new_columns():
    rows = [{"strategy": "lora", "accuracy": 0.5, "old_accuracy": 0.25, "new_accuracy": 0.75,
             "trainable_params": 1200, "trainable_percent": 1.5, "seconds": 2.0, "checkpoint_bytes": 4096,
             "merged_bytes": None}]
    text = format_table(rows)
    assert "old %" in text and "25.00" in text and "75.00" in text and "4 KiB" in text and "1,200" in text
    assert parse_strategies(None)[0] == "full" and parse_strategies("lora,scratch,lora") == ["lora"]
    with pytest.raises(ValueError, match="unknown strategies"):
        parse_strategies("lora,magic")


def _nothing_written(path):
    return not path.exists()


@pytest.mark.parametrize("kw,match", [
    ({"strategy": "lora", "rank": 9}, "rank 9 is larger than the layer allows"),
    ({"classes": "8-12"}, "absent from mnist"),
    ({"strategy": "lora", "targets": "fc7"}, "not a layer of the model"),
    ({"strategy": "partial", "unfreeze_last": 9}, "only 4 layer units"),
    ({"labels_per_class": 500}, "fewer than 500"),
    ({"extend_classes": True, "classes": "3-5"}, "already known"),
    ({"dataset": "nosuchset"}, "nosuchset"),
    ({"limit_test": 0}, "--limit-test must be a positive integer, got 0"),
    ({"limit_test": -5}, "--limit-test must be a positive integer, got -5"),
    ({"labels_per_class": 2.5}, "--labels-per-class must be a positive integer, got 2.5"),
])
def test_bad_input_writes_nothing(base_ckpt, fake_data, tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        finetune(_cfg(base_ckpt, fake_data, **kw), tmp_path / "out", progress=False)
    assert _nothing_written(tmp_path / "out")
    with pytest.raises(ValueError, match=match):
        finetune_compare(_cfg(base_ckpt, fake_data, **kw), None, tmp_path / "cmp", progress=False)
    assert _nothing_written(tmp_path / "cmp")


def test_architecture_mismatch(fake_data, tmp_path):
    sc.manual_seed(0)
    base = save_base(tmp_path / "rgb", models.get(TINY, num_classes=5, in_channels=3), list("01234"))
    meta_path = base / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["input_shape"] = [3, 28, 28]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"architecture does not fit: the base model takes \(3, 28, 28\) inputs "
                                         r"but mnist images are \(1, 28, 28\)"):
        finetune(_cfg(base, fake_data), tmp_path / "out", progress=False)
    assert _nothing_written(tmp_path / "out")


def test_existing_output_folder(base_ckpt, fake_data, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="already exists"):
        finetune(_cfg(base_ckpt, fake_data), tmp_path / "out", progress=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
    res = finetune(_cfg(base_ckpt, fake_data, strategy="bitfit"), tmp_path / "out", progress=False, overwrite=True)
    assert np.isfinite(res["accuracy"])


def test_scratch_refuses_save_adapter_and_compare_keeps_its_baseline(base_ckpt, fake_data, tmp_path):
    with pytest.raises(ValueError, match="--save adapter writes what was trained on top of a base, but --strategy "
                                         "scratch trains every weight anew"):
        finetune(_cfg(base_ckpt, fake_data, strategy="scratch", save="adapter"), tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()
    res = finetune_compare(_cfg(base_ckpt, fake_data, save="adapter"), "bitfit", tmp_path / "cmp", progress=False)
    rows = {r["strategy"]: r for r in res["rows"]}
    assert rows["scratch"]["checkpoint_bytes"] > 0 and (tmp_path / "cmp" / "scratch" / "merged").is_dir()
    assert not (tmp_path / "cmp" / "bitfit" / "merged").exists()


def test_text_models_are_no_base(tmp_path, fake_data):
    from tests.viz.helpers import make_text_checkpoint
    ckpt = make_text_checkpoint(tmp_path / "txt")
    with pytest.raises(ValueError, match=r"checkpoint .*txt \(textcnn\) classifies tokens, not images; fine-tuning "
                                         "works on image models"):
        finetune(FinetuneConfig(base=str(ckpt), dataset="mnist", data_dir=str(fake_data)), tmp_path / "o",
                 progress=False)
    with pytest.raises(ValueError, match="model textcnn classifies tokens, not images; fine-tuning works on image"):
        finetune(FinetuneConfig(strategy="scratch", model="textcnn", dataset="mnist", data_dir=str(fake_data)),
                 tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()
