"""``finetune --resume``: its last/ snapshot is checked file by file (SHA-256) like ``train --resume``'s; a finished
run that was moved or copied reports the paths where it is now."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scratchcnn.finetune import finetune
from scratchcnn.train import TrainingStateError

from .test_finetune_resume import _cfg, _interrupted_run, _tree


def test_finite_bit_flip_in_optimizer_state_is_refused_before_anything_is_written(base_ckpt, fake_data, tmp_path):
    out = tmp_path / "run"
    _interrupted_run(_cfg(base_ckpt, fake_data, strategy="lora", epochs=2), out)
    opt = out / "last" / "optimizer.safetensors"
    b = bytearray(opt.read_bytes())
    b[-8:-4] = np.float32(1e30).tobytes()          # a finite, wrong value
    opt.write_bytes(bytes(b))
    before = _tree(out)
    with pytest.raises(TrainingStateError, match=r"^cannot resume from .*last: optimizer.safetensors is damaged "
                                                 r"\(it does not match the SHA-256 .*; to start the run over"):
        finetune(resume=out, progress=False)
    assert _tree(out) == before


@pytest.mark.parametrize("how", ["moved", "copied"])
def test_resuming_a_finished_run_reports_where_it_is_now(base_ckpt, fake_data, tmp_path, how):
    first = tmp_path / "a"
    res = finetune(_cfg(base_ckpt, fake_data, strategy="lora", epochs=1), first, progress=False)
    assert res["checkpoint"] == str(first / "adapter") and res["merged_checkpoint"] == str(first / "merged")
    now = tmp_path / "b"
    (shutil.move if how == "moved" else shutil.copytree)(first, now)
    again = finetune(resume=now, progress=False)
    assert again["out_dir"] == str(now)
    assert again["checkpoint"] == again["adapter_checkpoint"] == str(now / "adapter")
    assert again["merged_checkpoint"] == str(now / "merged")
    assert all(Path(again[k]).is_dir() for k in ("checkpoint", "adapter_checkpoint", "merged_checkpoint"))
    assert again["accuracy"] == res["accuracy"] and again["history"] == json.loads(json.dumps(res["history"]))
