"""Weight initialisation (PyTorch's ``torch.nn.init``): in place, no gradient, one ``generator`` each.

Every function fills ``tensor.data`` in place (a Tensor/Parameter or a bare ndarray) and returns ``tensor``; a
Tensor's ``_version`` moves as torch's does (a backward through a graph that saved the old values then raises).
Random draws come from ``generator`` or, when None, ``scratchcnn.random.default_generator()``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor


def _arr(tensor: Any) -> np.ndarray:
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"init: expected a Tensor or ndarray, got {type(tensor).__name__}")
    return arr


def _bump(tensor: Any, n: int = 1) -> None:
    """Count an in-place write of ``tensor``'s data (nothing for a bare ndarray)."""
    if isinstance(tensor, Tensor):
        tensor._version += n


def _gen(generator: np.random.Generator | None) -> np.random.Generator:
    return generator if generator is not None else _random.default_generator()


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain for a nonlinearity: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + slope**2)) (leaky_relu, slope ``param``, default 0.01), 3/4 (selu)."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in*prod(kernel), out*prod(kernel)."""
    arr = _arr(tensor)
    if arr.ndim < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions "
                         f"(got shape {arr.shape})")
    receptive = int(np.prod(arr.shape[2:])) if arr.ndim > 2 else 1
    return arr.shape[1] * receptive, arr.shape[0] * receptive


def _calculate_correct_fan(tensor: Any, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, please use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Fill with U(a, b)."""
    arr = _arr(tensor)
    arr[...] = _gen(generator).uniform(a, b, size=arr.shape)
    _bump(tensor)
    return tensor


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Fill with N(mean, std**2)."""
    arr = _arr(tensor)
    arr[...] = _gen(generator).normal(mean, std, size=arr.shape)
    _bump(tensor)
    return tensor


def _trunc_normal_tail(out: np.ndarray, idx: np.ndarray, mean: float, std: float, a: float, b: float,
                       gen: np.random.Generator) -> None:
    """Fill ``out[idx]`` from N(mean, std**2) truncated to [a, b] by rejection from U(a, b) (PyTorch's method for
    a window of small probability): accept x with probability pdf(x) / pdf(mode), mode the window's peak."""
    if not std > 0:                     # a point mass outside [a, b]: nothing to sample, clamp as before
        out[idx] = np.clip(out[idx], a, b)
        return
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    while idx.size:
        x = gen.uniform(a, b, size=idx.size)
        keep = np.log(gen.uniform(size=idx.size)) <= -0.5 * ((x - mean) / std) ** 2 - log_peak
        out[idx[keep]] = x[keep]
        idx = idx[~keep]


def trunc_normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: np.random.Generator | None = None) -> Any:
    """Fill with N(mean, std**2) truncated to [a, b] (absolute bounds, like PyTorch), by resampling."""
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    arr = _arr(tensor)
    gen = _gen(generator)
    out = gen.normal(mean, std, size=arr.size)
    bad = np.flatnonzero((out < a) | (out > b))
    resampled = bad.size > 0
    for _ in range(1000):
        if bad.size == 0:
            break
        out[bad] = gen.normal(mean, std, size=bad.size)
        bad = bad[(out[bad] < a) | (out[bad] > b)]
    else:  # the window is far in a tail: finish the stragglers exactly (clamping would pile mass on a or b)
        _trunc_normal_tail(out, bad, mean, std, a, b, gen)
    arr[...] = out.reshape(arr.shape)
    _bump(tensor, 2 if resampled else 1)    # torch: normal_, then copy_ when it had to resample
    return tensor


def constant_(tensor: Any, val: float) -> Any:
    """Fill with ``val``."""
    _arr(tensor).fill(val)
    _bump(tensor)
    return tensor


def zeros_(tensor: Any) -> Any:
    return constant_(tensor, 0.0)


def ones_(tensor: Any) -> Any:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Glorot uniform: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Glorot normal: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Any:
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    PyTorch's default layer init is ``kaiming_uniform_(w, a=sqrt(5))``, i.e. bound = 1 / sqrt(fan_in).
    """
    arr = _arr(tensor)
    if 0 in arr.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Any:
    """He normal: N(0, std**2), std = gain / sqrt(fan)."""
    arr = _arr(tensor)
    if 0 in arr.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def eye_(tensor: Any) -> Any:
    """The identity matrix in a 2-D ``tensor`` (ones on the main diagonal of a non-square one too)."""
    arr = _arr(tensor)
    if arr.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got {arr.ndim}-D")
    arr[...] = np.eye(*arr.shape, dtype=arr.dtype)
    _bump(tensor)
    return tensor


def dirac_(tensor: Any, groups: int = 1) -> Any:
    """The Dirac delta in a 3-, 4- or 5-D conv weight (out, in, *k): each of the first min(out/groups, in) output
    channels of every group passes its input channel through unchanged (kernel centre 1, the rest 0)."""
    arr = _arr(tensor)
    if arr.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3-, 4- and 5-D tensors are supported, got {arr.ndim}-D")
    if groups < 1 or arr.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({arr.shape[0]}) must be divisible by groups ({groups})")
    per = arr.shape[0] // groups
    n = min(per, arr.shape[1])
    arr[...] = 0
    centre = tuple(k // 2 for k in arr.shape[2:])
    d = np.arange(n)
    for g in range(groups):
        arr[(g * per + d, d) + centre] = 1
    _bump(tensor)
    return tensor


def orthogonal_(tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """A (semi-)orthogonal matrix (Saxe et al. 2013) times ``gain``, for a tensor of >= 2 dims seen as
    (size(0), rest): the Q of a QR decomposition of a standard normal matrix, signs fixed by R's diagonal (as
    PyTorch does); rows orthonormal when there are fewer rows than columns, else columns."""
    arr = _arr(tensor)
    if arr.ndim < 2:
        raise ValueError("orthogonal_: only tensors with 2 or more dimensions are supported")
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = _gen(generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    arr[...] = (gain * q).reshape(arr.shape)
    _bump(tensor)
    return tensor


__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "eye_", "dirac_",
           "orthogonal_"]
