"""Step-by-step explanation of ``BatchNorm2d`` on a tiny batch: one training step, then eval mode.

Same rules as :mod:`scratchcnn.viz.explain`: every number shown comes from the engine in float64
(``scratchcnn.nn.BatchNorm2d``) and is recomputed here with the NumPy formulas for the batch statistics and the
running-statistics update; any disagreement raises ``RuntimeError`` (it would be a bug).

    >>> from scratchcnn.viz import explain_batchnorm
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

from .explain import MAX_CELLS, _agree, _exact, _jsonmat, _jsonnum
from .explain_text import _how_many, fmt
from .explain_text import _par as par, _wrap as wrap, matrix_lines as mlines

__all__ = ["BatchNormChannel", "BatchNormExplanation", "explain_batchnorm", "batchnorm_text", "BATCHNORM_EXAMPLE",
           "load_batch"]

BATCHNORM_EXAMPLE: dict[str, Any] = {
    # 2 images x 2 channels x 2x2; channel 0 holds 1..8 (mean 4.5, variance 5.25, unbiased 6),
    # channel 1 mean 5, variance 7, unbiased 8
    "input": [[[[1, 2], [3, 4]], [[9, 1], [7, 3]]],
              [[[5, 6], [7, 8]], [[7, 3], [7, 3]]]],
    "gamma": [2, 0.5], "beta": [1, 0],
    "title": "2 images x 2 channels x 2x2 pixels, gamma (2, 0.5), beta (1, 0), a fresh layer's running statistics",
}


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

    @property
    def total(self) -> float:
        """The sum of the values, exact on the numbers as shown (0.1 + 0.2 + (-0.3) is 0)."""
        return _exact(float(self.values.sum()), [(v, 1.0) for v in self.values.tolist()])

    def to_dict(self) -> dict:
        n = len(self.values)
        return {"channel": self.channel, "values": [_jsonnum(v) for v in self.values], "count": n,
                "sum": _jsonnum(self.total), "mean": _jsonnum(self.mean),
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
        mean = _exact(vals.sum() / count, [(v, 1.0) for v in vals.tolist()], count)
        dev = np.array([_exact(v - mean, [(v, 1.0), (mean, -1.0)]) for v in vals.tolist()])
        sq = dev ** 2
        ss = float(sq.sum())
        var, var_u = ss / count, ss / (count - 1)
        std, estd = float(np.sqrt(var + eps)), float(np.sqrt(rv1[ci] + eps))
        xhat[:, ci] = (x[:, ci] - mean) / std
        xhat_eval[:, ci] = (x[:, ci] - rm1[ci]) / estd
        chans.append(BatchNormChannel(ci, vals, float(mean), dev, sq, ss, var, var_u, std,
                                      (float(rm0[ci]), _exact(rm1[ci], [(1 - momentum, rm0[ci]), (momentum, mean)])),
                                      (float(rv0[ci]), _exact(rv1[ci], [(1 - momentum, rv0[ci]), (momentum, var_u)])),
                                      estd,
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
                     "|gamma|*sqrt(var/(var + eps)), i.e. almost |gamma| (0 for a channel whose values are all "
                     "equal): the layer chooses the scale and shift, not the batch. Eval mode differs from training "
                     "mode until the running statistics have caught up with the data (one step moves them only "
                     "the fraction momentum of the way from their old values to this batch's).")
    if momentum == 0:
        res.notes.append("momentum 0 leaves the running statistics unchanged: eval mode then ignores this batch.")
    return res


# =============================================================================================== text
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
        L += wrap("  mean = ", f"({' + '.join(par(v) for v in vals)}) / {cnt} = {fmt(ch.total)} / {cnt} "
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
