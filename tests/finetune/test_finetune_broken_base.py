"""A base checkpoint whose outputs overflow float32 (finite weights, NaN/inf logits) is refused before training,
naming the base; it used to print NumPy RuntimeWarnings and then blame the learning rate ("loss became nan ...
try a lower learning rate")."""
from __future__ import annotations

import pytest

from scratchcnn import models
from scratchcnn.finetune import FinetuneConfig, finetune

from .conftest import TINY, save_base


@pytest.fixture(scope="module")
def broken_base(tmp_path_factory):
    import scratchcnn
    scratchcnn.manual_seed(3)
    m = models.get(TINY, num_classes=5)
    m.fc1.weight.data[...] = 3e38
    m.fc2.weight.data[...] = 3e38
    return save_base(tmp_path_factory.mktemp("broken") / "base", m, [str(i) for i in range(5)])


def _cfg(base, data, **kw):
    return FinetuneConfig(base=str(base), data_dir=str(data), classes="5-9", labels_per_class=4, epochs=1,
                          batch_size=8, limit_test=20, **kw)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_broken_base_is_refused_before_training(broken_base, fake_data, tmp_path, strategy):
    with pytest.raises(ValueError) as e:
        finetune(_cfg(broken_base, fake_data, strategy=strategy), tmp_path / "run", progress=False)
    msg = str(e.value)
    assert msg.startswith(f"finetune: the base checkpoint {broken_base} is broken: its outputs are NaN or infinite "
                          "for 8 of 8 training images") and "learning rate" not in msg and "\n" not in msg
    assert not (tmp_path / "run").exists()


@pytest.mark.filterwarnings("error")
def test_scratch_does_not_use_the_base_weights(broken_base, fake_data, tmp_path):
    res = finetune(_cfg(broken_base, fake_data, strategy="scratch"), tmp_path / "run", progress=False)
    assert res["strategy"] == "scratch"
