"""`models.summary` / `scratchcnn summary` on every layer kind: output shapes and parameter / buffer counts
against PyTorch twins, MACs against hand formulas and torch's FlopCounterMode, LoRA layers and adapters as rows
under their host (rows add up to the totals), fine-tuned and text checkpoints through the CLI, and the bench's
FLOP figures unchanged."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (shared fixtures of tests/finetune, cli)

import scratchcnn as sc  # noqa: E402
from scratchcnn import models, nn  # noqa: E402

from cli.helpers import assert_one_line_error, one_json, run  # noqa: E402

ROW_KEYS = {"name", "type", "output_shape", "params", "trainable_params", "buffers", "macs", "flops", "parent"}
TOP_KEYS = {"model", "input_shape", "input_dtype", "layers", "total_params", "trainable_params",
            "non_trainable_params", "buffers", "total_macs", "total_flops", "flops_convention"}


def check_sums(s) -> None:
    """The rows add up to the totals (parameters, trainable, buffers, MACs) and FLOPs = 2 x MACs everywhere."""
    assert sum(r["params"] for r in s.rows) == s.total_params
    assert sum(r["trainable_params"] for r in s.rows) == s.trainable_params
    assert s.total_params == s.trainable_params + s.non_trainable_params
    assert sum(r["buffers"] for r in s.rows) == s.buffers
    assert sum(r["macs"] for r in s.rows) == s.total_macs and s.total_flops == 2 * s.total_macs
    assert all(r["flops"] == 2 * r["macs"] for r in s.rows)
    assert all(set(r) == ROW_KEYS for r in s.rows)
    assert set(s.to_dict()) == TOP_KEYS


# --- the bench's FLOPs (recorded before the summary changed) -------------------------------------------------

BENCH_FLOPS = {"seed000": (2_436_096, 7_082_496), "seed001": (42_670_080, 127_107_072),
               "lenet5": (833_040, 2_263_920), "textcnn": (28_519_600, 85_558_800)}


@pytest.mark.parametrize("name", sorted(BENCH_FLOPS))
def test_bench_flops_unchanged(name):
    from scratchcnn.bench.workloads import TEXT_LENGTH, _flops, _scratch_model
    model = _scratch_model(name)
    assert _flops(name, model) == BENCH_FLOPS[name]
    s = models.summary(model, (TEXT_LENGTH,) if name == "textcnn" else None)
    assert s.total_flops == BENCH_FLOPS[name][0]
    assert all(r["parent"] is None for r in s.rows)     # plain models: flat table, as before
    check_sums(s)


# --- new layers against PyTorch twins ------------------------------------------------------------------------

def _layers_2d(lib):
    n = lib.nn
    return [n.Conv2d(3, 8, 3, padding=1), n.GroupNorm(2, 8), n.PReLU(8),
            n.ConvTranspose2d(8, 4, 4, stride=2, padding=1, groups=2), n.Upsample(scale_factor=2),
            n.InstanceNorm2d(4, affine=True, track_running_stats=True), n.LocalResponseNorm(2), n.Hardswish(),
            n.Conv2d(4, 6, 3, stride=2, dilation=2, padding=2, bias=False), n.BatchNorm2d(6), n.Mish(),
            n.AdaptiveAvgPool2d(2), n.Flatten(), n.LayerNorm(24), n.Linear(24, 5), n.LogSoftmax(dim=1)]


def _layers_1d(lib):
    n = lib.nn
    return [n.Conv1d(2, 6, 3), n.InstanceNorm1d(6), n.ELU(), n.SiLU(),
            n.ConvTranspose1d(6, 9, 5, stride=3, padding=2, output_padding=1, dilation=2, groups=3, bias=False),
            n.GELU(), n.Upsample(scale_factor=2, mode="linear"), n.PReLU(), n.AvgPool1d(2), n.MaxPool1d(2),
            n.AdaptiveAvgPool1d(3), n.Dropout(0.3), n.Flatten(), n.Linear(27, 4), n.Softplus(), n.Sigmoid()]


def _torch_rows(torch, layers, x):
    """(type, output shape without batch, params, float buffers, FLOPs by FlopCounterMode) per layer of a torch
    Sequential run on ``x``."""
    from torch.utils.flop_counter import FlopCounterMode
    out = []
    for layer in layers:
        with FlopCounterMode(display=False) as fc:
            x = layer(x)
        out.append((type(layer).__name__, list(x.shape[1:]), sum(p.numel() for p in layer.parameters()),
                    sum(b.numel() for b in layer.buffers() if b.is_floating_point()), fc.get_total_flops()))
    return out


@pytest.mark.parametrize("build,shape", [(_layers_2d, (3, 10, 10)), (_layers_1d, (2, 12))])
def test_new_layers_match_torch(torch, build, shape):
    theirs = _torch_rows(torch, build(torch), torch.zeros((1, *shape)))
    model = nn.Sequential(*build(sc))
    s = models.summary(model, shape)
    got = [(r["type"], r["output_shape"], r["params"], r["buffers"], r["flops"]) for r in s.rows]
    assert got == theirs
    assert [r["name"] for r in s.rows] == [str(i) for i in range(len(theirs))]
    assert s.total_params == sum(t[2] for t in theirs) == model.num_parameters()
    assert s.buffers == sum(t[3] for t in theirs)
    check_sums(s)


def test_macs_hand_formulas():
    """Conv: out positions x out x in/groups x kernel; ConvTranspose: in positions x in x out/groups x kernel;
    Linear: in x out per output vector; everything else 0."""
    m = nn.Sequential(nn.Conv2d(6, 12, (3, 5), stride=(2, 1), padding=(1, 2), groups=3),          # -> 12, 4, 7
                      nn.ConvTranspose2d(12, 8, (3, 2), stride=(2, 3), padding=1, output_padding=(1, 0),
                                         groups=4),                                              # -> 8, 8, 18
                      nn.Flatten(), nn.Linear(8 * 8 * 18, 7), nn.PReLU(), nn.Linear(7, 3))
    s = models.summary(m, (6, 8, 7))
    assert [r["output_shape"] for r in s.rows[:2]] == [[12, 4, 7], [8, 8, 18]]
    expected = [4 * 7 * 12 * (6 // 3) * 3 * 5,
                4 * 7 * 12 * (8 // 4) * 3 * 2,       # transposed: input positions, not output positions
                0, 8 * 8 * 18 * 7, 0, 7 * 3]
    assert [r["macs"] for r in s.rows] == expected
    assert s.total_macs == sum(expected)
    ct = m[1]
    assert s.rows[1]["params"] == 12 * 2 * 3 * 2 + 8
    assert expected[1] == math.prod(ct.weight.shape) * 4 * 7
    # a Linear on a sequence: every position is a matrix-vector product
    seq = nn.Sequential(nn.Conv1d(3, 5, 1), nn.Flatten(0, 0), nn.Linear(9, 4))
    s = models.summary(seq, (3, 9))
    assert s.rows[-1]["output_shape"] == [5, 4] and s.rows[-1]["macs"] == 5 * 9 * 4


def test_embedding_and_text_models():
    m = models.get("textcnn", num_classes=3, vocab_size=40, embed_dim=6, num_filters=5)
    s = models.summary(m, (20,))
    emb = s.rows[0]
    assert (emb["type"], emb["output_shape"], emb["params"], emb["macs"]) == ("Embedding", [20, 6], 240, 0)
    assert s.total_macs == sum((20 - k + 1) * 5 * 6 * k for k in (3, 4, 5)) + 15 * 3
    check_sums(s)


def test_text_ensemble_reads_token_ids():
    """An ensemble of text models (``train-text --ensemble K``) is a text model too (it crashed on an image)."""
    m = models.get("ensemble", num_classes=2, member="textcnn",
                   member_config={"vocab_size": 30, "embed_dim": 4, "num_filters": 3}, size=2)
    s = models.summary(m)
    assert s.input_shape == (64,) and s.input_dtype == "int64"
    assert [r["name"] for r in s.rows if r["type"] == "Embedding"] == ["members.0.embedding", "members.1.embedding"]
    assert s.total_macs == 2 * (sum((64 - k + 1) * 3 * 4 * k for k in (3, 4, 5)) + 9 * 2)
    check_sums(s)
    image = models.get("ensemble", num_classes=10, member="seed000", size=2)
    assert models.summary(image).input_shape == (1, 28, 28)


def test_shared_and_unused_parameters_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.spare = nn.Linear(4, 2)           # never called
            self.bn = nn.BatchNorm1d(4)            # never called: its buffers still count

        def forward(self, x):
            return self.fc(self.fc(x))

    m = Tied()
    s = models.summary(m, (4,))
    assert [r["name"] for r in s.rows] == ["fc", "fc", "spare", "bn"]
    assert [r["params"] for r in s.rows] == [20, 0, 10, 8] and s.total_params == 38
    assert [r["macs"] for r in s.rows] == [16, 16, 0, 0]
    assert s.rows[2]["output_shape"] is None and s.to_dict()["layers"][2]["output_shape"] is None
    assert "spare (Linear)" in str(s) and "(not run)" in str(s) and s.buffers == 8
    check_sums(s)


# --- LoRA and adapters ----------------------------------------------------------------------------------------

def _tiny(classes=5):
    sc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(4),
                         nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, classes))


def test_lora_rows_under_their_host():
    from scratchcnn.finetune.lora import merge_lora, wrap_lora
    from scratchcnn.finetune.structure import set_submodule
    m = _tiny()
    plain = models.summary(m, (1, 8, 8))
    for name, r in (("0", 2), ("4", 3), ("8", 2)):
        set_submodule(m, name, wrap_lora(m.get_submodule(name), rank=r))
    s = models.summary(m, (1, 8, 8))
    names = [(r["name"], r["type"], r["parent"]) for r in s.rows]
    assert names[:3] == [("0", "LoRAConv", None), ("0.lora_A", "Conv2d", "0"), ("0.lora_B", "Conv2d", "0")]
    assert ("8", "LoRALinear", None) in names and ("8.lora_B", "Linear", "8") in names
    host = {r["name"]: r for r in s.rows}
    base = {r["name"]: r for r in plain.rows}
    for name in ("0", "4", "8"):    # the host row is the frozen base layer: its parameters and its MACs
        assert host[name]["params"] == base[name]["params"] and host[name]["trainable_params"] == 0
        assert host[name]["macs"] == base[name]["macs"] and host[name]["output_shape"] == base[name]["output_shape"]
    # branch MACs: A has the base's geometry with r outputs, B is a 1x1 (or r -> out) map
    assert host["0.lora_A"]["macs"] == 8 * 8 * 2 * 1 * 9 and host["0.lora_B"]["macs"] == 8 * 8 * 4 * 2
    assert host["4.lora_A"]["macs"] == 4 * 4 * 3 * 4 * 9 and host["4.lora_B"]["macs"] == 4 * 4 * 8 * 3
    assert host["8.lora_A"]["macs"] == 32 * 2 and host["8.lora_B"]["macs"] == 2 * 16
    branch = sum(r["macs"] for r in s.rows if r["parent"])
    assert s.total_macs == plain.total_macs + branch
    assert s.non_trainable_params == sum(base[n]["params"] for n in ("0", "4", "8"))
    assert s.total_params == plain.total_params + sum(r["params"] for r in s.rows if r["parent"])
    check_sums(s)
    text = str(s)
    assert "Frozen #" in text and "  0.lora_A (Conv2d)" in text
    merge_lora(m)       # the branch no longer runs: its rows stay (parameters), without shape or MACs
    s = models.summary(m, (1, 8, 8))
    assert s.total_macs == plain.total_macs
    assert {r["name"] for r in s.rows if r["output_shape"] is None} == {
        f"{n}.lora_{ab}" for n in ("0", "4", "8") for ab in "AB"}
    check_sums(s)


def test_adapters_parallel_and_inserted_blocks():
    from scratchcnn.finetune.adapter import add_adapters, add_parallel_adapters, add_residual_blocks
    m = _tiny()
    plain = models.summary(m, (1, 8, 8))
    add_adapters(m, [("3", (4, 4, 4))], bottleneck=2)            # Sequential: registered on the layer itself
    add_parallel_adapters(m, [("8", 32, 16)], bottleneck=3)
    add_residual_blocks(m, [("1", (4, 8, 8))])                   # after a ReLU: it keeps its row
    s = models.summary(m, (1, 8, 8))
    rows = [(r["name"], r["parent"]) for r in s.rows]
    assert rows[:5] == [("0", None), ("1", None), ("1.inserted.conv1", "1"), ("1.inserted.act", "1"),
                        ("1.inserted.conv2", "1")]
    i = rows.index(("3", None))
    assert rows[i + 1:i + 4] == [("3.inserted.down", "3"), ("3.inserted.act", "3"), ("3.inserted.up", "3")]
    i = rows.index(("8", None))
    assert rows[i + 1:i + 4] == [("8.parallel.down", "8"), ("8.parallel.act", "8"), ("8.parallel.up", "8")]
    by = {r["name"]: r for r in s.rows}
    assert by["1"]["type"] == "ReLU" and by["1"]["output_shape"] == [4, 8, 8]
    assert by["1.inserted.conv1"]["macs"] == 8 * 8 * 4 * 4 * 9 and by["1.inserted.conv1"]["params"] == 148
    assert by["3.inserted.down"]["macs"] == 4 * 4 * 2 * 4 and by["3.inserted.up"]["macs"] == 4 * 4 * 4 * 2
    assert by["8.parallel.down"]["macs"] == 32 * 3 and by["8.parallel.up"]["macs"] == 3 * 16
    extra = sum(r["macs"] for r in s.rows if r["parent"])
    assert extra == 8 * 8 * 4 * 4 * 9 * 2 + 4 * 4 * 8 * 2 + 32 * 3 + 3 * 16
    assert s.total_macs == plain.total_macs + extra
    assert s.total_params == plain.total_params + sum(r["params"] for r in s.rows if r["parent"])
    check_sums(s)


def test_bad_input_shape_names_the_shape():
    with pytest.raises(ValueError, match=r"summary: seed000 cannot run on one sample of shape \(3, 28, 28\)"):
        models.summary(models.get("seed000"), (3, 28, 28))


# --- the CLI on fine-tuned and text checkpoints -------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from scratchcnn.cli import main

    from cli.test_cli_text import make_csv
    from finetune.conftest import TINY, save_base, write_fake_dataset
    root = tmp_path_factory.mktemp("summary_ckpts")
    data = write_fake_dataset(root / "data")
    sc.manual_seed(3)
    base = save_base(root / "base", models.get(TINY, num_classes=5), [str(i) for i in range(5)])
    common = ["--data-dir", str(data), "--epochs", "1", "--batch-size", "8", "--no-progress", "--classes", "5-9",
              "--labels-per-class", "2"]
    runs = {"lora": ["--strategy", "lora", "--rank", "2"], "adapter": ["--strategy", "adapter"],
            "insert": ["--strategy", "bitfit", "--insert-block", "bn2", "--insert-block", "fc1"]}
    import io
    from contextlib import redirect_stderr, redirect_stdout
    for name, args in runs.items():
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
            assert main(["finetune", str(base), *args, "--out", str(root / name), *common]) == 0, err.getvalue()
    csv = make_csv(root / "reviews.csv", n=80)
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        assert main(["train-text", "--data", str(csv), "--text-col", "review", "--label-col", "sentiment",
                     "--embed-dim", "8", "--num-filters", "4", "--epochs", "1", "--batch-size", "16",
                     "--out", str(root / "text"), "--no-progress", "--json"]) == 0, err.getvalue()
    return root


def _json(capsys, *args) -> dict:
    rc, out, err = run(capsys, "summary", *args, "--json")
    assert rc == 0, err
    res = one_json(out)
    assert set(res) == TOP_KEYS | {"finetune"} and all(set(r) == ROW_KEYS for r in res["layers"])
    assert sum(r["params"] for r in res["layers"]) == res["total_params"]
    assert sum(r["macs"] for r in res["layers"]) == res["total_macs"]
    return res


def test_cli_lora_checkpoint(checkpoints, capsys):
    res = _json(capsys, checkpoints / "lora" / "adapter")
    rows = {r["name"]: r for r in res["layers"]}
    assert rows["conv1"]["type"] == "LoRAConv" and rows["conv1"]["params"] == 40
    assert rows["conv1"]["trainable_params"] == 0 and rows["conv1"]["macs"] == 28 * 28 * 4 * 9
    assert rows["conv1.lora_A"]["parent"] == "conv1" and rows["fc1.lora_B"]["parent"] == "fc1"
    assert rows["fc1"]["output_shape"] == [None, 32] and rows["fc2"]["output_shape"] == [None, 5]
    assert res["finetune"] == {"strategy": "lora", "kind": "adapter-only", "trainable_params": 1127,
                               "total_params": 14063}
    assert res["total_params"] == 14063
    merged = _json(capsys, checkpoints / "lora" / "merged")
    assert merged["finetune"]["kind"] == "merged" and not any("lora" in r["name"] for r in merged["layers"])
    assert merged["total_macs"] == res["total_macs"] - sum(r["macs"] for r in res["layers"] if r["parent"])
    rc, out, err = run(capsys, "summary", checkpoints / "lora" / "adapter")
    assert rc == 0 and "  conv1.lora_A (Conv2d)" in out and "fine-tuning trained 1,127 of its 14,063" in out


def test_cli_adapter_and_inserted_block_checkpoints(checkpoints, capsys):
    res = _json(capsys, checkpoints / "adapter" / "adapter")
    names = [(r["name"], r["parent"]) for r in res["layers"]]
    i = names.index(("bn1", None))
    assert names[i + 1:i + 4] == [("inserted.bn1.down", "bn1"), ("inserted.bn1.act", "bn1"),
                                  ("inserted.bn1.up", "bn1")]
    assert ("parallel.fc1.down", "fc1") in names and res["finetune"]["strategy"] == "adapter"
    res = _json(capsys, checkpoints / "insert" / "adapter")
    rows = {r["name"]: r for r in res["layers"]}
    assert rows["inserted.bn2.conv1"]["parent"] == "bn2" and rows["inserted.bn2.conv1"]["macs"] == 7 * 7 * 8 * 8 * 9
    assert rows["inserted.fc1.fc2"]["parent"] == "fc1" and rows["inserted.fc1.fc2"]["macs"] == 32 * 32
    assert res["total_params"] == res["finetune"]["total_params"]


def test_cli_text_checkpoint_and_bad_input(checkpoints, capsys):
    res = _json(capsys, checkpoints / "text")
    assert res["input_dtype"] == "int64" and res["layers"][0]["type"] == "Embedding" and res["finetune"] is None
    res = _json(capsys, checkpoints / "text", "--input-shape", "30")
    assert res["input_shape"] == [None, 30] and res["layers"][0]["output_shape"][:2] == [None, 30]
    rc, out, err = run(capsys, "summary", checkpoints / "text", "--input-shape", "1,28,28")
    assert_one_line_error(rc, out, err, "token ids", "(L,)")
    rc, out, err = run(capsys, "summary", checkpoints / "lora" / "adapter", "--input-shape", "3,28,28", "--json")
    assert_one_line_error(rc, out, err, "cannot run on one sample of shape (3, 28, 28)")
    rc, out, err = run(capsys, "summary", checkpoints / "data", "--json")
    assert_one_line_error(rc, out, err, "not a checkpoint folder")
    rc, out, err = run(capsys, "summary", checkpoints / "nowhere")
    assert_one_line_error(rc, out, err, "neither a checkpoint folder nor a model")
