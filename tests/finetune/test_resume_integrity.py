"""``finetune --resume``: its last/ snapshot is checked file by file (SHA-256) like ``train --resume``'s."""
from __future__ import annotations

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
