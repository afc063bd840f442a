"""ONNX export: exported graphs run in onnxruntime and give scratchcnn's eval-mode logits.

Tolerance: everything is float32 on both sides and the two runtimes compute the same sums in different orders
(scratchcnn: im2col + BLAS GEMM; onnxruntime: MLAS kernels). A float32 dot product of K terms then differs by
about sqrt(K) * 6e-8 * max|term|; the widest here (seed001's fc1, K = 6272) stays below 1e-5 for logits of size
O(1), and the measured differences are ~1e-7. So rtol = atol = 1e-5: a wrong padding, flipped kernel, pooling
rule or BatchNorm statistic shows up as differences of 1e-2 or more, far above it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnx  # the test extra installs onnx and onnxruntime
import onnxruntime as ort
import pytest

import scratchcnn as sc
from scratchcnn import models, nn
from scratchcnn.io import export_onnx


RTOL = ATOL = 1e-5


# ------------------------------------------------------------------------------------------------ helpers
def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random (not default) biases, BatchNorm affine parameters and running statistics, float32."""
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.data[...] = rng.normal(0, 0.2, p.data.shape).astype(p.data.dtype)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.data[:] = rng.normal(0, 0.5, c)
            m.running_var.data[:] = rng.uniform(0.5, 2.0, c)
            if m.weight is not None:
                m.weight.data[:] = rng.uniform(0.5, 1.5, c)
    return model.eval()


def scratch_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with sc.no_grad():
        return np.asarray(model.eval()(sc.Tensor(x)).data)


def ort_logits(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"] and [o.name for o in sess.get_outputs()] == ["logits"]
    return sess.run(["logits"], {"input": x})[0]


def check_export(model: nn.Module, tmp_path: Path, shape: tuple[int, ...], opset: int = 17,
                 batches: tuple[int, ...] = (1, 7), seed: int = 1) -> Path:
    """Export with ``shape`` (batch 1), then compare onnxruntime with scratchcnn for each batch size."""
    path = export_onnx(model, tmp_path / f"m{opset}.onnx", input_shape=(1, *shape), opset=opset)
    rng = np.random.default_rng(seed)
    for n in batches:
        x = rng.normal(0, 1, (n, *shape)).astype(np.float32)
        want = scratch_logits(model, x)
        got = ort_logits(path, x)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    return path


class Square(nn.Module):
    """A layer the exporter does not know."""

    def forward(self, x):
        return x * x


class Residual(nn.Module):
    """A forward that adds between its layers (not a chain)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.flatten = nn.Flatten()

    def forward(self, x):
        return self.flatten(self.conv(x) + x)


# ------------------------------------------------------------------------------------------------ models
@pytest.mark.parametrize("name, kwargs", [("seed000", {}), ("seed001", {}), ("lenet5", {}),
                                          ("lenet5", {"activation": "tanh", "pool": "avg"})])
def test_builtin_models_match_onnxruntime(name, kwargs, tmp_path):
    sc.manual_seed(0)
    model = randomize(models.get(name, num_classes=10, **kwargs))
    path = check_export(model, tmp_path, (1, 28, 28))
    proto = onnx.load(str(path))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 28, 28]
    assert {i.name for i in proto.graph.initializer} == set(model.state_dict()) - {
        k for k in model.state_dict() if k.endswith("num_batches_tracked")}


def test_default_input_shape_comes_from_model_config(tmp_path):
    sc.manual_seed(0)
    model = randomize(models.get("seed000", num_classes=4, in_channels=3, input_size=32))
    path = export_onnx(model, tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(ort_logits(path, x), scratch_logits(model, x), rtol=RTOL, atol=ATOL)


def every_layer_2d() -> nn.Module:
    """Every supported 2-D layer and option, (N, 3, 16, 16) -> (N, 10)."""
    return nn.Sequential(OrderedDict([
        ("same", nn.Conv2d(3, 8, 3, padding="same")),                                   # 16x16
        ("bn", nn.BatchNorm2d(8)),
        ("relu", nn.ReLU()),
        ("grouped", nn.Conv2d(8, 8, (3, 1), stride=(2, 1), padding=(1, 0), groups=2, bias=False)),  # 8x16
        ("leaky", nn.LeakyReLU(0.1)),
        ("maxpool", nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),               # 4x8
        ("flipped", nn.Conv2d(8, 12, 3, padding=2, dilation=2, mode="convolution")),     # 4x8
        ("gelu", nn.GELU()),
        ("reflect", nn.Conv2d(12, 12, 3, padding=1, padding_mode="reflect")),
        ("sigmoid", nn.Sigmoid()),
        ("replicate", nn.Conv2d(12, 12, (2, 3), padding=(1, 2), stride=(1, 2), padding_mode="replicate")),  # 5x5
        ("tanh", nn.Tanh()),
        ("avgpool", nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False)),      # 3x3
        ("dilated_max", nn.MaxPool2d(2, stride=1, dilation=2, padding=1)),               # 3x3
        ("avg_incl_pad", nn.AvgPool2d(3, stride=1, padding=1)),                          # 3x3
        ("drop2d", nn.Dropout2d(0.5)),
        ("adaptive", nn.AdaptiveAvgPool2d((2, 1))),                                      # 2x1
        ("flatten_some", nn.Flatten(1, 2)),                                              # (24, 1): Reshape
        ("flatten", nn.Flatten()),
        ("drop", nn.Dropout(0.3)),
        ("fc1", nn.Linear(24, 32)),
        ("bn1d", nn.BatchNorm1d(32)),
        ("gelu_tanh", nn.GELU(approximate="tanh")),
        ("identity", nn.Identity()),
        ("fc2", nn.Linear(32, 10, bias=False)),
        ("logsoftmax", nn.LogSoftmax(dim=1)),
    ]))


def every_layer_1d() -> nn.Module:
    """Every supported 1-D layer, Linear on a 3-D input (MatMul), (N, 2, 20) -> (N, 24)."""
    return nn.Sequential(
        nn.Conv1d(2, 6, 5, padding="same"),            # 20
        nn.BatchNorm1d(6),
        nn.ReLU(),
        nn.MaxPool1d(2),                               # 10
        nn.AvgPool1d(3, stride=1, padding=1),          # 10
        nn.Conv1d(6, 6, 3, groups=3, dilation=2, stride=2, mode="convolution"),  # 3
        nn.Dropout1d(0.2),
        nn.AdaptiveAvgPool1d(3),
        nn.Linear(3, 4),                               # (N, 6, 4): MatMul + Add
        nn.Linear(4, 4, bias=False),                   # MatMul only
        nn.Softmax(dim=2),
        nn.Flatten(2, 2),                              # no-op
        nn.Flatten(),                                  # (N, 24)
    )


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_every_supported_layer_2d(opset, tmp_path):
    sc.manual_seed(opset)
    model = randomize(every_layer_2d(), seed=opset)
    path = check_export(model, tmp_path, (3, 16, 16), opset=opset)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ("Gelu" in ops) == (opset >= 20) and {"Pad", "Conv", "BatchNormalization", "Gemm"} <= ops
    assert "Dropout" not in ops


def test_every_supported_layer_1d(tmp_path):
    sc.manual_seed(5)
    model = randomize(every_layer_1d(), seed=5)
    rng = np.random.default_rng(3)
    path = export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 2, 20))
    for n in (1, 7):
        x = rng.normal(size=(n, 2, 20)).astype(np.float32)
        np.testing.assert_allclose(ort_logits(path, x), scratch_logits(model, x), rtol=RTOL, atol=ATOL)


def test_circular_padding_needs_opset_19(tmp_path):
    sc.manual_seed(2)
    model = randomize(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), nn.Flatten()))
    check_export(model, tmp_path, (2, 6, 5), opset=19)
    with pytest.raises(ValueError, match=r"'0' \(Conv2d\).*circular.*opset >= 19"):
        export_onnx(model, tmp_path / "old.onnx", input_shape=(1, 2, 6, 5), opset=17)
    assert not (tmp_path / "old.onnx").exists()


def test_convolution_mode_exports_flipped_weights(tmp_path):
    sc.manual_seed(3)
    conv = nn.Conv2d(2, 4, (3, 2), padding=1, mode="convolution")
    model = randomize(nn.Sequential(conv, nn.Flatten()))
    path = check_export(model, tmp_path, (2, 7, 6))
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    np.testing.assert_array_equal(weights["0.weight"], conv.weight.data[:, :, ::-1, ::-1])
    # the same layer as a correlation with the flipped kernel gives the same logits
    twin = nn.Conv2d(2, 4, (3, 2), padding=1)
    twin.weight.data[...] = conv.weight.data[:, :, ::-1, ::-1]
    twin.bias.data[...] = conv.bias.data
    x = np.random.default_rng(0).normal(size=(3, 2, 7, 6)).astype(np.float32)
    np.testing.assert_allclose(ort_logits(path, x), scratch_logits(nn.Sequential(twin, nn.Flatten()), x),
                               rtol=RTOL, atol=ATOL)


def test_fixed_batch(tmp_path):
    sc.manual_seed(0)
    model = randomize(models.get("lenet5"))
    path = export_onnx(model, tmp_path / "m.onnx", input_shape=(3, 1, 28, 28), dynamic_batch=False)
    dims = [d.dim_value for d in onnx.load(str(path)).graph.output[0].type.tensor_type.shape.dim]
    assert dims == [3, 10]
    x = np.random.default_rng(0).normal(size=(3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(ort_logits(path, x), scratch_logits(model, x), rtol=RTOL, atol=ATOL)


def test_training_mode_is_restored_and_eval_used(tmp_path):
    sc.manual_seed(0)
    model = randomize(models.get("seed001")).train()
    path = export_onnx(model, tmp_path / "m.onnx")
    assert model.training and model.bn1.training
    x = np.random.default_rng(0).normal(size=(2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(ort_logits(path, x), scratch_logits(model, x), rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("model, fragments", [
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), Square(), nn.Flatten()), ["'1' (Square)", "no ONNX export"]),
    (lambda: nn.Sequential(nn.MaxPool2d(2, return_indices=True)), ["'0' (MaxPool2d)", "return_indices"]),
    (lambda: nn.Sequential(nn.AvgPool2d(2, divisor_override=3), nn.Flatten()), ["'0' (AvgPool2d)", "divisor"]),
    (lambda: nn.Sequential(nn.BatchNorm2d(1, track_running_stats=False), nn.Flatten()),
     ["'0' (BatchNorm2d)", "track_running_stats"]),
    (lambda: nn.Sequential(nn.AdaptiveAvgPool2d(5), nn.Flatten()), ["'0' (AdaptiveAvgPool2d)", "unequal"]),
    (lambda: Residual(), ["'flatten' (Flatten)", "between its layers"]),
    (lambda: nn.Sequential(nn.Flatten(0, -1)), ["'0' (Flatten)", "batch axis"]),
])
def test_unsupported_is_a_value_error_and_writes_nothing(model, fragments, tmp_path):
    target = tmp_path / "out" / "m.onnx"
    with pytest.raises(ValueError) as info:
        export_onnx(model(), target, input_shape=(2, 1, 12, 12))
    for f in fragments:
        assert f in str(info.value)
    assert not target.exists() and not (target.parent.exists() and any(target.parent.iterdir()))


def test_existing_file_kept_when_export_fails(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="Square"):
        export_onnx(nn.Sequential(Square()), target, input_shape=(1, 1, 4, 4))
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_adapter_hooks_and_text_models_are_refused(tmp_path):
    from scratchcnn.finetune import add_adapters
    model = models.get("seed000")
    add_adapters(model, [("pool1", (16, 14, 14))], bottleneck=4)
    with pytest.raises(ValueError, match=r"'pool1' \(MaxPool2d\) has forward hooks.*adapter"):
        export_onnx(model, tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="token ids"):
        export_onnx(models.get("textcnn", vocab_size=50), tmp_path / "t.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, match", [({"opset": 12}, "opset"), ({"opset": 99}, "opset"),
                                           ({"input_shape": (1, 28, 28, 1, 1)}, "input_shape"),
                                           ({"input_shape": (1, 3, 28, 28)}, "does not accept")])
def test_bad_arguments(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        export_onnx(models.get("seed000"), tmp_path / "m.onnx", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)     # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'scratchcnn\[onnx\]'"):
        export_onnx(models.get("seed000"), tmp_path / "m.onnx")


def test_core_import_stays_numpy_only():
    code = ("import scratchcnn, scratchcnn.io, sys; "
            "print([m for m in sys.modules if m.startswith(('onnx', 'torch', 'matplotlib', 'tqdm'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------------ CLI
def _save(directory: Path, model, **meta):
    from scratchcnn.io import save_checkpoint
    from scratchcnn.models.loading import model_meta
    return save_checkpoint(directory, model.state_dict(), model_meta(model, **meta))


@pytest.fixture
def run_folder(tmp_path):
    """A training run's folder layout (run/best/) holding a seed001 with moved BatchNorm statistics."""
    sc.manual_seed(7)
    model = randomize(models.get("seed001", num_classes=3))
    _save(tmp_path / "run" / "best", model, dataset="mnist", class_names=["zero", "one", "two"],
          normalization={"mean": [0.1307], "std": [0.3081]}, input_shape=[1, 28, 28])
    return tmp_path / "run"


def test_cli_round_trip(run_folder, capsys, tmp_path):
    from cli.helpers import one_json, run
    from scratchcnn.models import load_model
    out = tmp_path / "exp" / "model.onnx"
    rc, stdout, err = run(capsys, "export", run_folder, "--out", out, "--json")
    assert rc == 0, err
    res = one_json(stdout)
    assert set(res) == {"out", "opset", "inputs", "outputs", "bytes"}
    assert res["out"] == str(out) and res["opset"] == 17 and res["bytes"] == out.stat().st_size
    assert res["inputs"] == [{"name": "input", "shape": ["batch", 1, 28, 28], "dtype": "float32"}]
    assert res["outputs"] == [{"name": "logits", "shape": ["batch", 3], "dtype": "float32"}]
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["normalization"]) == {"mean": [0.1307], "std": [0.3081]}
    assert json.loads(props["class_names"]) == ["zero", "one", "two"]
    assert props["model"] == "seed001" and "(x - mean) / std" in props["preprocessing"]
    model, _ = load_model(run_folder)
    x = np.random.default_rng(0).normal(size=(7, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(ort_logits(out, x), scratch_logits(model, x), rtol=RTOL, atol=ATOL)

    rc, stdout, err = run(capsys, "export", run_folder / "best", "--out", tmp_path / "b.onnx", "--opset", "13")
    assert rc == 0, err
    assert "wrote" in stdout and "logits" in stdout
    assert onnx.load(str(tmp_path / "b.onnx")).opset_import[0].version == 13


def test_cli_errors_are_one_line_and_write_nothing(run_folder, capsys, tmp_path):
    from cli.helpers import assert_one_line_error, run
    out = tmp_path / "x.onnx"
    rc, stdout, err = run(capsys, "export", run_folder, "--out", out, "--opset", "5", "--json")
    assert_one_line_error(rc, stdout, err, "opset")
    assert not out.exists()


def test_cli_lora_checkpoint_exports_merged(run_folder, capsys, tmp_path):
    from cli.helpers import one_json, run
    from scratchcnn.finetune import load_any, save_adapter_checkpoint, wrap_lora
    from scratchcnn.finetune.structure import set_submodule
    from scratchcnn.io import file_sha256, read_meta
    base = run_folder / "best"
    model, meta = load_any(base)
    rng = np.random.default_rng(2)
    for name in ("conv2", "fc1"):
        layer = wrap_lora(model.get_submodule(name), rank=2, alpha=4.0, name=name)
        layer.lora_B.weight.data[...] = rng.normal(0, 0.05, layer.lora_B.weight.data.shape)
        set_submodule(model, name, layer)
    meta = dict(meta, finetune={"strategy": "lora", "head": {"name": "fc2", "mode": "keep"},
                                "structure": {"lora": {"targets": ["conv2", "fc1"], "rank": 2, "alpha": 4.0},
                                              "adapters": None}})
    names = [k for k in model.state_dict() if ".lora_" in k]
    ft = save_adapter_checkpoint(tmp_path / "ft" / "adapter", model, meta, names, base,
                                 file_sha256(base / "model.safetensors"))
    assert read_meta(ft)["finetune"]["kind"] == "adapter-only"
    out = tmp_path / "lora.onnx"
    rc, stdout, err = run(capsys, "export", tmp_path / "ft", "--out", out, "--json")
    assert rc == 0, err
    assert one_json(stdout)["outputs"][0]["shape"] == ["batch", 3]
    loaded, _ = load_any(ft)
    x = rng.normal(size=(5, 1, 28, 28)).astype(np.float32)
    want = scratch_logits(loaded, x)
    assert not np.allclose(want, scratch_logits(load_any(base)[0], x), atol=1e-3)   # the LoRA update matters
    np.testing.assert_allclose(ort_logits(out, x), want, rtol=RTOL, atol=ATOL)
    assert not any(".lora_" in i.name for i in onnx.load(str(out)).graph.initializer)


def test_cli_adapter_checkpoint_is_refused(run_folder, capsys, tmp_path):
    from cli.helpers import assert_one_line_error, run
    from scratchcnn.finetune import add_adapters, load_any, save_merged_checkpoint
    model, meta = load_any(run_folder)
    add_adapters(model, [("pool1", (64, 14, 14))], bottleneck=4)
    meta = dict(meta, finetune={"strategy": "adapter", "head": {"name": "fc2", "mode": "keep"},
                                "structure": {"lora": None, "adapters": {"after": [["pool1", [64, 14, 14]]],
                                                                         "bottleneck": 4}}})
    save_merged_checkpoint(tmp_path / "ad", model, meta)
    out = tmp_path / "ad.onnx"
    rc, stdout, err = run(capsys, "export", tmp_path / "ad", "--out", out)
    assert_one_line_error(rc, stdout, err, "'pool1'", "forward hooks", "adapter")
    assert not out.exists()


@pytest.mark.parametrize("pool", [
    lambda: nn.MaxPool2d(2, stride=2, ceil_mode=True),
    lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    lambda: nn.AvgPool2d(2, stride=2, ceil_mode=True),
    lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
    lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda: nn.AvgPool1d(2, stride=2, ceil_mode=True),
    lambda: nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True),
], ids=["max2", "max3pad", "avg2", "avg3pad", "avg3pad_excl", "avg1d", "max1d"])
def test_ceil_mode_pooling_on_odd_sizes(pool, tmp_path):
    """Odd sizes make ceil_mode add a last window that overhangs the input (PyTorch's rules)."""
    p = pool()
    shape = (2, 7) if isinstance(p, (nn.AvgPool1d, nn.MaxPool1d)) else (2, 7, 9)
    check_export(nn.Sequential(p, nn.Flatten()), tmp_path, shape)


# ------------------------------------------------------------------------------------------------ more activations
MORE_ACTIVATIONS = {
    "elu": lambda: nn.ELU(0.7), "selu": nn.SELU, "celu": lambda: nn.CELU(1.3), "silu": nn.SiLU, "mish": nn.Mish,
    "softplus": nn.Softplus, "softplus_beta_threshold": lambda: nn.Softplus(beta=2.0, threshold=1.5),
    "softplus_negative_beta": lambda: nn.Softplus(beta=-0.5, threshold=3.0),
    "hardtanh": lambda: nn.Hardtanh(-0.5, 1.5), "relu6": nn.ReLU6, "hardsigmoid": nn.Hardsigmoid,
    "hardswish": nn.Hardswish, "softsign": nn.Softsign, "logsigmoid": nn.LogSigmoid, "prelu": nn.PReLU,
    "prelu_channels": lambda: nn.PReLU(4, init=-0.3),
}


def more_activations() -> nn.Module:
    """Every activation added with ELU..PReLU in one chain, (N, 4, 5, 5) -> (N, 100)."""
    layers: list = []
    for i, (name, make) in enumerate(MORE_ACTIVATIONS.items()):
        layers += [(f"conv{i}", nn.Conv2d(4, 4, 1)), (name, make())]
    layers.append(("flatten", nn.Flatten()))
    return nn.Sequential(OrderedDict(layers))


@pytest.mark.parametrize("opset", [13, 17, 18, 20])
def test_more_activations_chain_matches_onnxruntime(opset, tmp_path):
    sc.manual_seed(opset)
    model = randomize(more_activations(), seed=opset)
    model.prelu_channels.weight.data[:] = [-0.3, 0.1, 0.5, 1.2]
    path = check_export(model, tmp_path, (4, 5, 5), opset=opset)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Elu", "Selu", "Celu", "Softplus", "Clip", "HardSigmoid", "Softsign", "PRelu", "Where"} <= ops
    assert ("Mish" in ops) == (opset >= 18) and ("HardSwish" in ops) == (opset >= 14)


@pytest.mark.parametrize("opset", [13, 20])
@pytest.mark.parametrize("name", list(MORE_ACTIVATIONS))
def test_each_new_activation_over_a_wide_range(name, opset, tmp_path):
    """One activation after a 1x1 conv whose outputs span about +-30: kinks, saturation and linear regions."""
    sc.manual_seed(1)
    conv = nn.Conv2d(4, 4, 1)
    conv.weight.data[...] *= 12.0
    model = randomize(nn.Sequential(OrderedDict([("conv", conv), ("act", MORE_ACTIVATIONS[name]()),
                                                 ("flatten", nn.Flatten())])))
    if name == "prelu_channels":
        model.act.weight.data[:] = [-0.3, 0.1, 0.5, 1.2]
    check_export(model, tmp_path, (4, 5, 5), opset=opset)
    with sc.no_grad():
        y = conv(sc.Tensor(np.random.default_rng(1).normal(0, 1, (7, 4, 5, 5)).astype(np.float32))).data
    assert y.min() < -6 and y.max() > 6        # the range really covers every kink


@pytest.mark.parametrize("rank", [2, 3, 4])
def test_prelu_per_channel_slopes_on_any_rank(rank, tmp_path):
    """The per-channel slope broadcasts from axis 1 for (N, C) (after a Flatten), (N, C, L), (N, C, H, W)."""
    c = 3
    prelu = nn.PReLU(c)
    prelu.weight.data[:] = np.linspace(-1.0, 2.0, c)
    shape = {2: (c, 1), 3: (c, 6), 4: (c, 4, 5)}[rank]
    model = nn.Sequential(nn.Flatten(), prelu) if rank == 2 else nn.Sequential(prelu, nn.Flatten())
    path = export_onnx(model, tmp_path / "m.onnx", input_shape=(1, *shape))
    slope = next(i for i in onnx.load(str(path)).graph.initializer if i.name == "1.weight" or i.name == "0.weight")
    assert list(slope.dims) == [c] + [1] * (rank - 2)
    x = np.random.default_rng(0).normal(0, 2, (4, *shape)).astype(np.float32)
    np.testing.assert_allclose(ort_logits(path, x), scratch_logits(model, x), rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------------------------ normalisation
def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and biases everywhere, random running statistics in the norm layers that track them."""
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        p.data[...] = (rng.uniform(0.5, 1.5, p.data.shape) if name.endswith("weight") and p.data.ndim == 1
                       else rng.normal(0, 0.3, p.data.shape)).astype(p.data.dtype)
    for m in model.modules():
        if getattr(m, "running_mean", None) is not None:
            m.running_mean.data[:] = rng.normal(0, 0.5, m.running_mean.shape)
            m.running_var.data[:] = rng.uniform(0.5, 2.0, m.running_var.shape)
    return model.eval()


NORM_LAYERS_2D = {   # name: (layer, the ONNX op that must carry it at an opset)
    "layer_norm": (lambda: nn.LayerNorm([5, 5]), lambda o: "LayerNormalization" if o >= 17 else "ReduceMean"),
    "layer_norm_no_bias": (lambda: nn.LayerNorm(5, eps=1e-3, bias=False),
                           lambda o: "LayerNormalization" if o >= 17 else "ReduceMean"),
    "layer_norm_plain": (lambda: nn.LayerNorm([4, 5, 5], elementwise_affine=False),
                         lambda o: "LayerNormalization" if o >= 17 else "ReduceMean"),
    "group_norm": (lambda: nn.GroupNorm(2, 4), lambda o: "InstanceNormalization"),
    "group_norm_plain": (lambda: nn.GroupNorm(4, 4, eps=1e-3, affine=False), lambda o: "InstanceNormalization"),
    "instance_norm": (lambda: nn.InstanceNorm2d(4), lambda o: "InstanceNormalization"),
    "instance_norm_affine": (lambda: nn.InstanceNorm2d(4, affine=True), lambda o: "InstanceNormalization"),
    "instance_norm_running": (lambda: nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
                              lambda o: "BatchNormalization"),
    "lrn_odd": (lambda: nn.LocalResponseNorm(3, alpha=0.2, beta=0.6, k=1.5), lambda o: "LRN"),
    "lrn_even": (lambda: nn.LocalResponseNorm(2, alpha=0.5, beta=0.75, k=1.0), lambda o: "AveragePool"),
    "lrn_wide": (lambda: nn.LocalResponseNorm(6, alpha=1.0, beta=1.2, k=2.0), lambda o: "AveragePool"),
}


@pytest.mark.parametrize("opset", [13, 17, 18, 21])
@pytest.mark.parametrize("name", list(NORM_LAYERS_2D))
def test_norm_layers_2d_match_onnxruntime(name, opset, tmp_path):
    layer, op = NORM_LAYERS_2D[name]
    model = randomize_norms(nn.Sequential(nn.Conv2d(2, 4, 3), layer(), nn.ReLU()))
    path = check_export(model, tmp_path, (2, 7, 7), opset=opset)
    assert op(opset) in {n.op_type for n in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("opset", [13, 17])
def test_norm_layers_1d_and_after_flatten_match_onnxruntime(opset, tmp_path):
    model = randomize_norms(nn.Sequential(
        nn.Conv1d(2, 6, 3), nn.LocalResponseNorm(3, alpha=0.3), nn.InstanceNorm1d(6, affine=True),
        nn.GroupNorm(3, 6), nn.LocalResponseNorm(4, alpha=0.3), nn.InstanceNorm1d(6, track_running_stats=True),
        nn.Flatten(), nn.LayerNorm(6 * 8), nn.Linear(6 * 8, 3)))
    check_export(model, tmp_path, (2, 10), opset=opset)


def test_instance_norm_without_batch_axis_is_refused(tmp_path):
    model = nn.Sequential(nn.Conv1d(1, 3, 3), nn.Flatten(), nn.InstanceNorm1d(1))  # (1, 9): (C, L) to it
    with pytest.raises(ValueError, match=r"InstanceNorm1d.*batched input of rank 3"):
        export_onnx(model, tmp_path / "m.onnx", input_shape=(1, 1, 5))
    assert not (tmp_path / "m.onnx").exists()


# -------------------------------------------------------------------------------------------- conv transpose, upsample
def decoder_2d() -> nn.Module:
    """ConvTranspose2d with every option and Upsample in both modes, (N, 4, 5, 6) -> (N, C * H * W)."""
    return nn.Sequential(OrderedDict([
        ("up1", nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)),      # 10x12
        ("relu", nn.ReLU()),
        ("up2", nn.ConvTranspose2d(6, 3, (2, 3), stride=(1, 2), padding=(0, 1), dilation=2, output_padding=(1, 0),
                                   bias=False)),                                                     # 13x23
        ("nearest", nn.Upsample(scale_factor=2)),                                                    # 26x46
        ("depthwise", nn.ConvTranspose2d(3, 3, 3, stride=3, groups=3)),                              # 78x138
        ("bilinear", nn.Upsample(size=(20, 31), mode="bilinear")),
        ("corners", nn.Upsample(scale_factor=(1.5, 0.5), mode="bilinear", align_corners=True)),      # 30x15
        ("flatten", nn.Flatten()),
    ]))


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_conv_transpose_and_upsample_2d(opset, tmp_path):
    sc.manual_seed(opset)
    path = check_export(randomize(decoder_2d(), seed=opset), tmp_path, (4, 5, 6), opset=opset)
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("ConvTranspose") == 3 and ops.count("Resize") == 3
    assert ops.count("Pad") == 1    # up2: output_padding 1 >= stride 1 (onnxruntime refuses it) -> zero rows + bias
    attrs = {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in graph.node}
    assert attrs["nearest"]["coordinate_transformation_mode"] == b"asymmetric"
    assert attrs["nearest"]["nearest_mode"] == b"floor"
    assert attrs["bilinear"]["coordinate_transformation_mode"] == b"half_pixel"
    assert attrs["corners"]["coordinate_transformation_mode"] == b"align_corners"
    assert attrs["up1"]["output_padding"] == [1, 1] and attrs["up1"]["group"] == 2


def test_conv_transpose_and_upsample_1d_fixed_batch(tmp_path):
    sc.manual_seed(4)
    model = randomize(nn.Sequential(nn.ConvTranspose1d(2, 4, 4, stride=3, padding=2, output_padding=2),   # 18
                                    nn.Upsample(scale_factor=1.5, mode="linear"),                          # 27
                                    nn.ConvTranspose1d(4, 4, 3, padding=2, dilation=3, output_padding=2),  # 27
                                    nn.ConvTranspose1d(4, 4, 2, padding=1, dilation=3, output_padding=2),  # 28
                                    nn.ConvTranspose1d(4, 2, 1, groups=2),
                                    nn.Upsample(size=11), nn.Flatten()))
    path = export_onnx(model, tmp_path / "m.onnx", input_shape=(3, 2, 7), dynamic_batch=False)
    x = np.random.default_rng(0).normal(size=(3, 2, 7)).astype(np.float32)
    np.testing.assert_allclose(ort_logits(path, x), scratch_logits(model, x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape, kwargs", [
    ((2, 7), dict(scale_factor=1.5)),                        # 1/1.5 coordinates: Resize scales
    ((2, 10), dict(scale_factor=2.5, mode="linear")),         # a whole 25: sizes
    ((2, 5, 7), dict(scale_factor=(0.6, 1.7), mode="bilinear")),
    ((2, 5, 7), dict(scale_factor=1.7, recompute_scale_factor=True)),
    ((2, 5, 7), dict(size=(3, 11))),
    ((2, 5, 7), dict(size=(1, 1), mode="bilinear")),
    ((2, 5, 7), dict(size=(9, 2), mode="bilinear", align_corners=True)),
    ((2, 4, 6), dict(scale_factor=(2.1, 1.0))),              # out == 2 in and out == in: PyTorch's shortcuts
    ((2, 6), dict(size=6, mode="linear")),
], ids=["n1d_frac", "lin1d", "bilin_frac", "recompute", "size", "to1", "corners", "shortcuts", "same"])
def test_upsample_cases_match_onnxruntime(shape, kwargs, tmp_path):
    check_export(nn.Sequential(nn.Upsample(**kwargs), nn.Flatten()), tmp_path, shape)


def test_upsample_that_onnx_cannot_express_is_refused(tmp_path):
    """1-D nearest by 1.2 on 3 samples keeps the size but maps o -> floor(o / 1.2) (onnxruntime: identity)."""
    target = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=r"'0' \(Upsample\).*scale_factor=1.2.*recompute_scale_factor=True"):
        export_onnx(nn.Sequential(nn.Upsample(scale_factor=1.2), nn.Flatten()), target, input_shape=(1, 2, 3))
    assert not target.exists()
