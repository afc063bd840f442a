"""Step-by-step explanations of a transposed convolution and of BatchNorm2d, on tiny inputs.

Same rules as :mod:`scratchcnn.viz.explain`: every number shown comes from the engine in float64
(``scratchcnn.functional.conv_transpose2d`` / ``scratchcnn.nn.BatchNorm2d``) and is recomputed here in a second,
independent way (the scatter-and-add sums and the convolution of the upsampled input; the NumPy formulas for the
batch statistics); any disagreement raises ``RuntimeError`` (it would be a bug).

    >>> from scratchcnn.viz import explain_conv_transpose, explain_batchnorm
    >>> explain_conv_transpose().output_shape       # 2x2 input, 3x3 kernel, stride 2
    (5, 5)
    >>> explain_batchnorm().mean.tolist()           # per channel, over 2 images x 2x2 pixels
    [4.5, 5.0]
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .explain import MAX_CELLS, ConvStep, _agree, _jsonmat, _jsonnum, _pair, _snap
from .explain_text import _how_many, _span, fmt
from .explain_text import _par as par, _side_by_side as side, _wrap as wrap, matrix_lines as mlines
from .inputs import load_kernel, load_matrix

__all__ = ["ScatterStep", "CellSum", "ConvTransposeExplanation", "explain_conv_transpose", "BatchNormChannel",
           "BatchNormExplanation", "explain_batchnorm", "CONV_TRANSPOSE_EXAMPLE", "BATCHNORM_EXAMPLE",
           "load_batch"]

CONV_TRANSPOSE_EXAMPLE: dict[str, Any] = {
    "input": [[1, 2], [3, 4]],
    "kernel": [[1, 0, 2], [0, 1, 0], [3, 0, 1]],
    "title": "a 2x2 input, a 3x3 kernel, stride 2 -> 5x5 (the kernel copies overlap on the middle row and column)",
}
BATCHNORM_EXAMPLE: dict[str, Any] = {
    # 2 images x 2 channels x 2x2; channel 0 holds 1..8 (mean 4.5, variance 5.25, unbiased 6),
    # channel 1 mean 5, variance 7, unbiased 8
    "input": [[[[1, 2], [3, 4]], [[9, 1], [7, 3]]],
              [[[5, 6], [7, 8]], [[7, 3], [7, 3]]]],
    "gamma": [2, 0.5], "beta": [1, 0],
    "title": "2 images x 2 channels x 2x2 pixels, gamma (2, 0.5), beta (1, 0), a fresh layer's running statistics",
}


# =============================================================================================== transposed conv
@dataclass
class ScatterStep:
    """One input value times the kernel, added onto the canvas at rows ``rows`` and columns ``cols`` (canvas
    coordinates; the output is the canvas without ``padding`` rows/columns on each side)."""

    position: tuple[int, int]
    value: float
    rows: list[int]
    cols: list[int]
    contribution: np.ndarray
    canvas_after: np.ndarray

    def to_dict(self) -> dict:
        return {"input_position": list(self.position), "value": _jsonnum(self.value), "canvas_rows": self.rows,
                "canvas_cols": self.cols, "contribution": _jsonmat(self.contribution),
                "canvas_after": _jsonmat(self.canvas_after)}


@dataclass
class CellSum:
    """One output cell as the sum of the kernel copies that reach it: terms ``(input (i, j), kernel (m, n),
    x[i, j], K[m, n])``; no terms = no input reaches the cell (0)."""

    position: tuple[int, int]
    terms: list[tuple[tuple[int, int], tuple[int, int], float, float]]
    sum: float

    def to_dict(self) -> dict:
        return {"position": list(self.position), "sum": _jsonnum(self.sum),
                "terms": [{"input_position": list(ij), "kernel_position": list(mn), "input_value": _jsonnum(a),
                           "kernel_value": _jsonnum(b)} for ij, mn, a, b in self.terms]}


@dataclass
class ConvTransposeExplanation:
    """Everything ``explain conv-transpose`` shows; ``output`` is the engine's result (H_out, W_out), float64."""

    input: np.ndarray
    kernel: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    output: np.ndarray
    formulas: dict[str, str]
    canvas: np.ndarray                  # the full scatter canvas, before cropping `padding` from each side
    steps: list[ScatterStep]
    cells: list[CellSum]
    upsampled: np.ndarray               # the input with stride-1 zeros between its values
    conv_padding: tuple[tuple[int, int], tuple[int, int]]   # zeros added (negative: cropped) before/after
    conv_input: np.ndarray              # upsampled and padded: what the flipped kernel slides over
    kernel_flipped: np.ndarray
    conv_formulas: dict[str, str]
    conv_steps: list[ConvStep]
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, int]:
        return tuple(int(n) for n in self.output.shape)  # type: ignore[return-value]

    def to_dict(self) -> dict:
        """JSON-ready: ``{"output", "output_shape", "steps" (the scatter steps), "cells", "as_convolution",
        "output_size", "input", "kernel", "stride", "padding", "output_padding", "dilation", ...}``."""
        return {"operation": "conv_transpose2d", "title": self.title, "input": _jsonmat(self.input),
                "kernel": _jsonmat(self.kernel), "stride": list(self.stride), "padding": list(self.padding),
                "output_padding": list(self.output_padding), "dilation": list(self.dilation),
                "output_size": dict(self.formulas), "output": _jsonmat(self.output),
                "output_shape": list(self.output_shape), "canvas": _jsonmat(self.canvas),
                "canvas_shape": list(self.canvas.shape), "steps": [s.to_dict() for s in self.steps],
                "cells": [c.to_dict() for c in self.cells],
                "as_convolution": {"upsampled": _jsonmat(self.upsampled),
                                   "padding": [list(p) for p in self.conv_padding],
                                   "input": _jsonmat(self.conv_input), "kernel_flipped": _jsonmat(self.kernel_flipped),
                                   "stride": [1, 1], "dilation": list(self.dilation),
                                   "output_size": dict(self.conv_formulas),
                                   "steps": [s.to_dict() for s in self.conv_steps]},
                "engine": "scratchcnn.functional.conv_transpose2d (float64)",
                "checked_against": ["the scatter-and-add sums", "scratchcnn.functional.conv2d of the upsampled, "
                                    "padded input with the flipped kernel",
                                    "scratchcnn.functional.reference.conv2d_reference (the same)"],
                "notes": list(self.notes)}

    def to_text(self, max_steps: int | None = None) -> str:
        return conv_transpose_text(self, max_steps)


def _tsize(n: int, k: int, s: int, p: int, d: int, op: int) -> tuple[int, str]:
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    return out, f"({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {out}"


def explain_conv_transpose(input: Any = None, kernel: Any = None, stride: Any = 2, padding: Any = 0,
                           output_padding: Any = 0, dilation: Any = 1) -> ConvTransposeExplanation:
    """Explain one 2-D transposed convolution (PyTorch's ``conv_transpose2d``, one channel in and out) twice: as
    scatter-and-add of kernel copies, and as a stride-1 convolution of the zero-upsampled, padded input with the
    flipped kernel.

    Args:
        input: (H, W) matrix (array, nested list, JSON text, ``.json``/``.npy``/image file); default 2x2.
        kernel: (kH, kW) matrix (same forms) or a kernel name (``edge``, ``sobel-x``, ...); default 3x3.
        stride: int or pair, >= 1 (default 2). padding: int or pair, >= 0 (cropped from each side of the output).
        output_padding: int or pair, smaller than max(stride, dilation) (extra rows/columns at the bottom/right).
        dilation: int or pair, >= 1.
    Raises:
        ValueError: a malformed matrix, bad stride/padding/output_padding/dilation, an empty or too large output.
    """
    from .. import functional as F
    from ..functional.reference import conv2d_reference
    from ..tensor import Tensor

    op = "explain conv-transpose"
    title = ""
    if input is None and kernel is None:
        title = CONV_TRANSPOSE_EXAMPLE["title"]
    x = load_matrix(CONV_TRANSPOSE_EXAMPLE["input"] if input is None else input, "input")
    k = load_kernel(CONV_TRANSPOSE_EXAMPLE["kernel"] if kernel is None else kernel, "kernel")
    st = _pair(stride, "stride", op, 1)
    pd = _pair(padding, "padding", op, 0)
    opd = _pair(output_padding, "output_padding", op, 0)
    dil = _pair(dilation, "dilation", op, 1)
    for a, name in enumerate(("rows", "columns")):
        if opd[a] >= max(st[a], dil[a]):
            raise ValueError(f"{op}: output_padding must be smaller than stride or dilation (PyTorch's rule), got "
                             f"output_padding {opd[a]} with stride {st[a]} and dilation {dil[a]} for the {name}")
    sizes = [_tsize(x.shape[a], k.shape[a], st[a], pd[a], dil[a], opd[a]) for a in range(2)]
    (ho, f_h), (wo, f_w) = sizes
    if ho < 1 or wo < 1:
        raise ValueError(f"{op}: the output would be {ho}x{wo} (rows: {f_h}; columns: {f_w}); use less padding")
    if ho * wo > MAX_CELLS or x.size * k.size > MAX_CELLS:
        raise ValueError(f"{op}: the output would have {ho}x{wo} = {ho * wo} cells from {x.size} kernel copies; "
                         f"explain walks through at most {MAX_CELLS} (use a smaller input or kernel)")

    # the engine (float64)
    out = F.conv_transpose2d(Tensor(x[None, None]), Tensor(k[None, None]), stride=st, padding=pd,
                             output_padding=opd, dilation=dil).data[0, 0].copy()
    scale = float(np.abs(x).max() * np.abs(k).sum())

    # view 1: scatter each x[i, j] * K onto a canvas of (O + 2p) rows/cols, then crop p from each side
    ch, cw = ho + 2 * pd[0], wo + 2 * pd[1]
    canvas = np.zeros((ch, cw))
    terms: dict[tuple[int, int], list] = {}
    steps: list[ScatterStep] = []
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            rows = [i * st[0] + m * dil[0] for m in range(k.shape[0])]
            cols = [j * st[1] + n * dil[1] for n in range(k.shape[1])]
            contrib = x[i, j] * k
            canvas[np.ix_(rows, cols)] += contrib
            for m, r in enumerate(rows):
                for n, c in enumerate(cols):
                    terms.setdefault((r, c), []).append(((i, j), (m, n), float(x[i, j]), float(k[m, n])))
            steps.append(ScatterStep((i, j), float(x[i, j]), rows, cols, contrib, canvas.copy()))
    scattered = canvas[pd[0]:pd[0] + ho, pd[1]:pd[1] + wo]
    if not _agree(scattered, out, scale):
        raise RuntimeError(f"{op}: the scatter-and-add sums disagree with the engine's conv_transpose2d; this is a bug")
    cells: list[CellSum] = []
    for r in range(ho):
        for c in range(wo):
            t = terms.get((r + pd[0], c + pd[1]), [])
            out[r, c] = _snap(out[r, c], sum(abs(a * b) for _, _, a, b in t))
            cells.append(CellSum((r, c), t, float(out[r, c])))

    # view 2: upsample (stride-1 zeros between values), pad d*(k-1)-p (+op after), flip, slide with stride 1
    up = np.zeros(((x.shape[0] - 1) * st[0] + 1, (x.shape[1] - 1) * st[1] + 1))
    up[::st[0], ::st[1]] = x
    cpad = tuple((dil[a] * (k.shape[a] - 1) - pd[a], dil[a] * (k.shape[a] - 1) - pd[a] + opd[a]) for a in range(2))
    cin = np.pad(up, [(max(0, lo), max(0, hi)) for lo, hi in cpad])
    cin = cin[max(0, -cpad[0][0]):cin.shape[0] - max(0, -cpad[0][1]),
              max(0, -cpad[1][0]):cin.shape[1] - max(0, -cpad[1][1])]
    kf = k[::-1, ::-1].copy()
    conv_out = F.conv2d(Tensor(cin[None, None]), Tensor(kf[None, None]), dilation=dil).data[0, 0]
    conv_ref = conv2d_reference(cin, kf, dilation=dil)
    if not (_agree(conv_out, out, scale) and _agree(conv_ref, out, scale)):
        raise RuntimeError(f"{op}: the convolution of the upsampled input with the flipped kernel disagrees with "
                           "conv_transpose2d; this is a bug")
    conv_steps: list[ConvStep] = []
    for i in range(ho):
        for j in range(wo):
            rp = [i + m * dil[0] for m in range(k.shape[0])]
            cp = [j + n * dil[1] for n in range(k.shape[1])]
            window = cin[np.ix_(rp, cp)]
            conv_steps.append(ConvStep((i, j), rp, cp, window, window * kf, float(out[i, j])))
    cf = {"rows": f"{cin.shape[0]} - {dil[0]}*({k.shape[0]} - 1) = {ho}",
          "cols": f"{cin.shape[1]} - {dil[1]}*({k.shape[1]} - 1) = {wo}"}
    res = ConvTransposeExplanation(
        input=x, kernel=k, stride=st, padding=pd, output_padding=opd, dilation=dil, output=out,
        formulas={"rows": f_h, "cols": f_w}, canvas=canvas, steps=steps, cells=cells, upsampled=up,
        conv_padding=cpad, conv_input=cin, kernel_flipped=kf, conv_formulas=cf, conv_steps=conv_steps, title=title)
    if st == (1, 1):
        res.notes.append("With stride 1 nothing is upsampled: a transposed convolution is then a plain convolution "
                         "with the flipped kernel and padding dilation*(k-1) - padding ('full' convolution for "
                         "padding 0).")
    if any(lo < 0 for lo, _ in cpad):
        res.notes.append("padding is larger than dilation*(k-1) here, so view 2 crops the upsampled input instead "
                         "of padding it.")
    return res


# =============================================================================================== batch norm
def load_batch(spec: Any, what: str = "input") -> np.ndarray:
    """A 4-D float64 batch (N, C, H, W) from an array, a nested list, inline JSON text or a ``.json``/``.npy``
    file; one-line ValueError otherwise."""
    src = "the value"
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec).strip()
        if text.startswith("["):
            try:
                spec = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"{what}: not valid JSON ({e.msg} at column {e.colno}); expected a nested list "
                                 "N x C x H x W like [[[[1, 2], [3, 4]]], [[[5, 6], [7, 8]]]]") from None
        else:
            path = Path(text)
            if not path.is_file() or path.suffix.lower() not in (".json", ".npy"):
                raise ValueError(f"{what}: {text!r} is neither an existing .json/.npy file nor an inline JSON batch "
                                 "(N x C x H x W nested lists)")
            src = str(path)
            if path.suffix.lower() == ".json":
                try:
                    spec = json.loads(path.read_text(encoding="utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise ValueError(f"{what}: {path} is not valid JSON ({type(e).__name__})") from None
            else:
                try:
                    spec = np.load(path, allow_pickle=False)
                except Exception as e:
                    raise ValueError(f"{what}: cannot read {path} as a .npy array: "
                                     f"{(str(e).splitlines() or [type(e).__name__])[0]}") from None
    try:
        arr = np.array(spec, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"{what}: {src} is not a batch of numbers N x C x H x W (ragged or non-numeric)") from None
    if arr.dtype.kind == "b" or any(isinstance(v, (bool, np.bool_)) for v in np.array(spec, dtype=object).ravel()):
        raise ValueError(f"{what}: true/false where numbers are expected")
    if arr.ndim != 4:
        raise ValueError(f"{what}: expected a 4-D batch (N images x C channels x H x W), got {arr.ndim}-D shape "
                         f"{arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what}: the batch is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    return arr


def _per_channel(value: Any, c: int, name: str, op: str) -> np.ndarray:
    vals = np.atleast_1d(np.asarray(value, dtype=object)).ravel().tolist()
    if not vals or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                            for v in vals):
        raise ValueError(f"{op}: {name} must be a number or one number per channel, got {value!r}")
    if len(vals) == 1:
        vals = vals * c
    if len(vals) != c:
        raise ValueError(f"{op}: {name} needs 1 or {c} values (one per channel), got {len(vals)}")
    arr = np.array(vals, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{op}: {name} must be finite, got {value!r}")
    return arr


@dataclass
class BatchNormChannel:
    """The statistics of one channel: its values (over N, H, W), mean, biased and unbiased variance, the
    running-statistics update, and the training/eval denominators sqrt(var + eps)."""

    channel: int
    values: np.ndarray
    mean: float
    deviations: np.ndarray
    squares: np.ndarray
    sum_squares: float
    var: float                       # biased: / count (used to normalise)
    var_unbiased: float              # / (count - 1) (used for running_var, as PyTorch)
    std: float                       # sqrt(var + eps)
    running_mean: tuple[float, float]    # before, after
    running_var: tuple[float, float]
    eval_std: float                  # sqrt(running_var_after + eps)
    gamma: float
    beta: float

    def to_dict(self) -> dict:
        n = len(self.values)
        return {"channel": self.channel, "values": [_jsonnum(v) for v in self.values], "count": n,
                "sum": _jsonnum(self.values.sum()), "mean": _jsonnum(self.mean),
                "deviations": [_jsonnum(v) for v in self.deviations],
                "squared_deviations": [_jsonnum(v) for v in self.squares], "sum_squares": _jsonnum(self.sum_squares),
                "var": _jsonnum(self.var), "var_unbiased": _jsonnum(self.var_unbiased), "std": _jsonnum(self.std),
                "gamma": _jsonnum(self.gamma), "beta": _jsonnum(self.beta),
                "running_mean": {"before": _jsonnum(self.running_mean[0]), "after": _jsonnum(self.running_mean[1])},
                "running_var": {"before": _jsonnum(self.running_var[0]), "after": _jsonnum(self.running_var[1])},
                "eval_std": _jsonnum(self.eval_std)}


@dataclass
class BatchNormExplanation:
    """Everything ``explain batchnorm`` shows. ``output`` is the engine's training-mode result (N, C, H, W),
    ``eval_output`` its eval-mode result on the same batch after the update, float64."""

    input: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    eps: float
    momentum: float
    channels: list[BatchNormChannel]
    normalized: np.ndarray           # training: (x - mean) / sqrt(var + eps)
    output: np.ndarray
    eval_normalized: np.ndarray
    eval_output: np.ndarray
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.output.shape)

    @property
    def mean(self) -> np.ndarray:
        return np.array([c.mean for c in self.channels])

    @property
    def var(self) -> np.ndarray:
        return np.array([c.var for c in self.channels])

    @property
    def running_mean(self) -> np.ndarray:
        return np.array([c.running_mean[1] for c in self.channels])

    @property
    def running_var(self) -> np.ndarray:
        return np.array([c.running_var[1] for c in self.channels])

    def to_dict(self) -> dict:
        """JSON-ready: ``{"output", "output_shape", "steps" (one per channel), "normalized", "eval_output",
        "running_mean", "running_var", "gamma", "beta", "eps", "momentum", ...}``."""
        def nest(a: np.ndarray) -> list:
            return [[_jsonmat(ch) for ch in img] for img in a]
        return {"operation": "batch_norm2d", "title": self.title, "input": nest(self.input),
                "input_shape": list(self.input.shape), "eps": self.eps, "momentum": self.momentum,
                "gamma": [_jsonnum(v) for v in self.gamma], "beta": [_jsonnum(v) for v in self.beta],
                "steps": [c.to_dict() for c in self.channels], "normalized": nest(self.normalized),
                "output": nest(self.output), "output_shape": list(self.output_shape),
                "running_mean": [_jsonnum(v) for v in self.running_mean],
                "running_var": [_jsonnum(v) for v in self.running_var],
                "eval_normalized": nest(self.eval_normalized), "eval_output": nest(self.eval_output),
                "engine": "scratchcnn.nn.BatchNorm2d (float64): train() then eval()",
                "checked_against": "the per-channel NumPy formulas shown", "notes": list(self.notes)}

    def to_text(self, max_steps: int | None = None) -> str:
        return batchnorm_text(self, max_steps)


def explain_batchnorm(input: Any = None, gamma: Any = None, beta: Any = None, eps: float = 1e-5,
                      momentum: float = 0.1, running_mean: Any = 0.0, running_var: Any = 1.0) -> BatchNormExplanation:
    """Explain ``BatchNorm2d`` on a tiny batch: one training step (batch statistics, normalisation, gamma/beta,
    running-statistics update), then eval mode on the same batch with the updated running statistics.

    Args:
        input: (N, C, H, W) batch: array, nested list, JSON text or ``.json``/``.npy`` file; default 2x2x2x2.
        gamma, beta: the affine weight and bias, a number or one per channel (default: the example's, or 1 and
            0 for another input, a fresh layer's).
        eps: > 0, added to the variance (PyTorch's default 1e-5). momentum: in [0, 1] (default 0.1).
        running_mean, running_var: the running statistics before the step (default 0 and 1, a fresh layer's).
    """
    from ..nn import BatchNorm2d
    from ..tensor import Tensor

    op = "explain batchnorm"
    title = ""
    if input is None:
        title = BATCHNORM_EXAMPLE["title"]
        gamma = BATCHNORM_EXAMPLE["gamma"] if gamma is None else gamma
        beta = BATCHNORM_EXAMPLE["beta"] if beta is None else beta
    x = load_batch(BATCHNORM_EXAMPLE["input"] if input is None else input)
    n, c, h, w = x.shape
    count = n * h * w
    if count < 2:
        raise ValueError(f"{op}: each channel needs more than 1 value in training mode (N*H*W = {count} for "
                         f"input shape {x.shape}), as in PyTorch")
    if count > MAX_CELLS:
        raise ValueError(f"{op}: {count} values per channel; explain walks through at most {MAX_CELLS}")
    g = _per_channel(1.0 if gamma is None else gamma, c, "gamma", op)
    b = _per_channel(0.0 if beta is None else beta, c, "beta", op)
    rm0 = _per_channel(running_mean, c, "running_mean", op)
    rv0 = _per_channel(running_var, c, "running_var", op)
    for name, v, ok, rule in (("eps", eps, lambda v: v > 0, "> 0 (as PyTorch requires in training)"),
                              ("momentum", momentum, lambda v: 0 <= v <= 1, "in [0, 1]")):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v) \
                or not ok(v):
            raise ValueError(f"{op}: {name} must be a number {rule}, got {v!r}")
    if (rv0 < 0).any():
        raise ValueError(f"{op}: running_var must be >= 0, got {rv0.tolist()}")
    eps, momentum = float(eps), float(momentum)

    # the engine: a BatchNorm2d layer in float64, one training step, then eval
    bn = BatchNorm2d(c, eps=eps, momentum=momentum, dtype=np.float64)
    bn.weight.data[...] = g
    bn.bias.data[...] = b
    bn.running_mean.data[...] = rm0
    bn.running_var.data[...] = rv0
    bn.train()
    y = bn(Tensor(x)).data.copy()
    rm1, rv1 = bn.running_mean.data.copy(), bn.running_var.data.copy()
    bn.eval()
    y_eval = bn(Tensor(x)).data.copy()

    # the formulas, per channel, in NumPy
    chans: list[BatchNormChannel] = []
    xhat = np.empty_like(x)
    xhat_eval = np.empty_like(x)
    for ci in range(c):
        vals = x[:, ci].reshape(-1)
        mean = _snap(vals.sum() / count, np.abs(vals).sum() / count)
        dev = np.array([_snap(v - mean, abs(v) + abs(mean)) for v in vals])
        sq = dev ** 2
        ss = float(sq.sum())
        var, var_u = ss / count, ss / (count - 1)
        std, estd = float(np.sqrt(var + eps)), float(np.sqrt(rv1[ci] + eps))
        xhat[:, ci] = (x[:, ci] - mean) / std
        xhat_eval[:, ci] = (x[:, ci] - rm1[ci]) / estd
        chans.append(BatchNormChannel(ci, vals, float(mean), dev, sq, ss, var, var_u, std,
                                      (float(rm0[ci]), float(rm1[ci])), (float(rv0[ci]), float(rv1[ci])), estd,
                                      float(g[ci]), float(b[ci])))
    gb = (g.reshape(1, c, 1, 1), b.reshape(1, c, 1, 1))
    mine, mine_eval = xhat * gb[0] + gb[1], xhat_eval * gb[0] + gb[1]
    exp_rm = (1 - momentum) * rm0 + momentum * np.array([ch.mean for ch in chans])
    exp_rv = (1 - momentum) * rv0 + momentum * np.array([ch.var_unbiased for ch in chans])
    scale = float(np.abs(mine).max() + np.abs(mine_eval).max() + np.abs(x).max() + 1)
    if not (_agree(mine, y, scale) and _agree(mine_eval, y_eval, scale) and _agree(exp_rm, rm1, scale)
            and _agree(exp_rv, rv1, scale)):
        raise RuntimeError(f"{op}: the formulas disagree with scratchcnn.nn.BatchNorm2d; this is a bug")
    res = BatchNormExplanation(input=x, gamma=g, beta=b, eps=eps, momentum=momentum, channels=chans,
                               normalized=xhat, output=y, eval_normalized=xhat_eval, eval_output=y_eval, title=title)
    res.notes.append("In training mode every channel of the output has mean beta and standard deviation "
                     "gamma*sqrt(var/(var + eps)), i.e. almost gamma: the layer chooses the scale and shift, not the "
                     "batch. Eval mode differs from training mode until the running statistics have caught up "
                     "with the data (after one step with momentum 0.1 they are still mostly the initial 0 and 1).")
    if momentum == 0:
        res.notes.append("momentum 0 leaves the running statistics unchanged: eval mode then ignores this batch.")
    return res


# =============================================================================================== text
def _side(blocks: list[tuple[str, np.ndarray]], joins: list[str], indent: int = 4) -> list[str]:
    """Matrices of possibly different heights next to each other (shorter ones centred), titles above,
    operator symbols on the middle row."""
    cols = []
    height = max(np.asarray(m).shape[0] for _, m in blocks)
    for title, mat in blocks:
        body = mlines(mat, indent=0)
        width = max(len(title), *(len(b) for b in body))
        top = (height - len(body)) // 2
        body = [""] * top + [b.rjust(len(body[0])) for b in body] + [""] * (height - len(body) - top)
        cols.append([title.ljust(width)] + [b.ljust(width) for b in body])
    mid = 1 + (height - 1) // 2
    out = []
    for r in range(height + 1):
        parts = [cols[0][r]]
        for j, col in zip(joins, cols[1:]):
            parts.append(f"  {j}  " if r == mid else " " * (len(j) + 4))
            parts.append(col[r])
        out.append(" " * indent + "".join(parts).rstrip())
    return out


def conv_transpose_text(r: ConvTransposeExplanation, max_steps: int | None = None) -> str:
    """The walk-through of a :class:`ConvTransposeExplanation`: output size, scatter-and-add, the cell sums, the
    same output as a convolution of the upsampled input with the flipped kernel, the check."""
    (H, W), (kh, kw) = r.input.shape, r.kernel.shape
    ho, wo = r.output_shape
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = r.stride, r.padding, r.output_padding, r.dilation
    L: list[str] = [
        "2-D transposed convolution (PyTorch's conv_transpose2d, the upsampling layer of decoders and U-Nets):",
        "every input value x[i, j] adds a copy of the kernel, scaled by x[i, j], onto the output at row",
        "i*stride + m*dilation - padding, column j*stride + n*dilation - padding for kernel cell K[m, n];",
        "where copies overlap they add up.",
    ]
    if r.title:
        L.append(f"Example: {r.title}.")
    L += ["", f"input x ({H}x{W}):", *mlines(r.input), f"kernel K ({kh}x{kw}):", *mlines(r.kernel),
          f"stride {sh}x{sw}, padding {ph}x{pw}, output_padding {oh}x{ow}, dilation {dh}x{dw}",
          "", "output size, per axis: (n - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1",
          f"  rows:    {r.formulas['rows']}", f"  columns: {r.formulas['cols']}", f"  -> the output is {ho}x{wo}"]
    ch, cw = r.canvas.shape
    crop = ph or pw
    L += ["", "View 1: scatter and add."]
    if crop or oh or ow:
        L += wrap("  ", f"The copies land on a {ch}x{cw} canvas (canvas row = i*stride + m*dilation); the output is "
                  f"the canvas without {ph} row(s) at the top and bottom and {pw} column(s) at the left and right "
                  "(padding crops)" + (f"; output_padding {oh}x{ow} adds rows/columns at the bottom/right that "
                                       "the copies may not reach (0 there)" if oh or ow else "") + ".")
    total = len(r.steps)
    shown = _how_many(total, max_steps)
    where = "canvas" if crop else "output"
    for s in r.steps[:shown]:
        i, j = s.position
        L += ["", f"x[{i}, {j}] = {fmt(s.value)}: {fmt(s.value)} * K goes to {where} rows {_span(s.rows)}, "
                  f"columns {_span(s.cols)}"]
        L += _side([(f"x[{i}, {j}]", np.array([[s.value]])), ("K", r.kernel), ("copy", s.contribution)],
                   ["*", "="])
        if max(ch, cw) <= 12:
            L += [f"  {where} so far:", *mlines(s.canvas_after, indent=4)]
    if shown < total:
        L += ["", f"... {total - shown} more input value(s) not shown (--max-steps {total} or --json shows all)"]
    if crop:
        L += ["", f"crop the padding: output = canvas rows {ph}..{ph + ho - 1}, columns {pw}..{pw + wo - 1}"]
    L += ["", "Each output cell is the sum of the copies that reach it (x[i, j]*K[m, n] with i*stride + m*dilation "
              "- padding = row):"]
    cshown = _how_many(len(r.cells), max_steps)
    for cs in r.cells[:cshown]:
        rr, cc = cs.position
        if not cs.terms:
            L.append(f"  out[{rr}, {cc}] = 0  (no kernel copy reaches it)")
            continue
        names = " + ".join(f"x[{i},{j}]*K[{m},{n}]" for (i, j), (m, n), _, _ in cs.terms)
        nums = " + ".join(f"{par(a)}*{par(b)}" for _, _, a, b in cs.terms)
        L += wrap(f"  out[{rr}, {cc}] = ", f"{names} = {nums} = {fmt(cs.sum)}" if len(cs.terms) > 1
                  else f"{names} = {nums} = {fmt(cs.sum)}")
    if cshown < len(r.cells):
        L.append(f"  ... {len(r.cells) - cshown} more cell(s) not shown (--max-steps {len(r.cells)} or --json)")

    up = r.upsampled
    (plo_h, phi_h), (plo_w, phi_w) = r.conv_padding
    L += ["", "View 2: the same output as an ordinary convolution (stride 1)."]
    L += wrap("  1. ", f"upsample: put stride - 1 zeros between neighbouring values ({sh - 1} between rows, {sw - 1} "
              f"between columns) -> ({H} - 1)*{sh} + 1 = {up.shape[0]} rows, ({W} - 1)*{sw} + 1 = {up.shape[1]} "
              "columns")
    L += mlines(up, indent=6)
    L += wrap("  2. ", f"pad: dilation*(k - 1) - padding zeros before, that plus output_padding after -> rows "
              f"{dh}*({kh} - 1) - {ph} = {plo_h} above, {plo_h} + {oh} = {phi_h} below; columns "
              f"{dw}*({kw} - 1) - {pw} = {plo_w} left, {plo_w} + {ow} = {phi_w} right"
              + (" (negative = crop)" if min(plo_h, plo_w) < 0 else "") + f" -> {r.conv_input.shape[0]}x"
              f"{r.conv_input.shape[1]}")
    if max(r.conv_input.shape) <= 16:
        L += mlines(r.conv_input, indent=6)
    L += ["  3. flip the kernel 180 degrees: K'[m, n] = K[kH-1-m, kW-1-n]", *mlines(r.kernel_flipped, indent=6),
          "  4. slide K' over it (cross-correlation, stride 1, dilation "
          f"{dh}x{dw}): output size n - dilation*(k - 1)",
          f"     rows: {r.conv_formulas['rows']}, columns: {r.conv_formulas['cols']}"]
    vshown = _how_many(len(r.conv_steps), max_steps)
    for s in r.conv_steps[:vshown]:
        i, j = s.position
        L += ["", f"out[{i}, {j}]: the window at rows {_span(s.rows)}, columns {_span(s.cols)} of the padded "
                  "upsampled input"]
        L += side([("window", s.window), ("K'", r.kernel_flipped), ("products", s.products)], ["x", "="])
        terms = " + ".join(f"{par(a)}*{par(b)}" for a, b in zip(s.window.ravel(), r.kernel_flipped.ravel()))
        L += wrap("  sum = ", f"{terms} = {fmt(s.sum)}")
    if vshown < len(r.conv_steps):
        L += ["", f"... {len(r.conv_steps) - vshown} more window(s) not shown (--max-steps {len(r.conv_steps)} or "
                  "--json shows all)"]
    L += ["", f"output ({ho}x{wo}):", *mlines(r.output),
          "checked: the engine (scratchcnn.functional.conv_transpose2d, float64), the scatter-and-add sums, and "
          "conv2d of the upsampled input with the flipped kernel (engine and textbook loops) agree."]
    for note in r.notes:
        L += [""] + wrap("note: ", note)
    return "\n".join(L)


def batchnorm_text(r: BatchNormExplanation, max_steps: int | None = None) -> str:
    """The walk-through of a :class:`BatchNormExplanation`; ``max_steps`` limits the values listed per channel."""
    n, c, h, w = r.input.shape
    cnt = n * h * w
    L: list[str] = [
        "BatchNorm2d: each channel is normalised with statistics over the whole batch (all images, all pixels):",
        "y = (x - mean) / sqrt(var + eps) * gamma + beta, with var the biased variance (divided by the count);",
        "training also updates running_mean/running_var, which eval mode uses instead of the batch statistics.",
    ]
    if r.title:
        L.append(f"Example: {r.title}.")
    L += ["", f"input: {n} image(s) x {c} channel(s) x {h}x{w} pixels"]
    for ni in range(n):
        for ci in range(c):
            L += [f"  image {ni}, channel {ci}:", *mlines(r.input[ni, ci], indent=4)]
    L += [f"eps {fmt(r.eps)}, momentum {fmt(r.momentum)}, gamma ({', '.join(fmt(v) for v in r.gamma)}), "
          f"beta ({', '.join(fmt(v) for v in r.beta)})"]
    m = r.momentum
    for ch in r.channels:
        k = ch.channel
        vals = ch.values
        L += ["", f"Channel {k}: its {cnt} values (images 0..{n - 1}, {h}x{w} pixels each)"]
        L += wrap("  mean = ", f"({' + '.join(par(v) for v in vals)}) / {cnt} = {fmt(vals.sum())} / {cnt} "
                  f"= {fmt(ch.mean)}")
        L += wrap("  var  = ", f"({' + '.join(f'({fmt(v)} - {par(ch.mean)})^2' for v in vals)}) / {cnt}")
        L += wrap("       = ", f"({' + '.join(fmt(v) for v in ch.squares)}) / {cnt} = {fmt(ch.sum_squares)} / "
                  f"{cnt} = {fmt(ch.var)}   (biased: divided by the count; used to normalise)")
        L += [f"  sqrt(var + eps) = sqrt({fmt(ch.var)} + {fmt(r.eps)}) = {fmt(ch.std)}"]
        shown = _how_many(cnt, max_steps)
        L.append(f"  training output y = (x - {par(ch.mean)}) / {fmt(ch.std)} * {par(ch.gamma)} + {par(ch.beta)}:")
        for idx in range(shown):
            ni, rest = divmod(idx, h * w)
            i, j = divmod(rest, w)
            xv, xh, yv = r.input[ni, k, i, j], r.normalized[ni, k, i, j], r.output[ni, k, i, j]
            L.append(f"    image {ni} [{i}, {j}]: ({fmt(xv)} - {par(ch.mean)}) / {fmt(ch.std)} = {fmt(xh)};  "
                     f"{par(xh)}*{par(ch.gamma)} + {par(ch.beta)} = {fmt(yv)}")
        if shown < cnt:
            L.append(f"    ... {cnt - shown} more value(s) not shown (--max-steps {cnt} or --json shows all)")
        L += ["  running statistics (new = (1 - momentum)*old + momentum*batch statistic):",
              f"    running_mean = (1 - {fmt(m)})*{par(ch.running_mean[0])} + {fmt(m)}*{par(ch.mean)} = "
              f"{fmt(ch.running_mean[1])}",
              f"    unbiased var = {fmt(ch.sum_squares)} / ({cnt} - 1) = {fmt(ch.var_unbiased)}   (divided by "
              "count - 1: PyTorch's choice for the running variance)",
              f"    running_var  = (1 - {fmt(m)})*{par(ch.running_var[0])} + {fmt(m)}*{par(ch.var_unbiased)} = "
              f"{fmt(ch.running_var[1])}"]
    L += ["", f"training output ({n}x{c}x{h}x{w}):"]
    for ni in range(n):
        for ci in range(c):
            L += [f"  image {ni}, channel {ci}:", *mlines(r.output[ni, ci], indent=4)]
    L += ["", "Eval mode (model.eval()): the same batch, now with the running statistics instead of the batch's:"]
    for ch in r.channels:
        k = ch.channel
        rm, rv = ch.running_mean[1], ch.running_var[1]
        L += [f"  channel {k}: sqrt(running_var + eps) = sqrt({fmt(rv)} + {fmt(r.eps)}) = {fmt(ch.eval_std)}; "
              f"y = (x - {par(rm)}) / {fmt(ch.eval_std)} * {par(ch.gamma)} + {par(ch.beta)}"]
        for idx in range(_how_many(cnt, max_steps)):
            ni, rest = divmod(idx, h * w)
            i, j = divmod(rest, w)
            xv, xh, yv = r.input[ni, k, i, j], r.eval_normalized[ni, k, i, j], r.eval_output[ni, k, i, j]
            L.append(f"    image {ni} [{i}, {j}]: ({fmt(xv)} - {par(rm)}) / {fmt(ch.eval_std)} = {fmt(xh)};  "
                     f"{par(xh)}*{par(ch.gamma)} + {par(ch.beta)} = {fmt(yv)}")
    L += ["", f"eval output ({n}x{c}x{h}x{w}):"]
    for ni in range(n):
        for ci in range(c):
            L += [f"  image {ni}, channel {ci}:", *mlines(r.eval_output[ni, ci], indent=4)]
    L += ["", "checked: the engine (scratchcnn.nn.BatchNorm2d, float64, train() then eval()) and the formulas above "
              "agree (outputs and running statistics)."]
    for note in r.notes:
        L += [""] + wrap("note: ", note)
    return "\n".join(L)
