"""Export audit: configurations the other export tests did not reach, compared with scratchcnn's eval forward.

ONNX (float32): atol = 1e-5 * max|ours| + 1e-6; torch (float64, via to_torch): rtol 1e-10.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.io import export_onnx, to_torch


def ours(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with sc.no_grad():
        return np.asarray(model.eval()(sc.Tensor(x)).data)


def check_onnx(model: nn.Module, tmp_path: Path, shape: tuple[int, ...], opset: int = 17,
               batches: tuple[int, ...] = (2, 5)) -> None:
    """Export with batch 2, run batches ``batches`` (dynamic batch) in onnxruntime."""
    path = export_onnx(model.eval(), tmp_path / f"m{opset}.onnx", input_shape=(2, *shape), opset=opset)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in batches:
        x = np.random.default_rng(n).normal(0, 1, (n, *shape)).astype(np.float32)
        want = ours(model, x)
        got = sess.run(["logits"], {"input": x})[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max() + 1e-6)


def check_torch(model: nn.Module, shape: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    model = model.to(np.float64).eval()
    twin = to_torch(model).eval()
    x = np.random.default_rng(0).normal(0, 1, (3, *shape))
    with torch.no_grad():
        got = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ours(model, x), rtol=1e-10, atol=1e-12)


# ceil_mode pooling where PyTorch drops the last ceil window (it would start past input + left padding): ONNX
# kept it, so check_model's shape inference failed (or the output had one window too many); some cases mix an
# axis that keeps its extra window with one that drops it.
CEIL_CASES = [
    (nn.MaxPool1d, dict(kernel_size=2, stride=3, ceil_mode=True), (3, 9)),                       # drop only
    (nn.AvgPool1d, dict(kernel_size=2, stride=3, ceil_mode=True), (3, 9)),
    (nn.MaxPool2d, dict(kernel_size=2, stride=3, ceil_mode=True), (3, 7, 9)),                    # keep + drop
    (nn.AvgPool2d, dict(kernel_size=2, stride=3, ceil_mode=True), (3, 7, 9)),
    (nn.AvgPool2d, dict(kernel_size=2, stride=3, ceil_mode=True, count_include_pad=False), (3, 7, 9)),
    (nn.MaxPool3d, dict(kernel_size=4, stride=3, padding=2, ceil_mode=True), (2, 7, 8, 9)),
    (nn.AvgPool3d, dict(kernel_size=4, stride=3, padding=2, ceil_mode=True), (2, 7, 8, 9)),
    (nn.AvgPool3d, dict(kernel_size=4, stride=3, padding=2, ceil_mode=True, count_include_pad=False), (2, 7, 8, 9)),
    (nn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True), (3, 8, 11)),
]


@pytest.mark.parametrize("cls,kwargs,shape", CEIL_CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in
                                                              enumerate(CEIL_CASES)])
@pytest.mark.parametrize("opset", [13, 19])
def test_ceil_mode_pool_dropping_last_window(cls, kwargs, shape, opset, tmp_path):
    check_onnx(nn.Sequential(cls(**kwargs)), tmp_path, shape, opset)


def test_ceil_mode_pool_dropping_last_window_torch():
    for cls, kwargs, shape in CEIL_CASES:
        check_torch(nn.Sequential(cls(**kwargs)), shape)


# LocalResponseNorm on (N, C, D, H, W): the AveragePool built for it ran over 4 axes, which onnxruntime refuses
# at run time ("Unsupported pooling size").
@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("opset", [13, 17])
def test_local_response_norm_5d(size, opset, tmp_path):
    model = nn.Sequential(nn.Conv3d(2, 6, 1), nn.LocalResponseNorm(size, alpha=0.1, beta=0.7, k=2.0))
    check_onnx(model, tmp_path, (2, 3, 4, 5), opset)
    check_torch(model, (2, 3, 4, 5))
