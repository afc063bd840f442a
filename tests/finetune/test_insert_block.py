"""``--insert-block NAME``: a new residual block after a module of a trained model (``ResidualBlock``,
``FinetuneConfig.insert_blocks``). The model starts bit-identical to the base, the blocks always train while the
rest follows the strategy, gradients reach the blocks and only trainable tensors, frozen tensors stay
bit-identical, both checkpoints re-create the blocks, and bad names are clear errors with nothing written."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn
from scratchcnn.finetune import FinetuneConfig, finetune, finetune_compare, load_any, load_finetuned, prepare
from scratchcnn.finetune.adapter import ResidualBlock, add_residual_blocks, inserted_blocks
from scratchcnn.finetune.strategies import StrategyOptions, apply_strategy, block_sites
from scratchcnn.finetune.structure import find_head, trace
from scratchcnn.io import load_checkpoint

from .conftest import TinyFT, save_base

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")
SPARE = "test-ft-tiny-spare"


class TinySpare(TinyFT):
    """TinyFT with a module that forward never calls."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__(num_classes, in_channels)
        self.spare = nn.Conv2d(8, 8, 1)


models.register(SPARE, TinySpare, "test model: TinyFT with an unused module")


def _cfg(base, data, **kw):
    kw.setdefault("classes", "5-9")
    kw.setdefault("labels_per_class", 4)
    kw.setdefault("epochs", 1)
    kw.setdefault("limit_test", 40)
    return FinetuneConfig(base=str(base), data_dir=str(data), batch_size=8, **kw)


def _x(n=6, seed=9):
    return sc.Tensor(np.random.default_rng(seed).standard_normal((n, 1, 28, 28)).astype(np.float32))


def _logits(model, x):
    model.eval()
    with sc.no_grad():
        return model(x).data.copy()


# ------------------------------------------------------------------------------------------------ the block
@pytest.mark.parametrize("dims,shape", [(0, (3, 7)), (1, (2, 5, 9)), (2, (2, 4, 6, 5))])
def test_residual_block_is_the_identity_and_learns_second_layer_first(dims, shape):
    blk = ResidualBlock(shape[1], dims)
    x = sc.Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32), requires_grad=True)
    y = blk(x)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y.data, x.data)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(shape))
    first, second = blk.layers
    assert np.abs(second.weight.grad).sum() > 0 and np.abs(second.bias.grad).sum() > 0
    np.testing.assert_array_equal(first.weight.grad, 0)     # behind a zero second layer at the start
    names = {n for n, _ in blk.named_parameters()}
    want = {"fc1", "fc2"} if dims == 0 else {"conv1", "conv2"}
    assert names == {f"{layer}.{w}" for layer in want for w in ("weight", "bias")}


def test_residual_block_bad_arguments_and_input():
    for kw, match in (({"channels": 0}, "positive integer"), ({"channels": 4, "spatial_dims": 3}, "0, 1 or 2"),
                      ({"channels": 4, "kernel_size": 2}, "odd")):
        with pytest.raises(ValueError, match=match):
            ResidualBlock(**kw)
    with pytest.raises(ValueError, match=r"expected input \(N, 4, H, W\)"):
        ResidualBlock(4)(sc.Tensor(np.zeros((1, 3, 5, 5), np.float32)))
    with pytest.raises(ValueError, match="expected a vector"):
        add_residual_blocks(TinyFT(5), [("bn2", (2, 2, 2, 2))])


# ------------------------------------------------------------------------------------------------ in a model
def test_starts_bit_identical_to_the_base(base_ckpt, fake_data):
    """Classes 0-4 keep the base's head: with blocks after a 2-D map, a vector and the first block, the
    prepared model gives exactly the base's logits."""
    base, _ = load_any(base_ckpt)
    x = _x()
    ref = _logits(base, x)
    for strategy in ("linear-probe", "full", "lora", "adapter"):
        names = ["bn1", "conv2", "fc1"] if strategy != "adapter" else ["conv2", "fc1"]
        session = prepare(_cfg(base_ckpt, fake_data, classes="0-4", strategy=strategy, insert_blocks=names))
        assert session.head_mode == "keep"
        np.testing.assert_array_equal(_logits(session.model, x), ref, err_msg=strategy)
        assert set(names) <= set(inserted_blocks(session.model))
        assert [b[0] for b in session.plan.structure["blocks"]] == names


@pytest.mark.parametrize("strategy", ["linear-probe", "full", "partial", "bitfit", "lora", "adapter",
                                      "discriminative", "scratch"])
def test_blocks_always_train_the_rest_follows_the_strategy(base_ckpt, fake_data, strategy):
    first = "conv2" if strategy == "adapter" else "bn2"     # the adapter strategy has its own block after bn2
    plain = prepare(_cfg(base_ckpt, fake_data, strategy=strategy))
    session = prepare(_cfg(base_ckpt, fake_data, strategy=strategy, insert_blocks=[first, "fc1"]))
    before = {n for n, p in plain.model.named_parameters() if p.requires_grad}
    after = {n for n, p in session.model.named_parameters() if p.requires_grad}
    blocks = {n for n, _ in session.model.named_parameters() if n.startswith((f"inserted.{first}.", "inserted.fc1."))}
    assert len(blocks) == 8
    assert after == before | blocks
    grouped = [id(p) for g in session.plan.param_groups for p in g["params"]]
    assert len(grouped) == len(set(grouped)) == len(after)
    shape = [8, 14, 14] if first == "conv2" else [8, 7, 7]
    assert session.plan.structure["blocks"] == [[first, shape], ["fc1", [32]]]


def test_discriminative_puts_the_blocks_in_the_added_group_at_the_base_lr(base_ckpt, fake_data):
    session = prepare(_cfg(base_ckpt, fake_data, strategy="discriminative", lr=1e-3, insert_blocks=["bn1"]))
    groups = {g["unit"]: g for g in session.plan.param_groups}
    blk = {id(p) for p in inserted_blocks(session.model)["bn1"].parameters()}
    assert {id(p) for p in groups["added"]["params"]} == blk and groups["added"]["lr"] == 1e-3
    assert groups["conv1+bn1"]["lr"] == pytest.approx(1e-3 * 0.5 ** 3)


def test_sequential_model_blocks_on_the_layer_and_in_the_added_group():
    """In a Sequential model the block is registered on the layer itself (``<name>.inserted``); it still goes to
    the "added" group, not into its layer unit's."""
    sc.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(3 * 14 * 14, 12), nn.ReLU(), nn.Linear(12, 5))
    x = _x(3)
    ref = _logits(model, x)
    calls = trace(model, (1, 28, 28))
    plan = apply_strategy(model, calls, find_head(calls), StrategyOptions("discriminative", insert_blocks=["1", "4"]),
                          1e-3, input_shape=(1, 28, 28))
    np.testing.assert_array_equal(_logits(model, x), ref)
    keys = [k for k in model.state_dict() if ".inserted." in k]
    assert keys and all(k.startswith(("1.inserted.conv", "4.inserted.fc")) for k in keys)
    groups = {g["unit"]: g for g in plan.param_groups}
    blk = {id(p) for b in inserted_blocks(model).values() for p in b.parameters()}
    assert {id(p) for p in groups["added"]["params"]} == blk and len(blk) == 8
    assert not blk & {id(p) for u, g in groups.items() if u != "added" for p in g["params"]}


def test_gradients_reach_the_blocks_and_only_trainable_tensors(base_ckpt, fake_data):
    session = prepare(_cfg(base_ckpt, fake_data, strategy="linear-probe", insert_blocks=["bn2", "fc1"]))
    model = session.model
    blocks = inserted_blocks(model)
    for b in blocks.values():                   # a block that has trained a little: every path matters
        rng = np.random.default_rng(4)
        for p in b.layers[1].parameters():
            p.data[...] = (rng.standard_normal(p.shape) * 0.1).astype(p.data.dtype)
    model.train()
    loss = nn.CrossEntropyLoss()(model(_x(8)), sc.Tensor(np.arange(8) % 5))
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and np.abs(p.grad).sum() > 0, name
        else:
            assert p.grad is None, name
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n, _ in model.named_parameters() if n.startswith(("inserted.", "fc2."))}


def test_training_keeps_frozen_tensors_and_checkpoints_round_trip(base_ckpt, fake_data, tmp_path):
    session = prepare(_cfg(base_ckpt, fake_data, strategy="linear-probe", epochs=2, insert_blocks=["bn2", "fc1"],
                           limit_test=None))
    res = session.run(tmp_path / "run", progress=False)
    model = session.model
    x = _x()
    ref = _logits(model, x)
    base_state, _ = load_checkpoint(base_ckpt)
    live = model.state_dict()
    frozen = [k for k in base_state if not k.startswith("fc2.")]
    assert frozen
    for k in frozen:                                           # parameters and BN statistics (--bn freeze)
        np.testing.assert_array_equal(live[k], base_state[k], err_msg=k)
    for name in ("bn2", "fc1"):                                  # the blocks trained
        assert np.abs(inserted_blocks(model)[name].layers[1].weight.data).sum() > 0
    state, meta = load_checkpoint(res["adapter_checkpoint"])
    assert {k for k in state if k.startswith("inserted.")} == {
        k for k in live if k.startswith("inserted.")} and len(state) == 8 + 2
    assert meta["finetune"]["structure"]["blocks"] == [["bn2", [8, 7, 7]], ["fc1", [32]]]
    for ckpt in (res["adapter_checkpoint"], res["merged_checkpoint"]):
        loaded, meta = load_finetuned(ckpt)
        assert meta["finetune"]["structure"]["blocks"] == [["bn2", [8, 7, 7]], ["fc1", [32]]]
        assert isinstance(inserted_blocks(loaded)["bn2"], ResidualBlock)
        np.testing.assert_array_equal(_logits(loaded, x), ref, err_msg=ckpt)
    # evaluate on the produced checkpoints agrees with the run's accuracy
    from scratchcnn.train.evaluate import evaluate_checkpoint
    for ckpt in (res["adapter_checkpoint"], res["merged_checkpoint"]):
        ev = evaluate_checkpoint(ckpt, data_dir=str(fake_data))
        assert ev["num_samples"] == res["num_test"] and ev["accuracy"] == pytest.approx(res["accuracy"])


def test_with_lora_on_the_same_layer_round_trips(base_ckpt, fake_data, tmp_path):
    """LoRA wraps conv2 and the block follows the wrapped layer's output; loading re-creates both in that order
    (adapter-only: LoRA branch, merged: LoRA merged into conv2's weight)."""
    session = prepare(_cfg(base_ckpt, fake_data, strategy="lora", rank=2, insert_blocks=["conv2"]))
    res = session.run(tmp_path / "run", progress=False)
    x = _x()
    ref = _logits(session.model, x)
    np.testing.assert_array_equal(_logits(load_finetuned(res["adapter_checkpoint"])[0], x), ref)
    np.testing.assert_allclose(_logits(load_finetuned(res["merged_checkpoint"])[0], x), ref, rtol=1e-4, atol=1e-5)


def test_compare_gives_every_strategy_the_blocks(base_ckpt, fake_data, tmp_path):
    res = finetune_compare(_cfg(base_ckpt, fake_data, insert_blocks=["bn2"]), "linear-probe", tmp_path / "cmp",
                           progress=False, plots=False)
    rows = {r["strategy"]: r for r in res["rows"]}
    assert set(rows) == {"linear-probe", "scratch"}
    for s in rows:
        model, meta = load_any(tmp_path / "cmp" / s / "merged")
        assert meta["finetune"]["structure"]["blocks"] == [["bn2", [8, 7, 7]]]
        assert "inserted.bn2.conv2.weight" in model.state_dict()
    alone = finetune(_cfg(base_ckpt, fake_data, strategy="linear-probe", insert_blocks=["bn2"]), tmp_path / "alone",
                     progress=False)
    assert alone["accuracy"] == rows["linear-probe"]["accuracy"]


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kw,match", [
    ({"insert_blocks": ["fc2"]}, "fc2 is the classifier head"),
    ({"insert_blocks": ["nope"]}, "'nope' is not a module of the model"),
    ({"insert_blocks": ["bn2", "bn2"]}, "bn2 is given twice"),
    ({"insert_blocks": ["bn2"], "strategy": "adapter"}, "already inserts an adapter after bn2"),
    ({"insert_blocks": ["bn1"], "strategy": "adapter"}, "already inserts an adapter after bn1"),
])
def test_bad_names_are_refused_and_nothing_written(base_ckpt, fake_data, tmp_path, kw, match):
    with pytest.raises(ValueError, match=match) as exc:
        finetune(_cfg(base_ckpt, fake_data, **kw), tmp_path / "run", progress=False)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "run").exists()


def test_module_never_called_is_refused(fake_data, tmp_path):
    sc.manual_seed(2)
    base = save_base(tmp_path / "base", models.get(SPARE, num_classes=5), [str(i) for i in range(5)])
    with pytest.raises(ValueError, match="never calls spare"):
        finetune(_cfg(base, fake_data, insert_blocks=["spare"]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_block_sites_checks_containers_and_shapes():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten(), nn.Linear(2 * 26 * 26, 5))
    calls = trace(model, (1, 28, 28))
    head = find_head(calls)
    assert block_sites(model, calls, head, ["0"], (1, 28, 28)) == [("0", (2, 26, 26))]
    with pytest.raises(ValueError, match="is a container"):
        block_sites(model, calls, head, ["0"])                 # without an input shape only leaves
    holder = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(784, 5)))
    hcalls = trace(holder, (1, 28, 28))
    with pytest.raises(ValueError, match="holds the classifier head"):
        block_sites(holder, hcalls, find_head(hcalls), ["1"], (1, 28, 28))


def test_a_base_with_inserted_blocks_is_refused(base_ckpt, fake_data, tmp_path):
    res = finetune(_cfg(base_ckpt, fake_data, strategy="linear-probe", insert_blocks=["bn2"]), tmp_path / "one",
                   progress=False)
    for base in (res["merged_checkpoint"], res["adapter_checkpoint"]):
        with pytest.raises(ValueError, match=r"residual blocks inserted by --insert-block \(after bn2\)"):
            finetune(_cfg(base, fake_data, strategy="full"), tmp_path / "two", progress=False)
        assert not (tmp_path / "two").exists()


def test_viewers_skip_the_blocks_convolutions(base_ckpt, fake_data, tmp_path):
    from scratchcnn.viz.modelio import conv_layers, resolve_model
    res = finetune(_cfg(base_ckpt, fake_data, strategy="linear-probe", insert_blocks=["bn2"]), tmp_path / "run",
                   progress=False)
    for ckpt in (res["adapter_checkpoint"], res["merged_checkpoint"]):
        m, _, _ = resolve_model(ckpt)
        assert [n for n, _ in conv_layers(m)] == ["conv1", "conv2"]
