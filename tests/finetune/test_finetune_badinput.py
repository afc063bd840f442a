"""Bad input and failed fine-tuning runs: --model beside a base checkpoint, a single --classes, diverged weights
and a failed final save are one clear error, and a failed new run leaves nothing behind (a folder it created is
removed, an empty one stays empty, a non-empty one keeps what it held); a failed resumed run keeps its folder."""
from __future__ import annotations

import numpy as np
import pytest

from scratchcnn.finetune import FinetuneConfig, finetune
from scratchcnn.train import Callback
from scratchcnn.train.interrupt import RunInterrupted

from .conftest import TINY
from run_failure_helpers import Raise, out_folder, tree


def _cfg(base, data, **kw):
    kw.setdefault("classes", "5-9")
    kw.setdefault("labels_per_class", 4)
    kw.setdefault("epochs", 1)
    return FinetuneConfig(base=str(base) if base else None, data_dir=str(data), batch_size=8, limit_test=40, **kw)


class Poison(Callback):
    """Makes the head's weights infinite once training ends (as a diverged run leaves them)."""

    def on_train_end(self, trainer, logs):
        trainer.model.fc2.weight.data[...] = np.inf


@pytest.mark.parametrize("strategy", ["full", "scratch"])
def test_model_beside_a_checkpoint_is_refused(base_ckpt, fake_data, tmp_path, strategy):
    with pytest.raises(ValueError, match="--model lenet5 is only for --strategy scratch without a CHECKPOINT"):
        finetune(_cfg(base_ckpt, fake_data, model="lenet5", strategy=strategy), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("strategy", ["full", "scratch"])
def test_a_single_class_is_refused(base_ckpt, fake_data, tmp_path, strategy):
    with pytest.raises(ValueError, match="--classes 5 selects one class; a classifier needs at least two"):
        finetune(_cfg(base_ckpt, fake_data, classes="5", strategy=strategy), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_single_class_without_a_base_is_refused(fake_data, tmp_path):
    cfg = _cfg(None, fake_data, model=TINY, strategy="scratch", dataset="mnist", classes="3")
    with pytest.raises(ValueError, match="selects one class; a classifier needs at least two"):
        finetune(cfg, tmp_path / "run", progress=False)


def test_one_new_class_may_extend_the_base(base_ckpt, fake_data, tmp_path):
    res = finetune(_cfg(base_ckpt, fake_data, classes="5", extend_classes=True), tmp_path / "run", progress=False)
    assert res["class_names"] == [str(i) for i in range(6)]


@pytest.mark.parametrize("given", ["missing", "empty", "full"])
def test_diverged_weights_are_refused_and_nothing_is_written(base_ckpt, fake_data, tmp_path, given):
    out = out_folder(tmp_path, given)
    if given == "full":
        (out / "merged").mkdir()
        (out / "merged" / "old.bin").write_bytes(b"\x00")
    before = tree(tmp_path)
    with pytest.raises(ValueError, match=r"training diverged: .*non-finite values \(e\.g\. fc2\.weight\); try a "
                                         r"lower --lr"):
        finetune(_cfg(base_ckpt, fake_data), out, progress=False, overwrite=given == "full",
                 extra_callbacks=[Poison()])
    assert tree(tmp_path) == before


def test_failed_final_save_leaves_nothing(base_ckpt, fake_data, tmp_path, monkeypatch):
    from scratchcnn.finetune import checkpoint

    def fail(*args, **kwargs):
        raise RuntimeError("cannot save")

    monkeypatch.setattr(checkpoint, "save_merged_checkpoint", fail)
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(RuntimeError, match="cannot save"):
        finetune(_cfg(base_ckpt, fake_data, epochs=2), out, progress=False)
    assert list(out.iterdir()) == []


def test_full_disk_at_the_final_save_keeps_last_for_resume(base_ckpt, fake_data, tmp_path, monkeypatch):
    from scratchcnn.finetune import checkpoint

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_merged_checkpoint", full)
    out = tmp_path / "run"
    with pytest.raises(OSError, match="No space left"):
        finetune(_cfg(base_ckpt, fake_data), out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["last"]     # an interruption: --resume finishes the run
    monkeypatch.undo()
    res = finetune(resume=out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "history.json", "merged", "result.json"]
    assert len(res["history"]) == 1


def test_failed_resumed_run_keeps_its_folder(base_ckpt, fake_data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match="--resume"):
        finetune(_cfg(base_ckpt, fake_data, epochs=2, scheduler="none"), out, progress=False,
                 extra_callbacks=[Raise(KeyboardInterrupt())])
    before = tree(out)
    with pytest.raises(RuntimeError, match="disk on fire"):
        finetune(resume=out, progress=False, extra_callbacks=[Raise(RuntimeError("disk on fire"))])
    assert tree(out) == before
