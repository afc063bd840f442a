"""Adapter-only and merged checkpoints: round trips give the trained model's outputs, only trained tensors are
stored, the base is hash-checked, and plain loaders (models.load_model) read them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models
from scratchcnn.finetune import FinetuneConfig, finetune, load_any, load_finetuned, prepare
from scratchcnn.finetune.checkpoint import FinetuneCheckpointError
from scratchcnn.io import load_checkpoint, read_meta

from .conftest import TINY, save_base


def _cfg(base, data, **kw):
    kw.setdefault("classes", "5-9")
    kw.setdefault("labels_per_class", 4)
    return FinetuneConfig(base=str(base), data_dir=str(data), epochs=1, batch_size=8, limit_test=40, **kw)


def _x(n=5):
    return sc.Tensor(np.random.default_rng(9).standard_normal((n, 1, 28, 28)).astype(np.float32))


@pytest.mark.parametrize("strategy,extra", [("lora", {}), ("adapter", {}), ("bitfit", {}),
                                            ("full", {"extend_classes": True, "classes": "5-6"})])
def test_round_trips(strategy, extra, base_ckpt, fake_data, tmp_path):
    session = prepare(_cfg(base_ckpt, fake_data, strategy=strategy, **extra))
    res = session.run(tmp_path / "run", progress=False)
    model = session.model
    model.eval()
    x = _x()
    with sc.no_grad():
        ref = model(x).data.copy()
    adapter, merged = res["adapter_checkpoint"], res["merged_checkpoint"]
    # adapter-only: exactly the trained tensors (trainable parameters + moved buffers)
    state, meta = load_checkpoint(adapter)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable <= set(state) and meta["finetune"]["kind"] == "adapter-only"
    assert set(state) - trainable <= {n for n, _ in model.named_buffers()}
    assert meta["finetune"]["base"]["sha256"] and meta["class_subset"] == session.data.class_subset
    m1, _ = load_finetuned(adapter)
    with sc.no_grad():
        np.testing.assert_array_equal(m1(x).data, ref)
    # merged / full: self-contained; LoRA merged into the weights (equal up to rounding)
    m2, meta2 = load_finetuned(merged)
    with sc.no_grad():
        np.testing.assert_allclose(m2(x).data, ref, rtol=1e-4, atol=1e-5)
    state2, _ = load_checkpoint(merged)
    assert not any(".lora_" in k for k in state2)
    assert res["checkpoint_bytes"] < res["merged_bytes"] or strategy == "full"
    # the live model is left unmerged, and its frozen tensors still equal the base checkpoint bit for bit
    assert all(not getattr(m, "merged", False) for m in model.modules())
    base_state, _ = load_checkpoint(base_ckpt)
    live = dict(model.named_parameters())
    frozen = [k for k, p in live.items() if not p.requires_grad and k in base_state]
    assert frozen or strategy == "full"
    for k in frozen:
        np.testing.assert_array_equal(live[k].data, base_state[k], err_msg=k)


def test_lora_merged_checkpoint_is_a_plain_model(base_ckpt, fake_data, tmp_path):
    res = finetune(_cfg(base_ckpt, fake_data, strategy="lora"), tmp_path / "run", progress=False)
    m, meta = models.load_model(res["merged_checkpoint"])  # no fine-tuning code needed to read it
    assert meta["model"]["config"]["num_classes"] == 5
    assert type(m.conv1).__name__ == "Conv2d"


def test_hash_mismatch_and_missing_base(fake_data, tmp_path):
    sc.manual_seed(3)
    base = save_base(tmp_path / "base", models.get(TINY, num_classes=5), [str(i) for i in range(5)])
    res = finetune(_cfg(base, fake_data, strategy="lora"), tmp_path / "run", progress=False)
    adapter = res["adapter_checkpoint"]
    load_finetuned(adapter)
    # same path, different weights: refused
    sc.manual_seed(4)
    save_base(tmp_path / "base", models.get(TINY, num_classes=5), [str(i) for i in range(5)])
    with pytest.raises(FinetuneCheckpointError, match="trained on a different base.*SHA-256"):
        load_finetuned(adapter)
    with pytest.raises(FinetuneCheckpointError, match="different base"):
        load_any(adapter)
    # an explicitly given base is hash-checked too
    with pytest.raises(FinetuneCheckpointError, match="different base"):
        load_finetuned(adapter, base=tmp_path / "base")
    shutil.rmtree(tmp_path / "base")
    with pytest.raises(FinetuneCheckpointError, match="base checkpoint is missing") as e:
        load_finetuned(adapter)
    where = str(e.value).split("looked in ", 1)[1].rstrip(")").split(" or ")
    assert len(where) == len(set(where)) >= 1      # the recorded path and the relative one name one place: once


def test_relative_base_path_after_moving_both(base_ckpt, fake_data, tmp_path):
    shutil.copytree(base_ckpt, tmp_path / "proj" / "base")
    res = finetune(_cfg(tmp_path / "proj" / "base", fake_data, strategy="bitfit"), tmp_path / "proj" / "run",
                   progress=False)
    shutil.move(tmp_path / "proj", tmp_path / "moved")
    m, meta = load_finetuned(tmp_path / "moved" / "run" / "adapter")
    assert meta["finetune"]["base"]["relpath"] == "../../base"
    assert res["adapter_checkpoint"].endswith("adapter")


def test_result_json_and_meta(base_ckpt, fake_data, tmp_path):
    res = finetune(_cfg(base_ckpt, fake_data, strategy="adapter"), tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["accuracy"] == res["accuracy"] and saved["strategy"] == "adapter"
    meta = read_meta(res["merged_checkpoint"])
    assert meta["finetune"]["structure"]["adapters"]["after"] == [["bn1", [4, 14, 14]], ["bn2", [8, 7, 7]]]
    assert meta["class_names"] == ["5", "6", "7", "8", "9"] and meta["dataset"] == "mnist"
    assert meta["normalization"] == {"mean": [0.1307], "std": [0.3081]}


def test_class_subset_checkpoint_in_evaluate_and_mistakes(base_ckpt, fake_data, tmp_path):
    """A checkpoint fine-tuned on classes 5-9: ``evaluate --limit N`` takes the first N images OF THOSE classes
    (not N images of which only some remain), and the mistakes gallery evaluates on the same relabelled data."""
    from scratchcnn.data import load_dataset, select_classes
    from scratchcnn.train.evaluate import evaluate_checkpoint
    from scratchcnn.viz import find_mistakes
    res = finetune(_cfg(base_ckpt, fake_data, strategy="bitfit"), tmp_path / "run", progress=False)
    ckpt = res["merged_checkpoint"]
    ev = evaluate_checkpoint(ckpt, data_dir=fake_data, limit=7)
    assert ev["num_samples"] == 7 and ev["class_names"] == ["5", "6", "7", "8", "9"]
    want = select_classes(load_dataset("mnist", "test", data_dir=fake_data), [5, 6, 7, 8, 9])
    assert ev["num_samples"] == len(want.subset(np.arange(7)))
    model, meta = load_any(ckpt)
    m = find_mistakes(model, meta, data_dir=fake_data, limit=7)
    assert m["total"] == 7
    np.testing.assert_array_equal(m["true"], want.labels[:7][m["indices"]])
    assert abs(m["accuracy"] - ev["accuracy"]) < 1e-12


def test_bases_with_lora_branches_or_adapters_are_refused(base_ckpt, fake_data, tmp_path):
    """A second fine-tuning run from a checkpoint whose LoRA is not merged, or that has inserted adapters, would
    trace the branches as layers and write unloadable checkpoints: refused, nothing written; LoRA merged is fine."""
    lora = finetune(_cfg(base_ckpt, fake_data, strategy="lora"), tmp_path / "lora", progress=False)
    adapter = finetune(_cfg(base_ckpt, fake_data, strategy="adapter"), tmp_path / "ad", progress=False)
    for base, match in ((lora["adapter_checkpoint"], "LoRA branches that are not merged"),
                        (adapter["merged_checkpoint"], "inserted adapter blocks"),
                        (adapter["adapter_checkpoint"], "inserted adapter blocks")):
        with pytest.raises(ValueError, match=match):
            finetune(_cfg(base, fake_data, strategy="partial"), tmp_path / "again", progress=False)
        assert not (tmp_path / "again").exists()
    res = finetune(_cfg(lora["merged_checkpoint"], fake_data, strategy="partial"), tmp_path / "ok", progress=False)
    model, _ = load_any(res["merged_checkpoint"])
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_viewers_see_the_model_not_its_lora_branches_or_adapters(base_ckpt, fake_data, tmp_path):
    from scratchcnn.viz.modelio import conv_layers, resolve_model
    lora = finetune(_cfg(base_ckpt, fake_data, strategy="lora"), tmp_path / "lora", progress=False)
    m_ad, _, _ = resolve_model(lora["adapter_checkpoint"])
    m_me, _, _ = resolve_model(lora["merged_checkpoint"])
    convs_ad, convs_me = conv_layers(m_ad), conv_layers(m_me)
    assert [n for n, _ in convs_ad] == [n for n, _ in convs_me] == ["conv1", "conv2"]
    for (_, a), (_, b) in zip(convs_ad, convs_me):
        np.testing.assert_allclose(a.weight.data, b.weight.data, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m_ad(_x()).data, m_me(_x()).data, rtol=1e-5, atol=1e-6)
    adapter = finetune(_cfg(base_ckpt, fake_data, strategy="adapter"), tmp_path / "ad", progress=False)
    m, _, _ = resolve_model(adapter["adapter_checkpoint"])
    assert [n for n, _ in conv_layers(m)] == ["conv1", "conv2"]


@pytest.mark.parametrize("structure", [{"lora": 5}, [1], {"adapters": {"after": [["nope", [1, 2, 3]]],
                                                                         "bottleneck": 2}}])
def test_malformed_structure_in_meta_is_one_line(structure, base_ckpt, fake_data, tmp_path):
    """A ``finetune.structure`` that does not describe this model's layers: a CheckpointMismatchError naming the
    checkpoint and the field, not a TypeError / AttributeError traceback."""
    from scratchcnn.io import save_checkpoint
    from scratchcnn.models.loading import CheckpointMismatchError
    res = finetune(_cfg(base_ckpt, fake_data, strategy="lora"), tmp_path / "run", progress=False)
    state, meta = load_checkpoint(res["merged_checkpoint"])
    meta["finetune"]["structure"] = structure
    bad = save_checkpoint(tmp_path / "bad", state, meta)
    with pytest.raises(CheckpointMismatchError, match=r"meta.json field finetune.structure") as err:
        load_finetuned(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_float64_fine_tuned_checkpoint_loads_as_float64_bit_for_bit(base_ckpt, fake_data, tmp_path):
    from scratchcnn.io import save_checkpoint
    res = finetune(_cfg(base_ckpt, fake_data, strategy="lora"), tmp_path / "run", progress=False)
    state, meta = load_checkpoint(res["merged_checkpoint"])
    rng = np.random.default_rng(0)
    state64 = {k: (v.astype(np.float64) + rng.standard_normal(v.shape) * 1e-9 if v.dtype.kind == "f" else v)
               for k, v in state.items()}          # values a float32 model cannot hold
    path = save_checkpoint(tmp_path / "f64", state64, meta)
    model, _ = load_finetuned(path)
    got = model.state_dict()
    for k, v in state64.items():
        assert got[k].dtype == v.dtype, k
        np.testing.assert_array_equal(got[k], v, err_msg=k)
