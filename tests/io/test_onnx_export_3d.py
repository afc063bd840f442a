"""ONNX export of 3-D models and Unflatten: Conv3d, MaxPool3d/AvgPool3d/AdaptiveAvgPool3d, BatchNorm3d,
InstanceNorm3d and Unflatten (Reshape) run in onnxruntime and give scratchcnn's eval-mode outputs; the options
ONNX cannot express are refused with the layer's name.

Tolerance rtol = atol = 1e-5, float32 on both sides, as in test_onnx_export.py (which explains the bound)."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnx  # the test extra installs onnx and onnxruntime
import onnxruntime as ort
import pytest

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.io import export_onnx

RTOL = ATOL = 1e-5


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-default biases, affine parameters and running statistics; eval mode."""
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.data[...] = rng.normal(0, 0.5, p.data.shape)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm3d, nn.BatchNorm1d, nn.InstanceNorm3d)) and m.running_mean is not None:
            c = m.num_features
            m.running_mean.data[:] = rng.normal(0, 0.5, c)
            m.running_var.data[:] = rng.uniform(0.5, 2.0, c)
        if getattr(m, "weight", None) is not None and isinstance(m, (nn.BatchNorm3d, nn.InstanceNorm3d)):
            m.weight.data[:] = rng.uniform(0.5, 1.5, m.weight.shape)
    return model.eval()


def _check(model: nn.Module, tmp_path: Path, shape: tuple[int, ...], batches=(1, 3), opset: int = 17,
           dynamic_batch: bool = True) -> Path:
    """Export with batch ``batches[0]``, then compare onnxruntime with scratchcnn for each batch size."""
    path = export_onnx(model, tmp_path / "m.onnx", input_shape=(batches[0], *shape), opset=opset,
                       dynamic_batch=dynamic_batch)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for n in batches:
        x = rng.normal(0, 1, (n, *shape)).astype(np.float32)
        with sc.no_grad():
            want = np.asarray(model.eval()(sc.Tensor(x)).data)
        got = sess.run(["logits"], {"input": x})[0]
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    return path


def small_3d_model() -> nn.Module:
    """The oracle test's model in float32: (N, 2, 6, 7, 6) -> (N, 2, 3) (bins of equal sizes for ONNX)."""
    sc.manual_seed(0)
    return nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.BatchNorm3d(4, momentum=None), nn.ReLU(),
                         nn.MaxPool3d(2, stride=2, padding=1, ceil_mode=True), nn.AdaptiveAvgPool3d((2, 1, 2)),
                         nn.Flatten(), nn.Linear(16, 6), nn.Unflatten(1, (2, -1)))


@pytest.mark.parametrize("opset", [13, 17])
def test_small_3d_model_matches_onnxruntime(opset, tmp_path):
    model = _randomize(small_3d_model())
    path = _check(model, tmp_path, (2, 6, 7, 6), opset=opset)
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    assert ops == ["Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool", "Flatten", "Gemm", "Reshape"]
    dims = [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 2, 3]


def every_layer_3d() -> nn.Module:
    """Every supported 3-D layer and option, (N, 3, 9, 8, 7) -> (N, 4, 6)."""
    sc.manual_seed(1)
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv3d(3, 6, (3, 2, 3), stride=(1, 1, 2), padding=(1, 1, 1), dilation=(2, 1, 1))),  # 7x9x4
        ("bn", nn.BatchNorm3d(6, affine=False)),
        ("maxpool", nn.MaxPool3d(3, stride=2, padding=1, ceil_mode=True)),                            # 4x5x3
        ("dilated_max", nn.MaxPool3d(2, stride=1, padding=1, dilation=2)),                            # 4x5x3
        ("inorm", nn.InstanceNorm3d(6, affine=True)),
        ("avg_excl", nn.AvgPool3d(2, stride=1, padding=1, count_include_pad=False)),                  # 5x6x4
        ("avg_ceil", nn.AvgPool3d((3, 2, 3), stride=2, padding=1, ceil_mode=True)),                   # 3x4x3
        ("inorm_stats", nn.InstanceNorm3d(6, track_running_stats=True)),
        ("adaptive", nn.AdaptiveAvgPool3d((1, 2, None))),                                             # 1x2x3
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(36, 24)),
        ("unflatten", nn.Unflatten(-1, (4, 2, -1))),                                                  # 4x2x3
        ("conv1d_in", nn.Flatten(2)),                                                                 # 4x6
        ("conv1d", nn.Conv1d(4, 4, 3, padding=1)),
    ]))


def test_every_supported_layer_3d(tmp_path):
    _check(_randomize(every_layer_3d()), tmp_path, (3, 9, 8, 7))


@pytest.mark.parametrize("pool", [
    lambda: nn.MaxPool3d(2, stride=2, ceil_mode=True),
    lambda: nn.MaxPool3d(3, stride=2, padding=1, ceil_mode=True),
    lambda: nn.AvgPool3d(2, stride=2, ceil_mode=True),
    lambda: nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True),
    lambda: nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    lambda: nn.AdaptiveAvgPool3d(1),
    lambda: nn.AdaptiveAvgPool3d((5, 3, 3)),
], ids=["max2", "max3pad", "avg2", "avg3pad", "avg3pad_excl", "global", "divisible"])
def test_3d_pooling_on_odd_sizes(pool, tmp_path):
    _check(nn.Sequential(pool(), nn.Flatten()), tmp_path, (2, 5, 9, 3))


def test_unflatten_of_the_batch_axis_with_a_fixed_batch(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Unflatten(0, (2, 2)))
    _check(model, tmp_path, (3, 5), batches=(4,), dynamic_batch=False)


@pytest.mark.parametrize("model, fragments", [
    (lambda: nn.Sequential(nn.MaxPool3d(2, return_indices=True)), ["'0' (MaxPool3d)", "return_indices"]),
    (lambda: nn.Sequential(nn.AvgPool3d(2, divisor_override=3), nn.Flatten()), ["'0' (AvgPool3d)", "divisor"]),
    (lambda: nn.Sequential(nn.BatchNorm3d(1, track_running_stats=False), nn.Flatten()),
     ["'0' (BatchNorm3d)", "track_running_stats"]),
    (lambda: nn.Sequential(nn.AdaptiveAvgPool3d(3), nn.Flatten()), ["'0' (AdaptiveAvgPool3d)", "unequal"]),
    (lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(0, (1, 2))), ["'1' (Unflatten)", "batch axis"]),
])
def test_unsupported_3d_options_are_refused(model, fragments, tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(ValueError) as info:
        export_onnx(model(), target, input_shape=(2, 1, 4, 5, 4))
    for f in fragments:
        assert f in str(info.value)
    assert not target.exists()


@pytest.mark.parametrize("shape", [(1, 1, 4, 4, 4, 4), (0, 1, 4, 4, 4)])
def test_bad_input_shapes_are_refused(shape, tmp_path):
    with pytest.raises(ValueError, match="input_shape"):
        export_onnx(small_3d_model(), tmp_path / "m.onnx", input_shape=shape)
