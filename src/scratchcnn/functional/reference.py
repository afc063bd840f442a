"""Textbook loop implementations of convolution and pooling: for teaching, for step-by-step explanations, and
as a second test oracle for the fast paths in ``conv.py`` / ``pool.py``.

Everything here is plain NumPy in and out, written as the formulas read, with explicit Python loops (slow on
purpose; use small inputs). Arrays are either a single plane (2-D ``(H, W)``, or 1-D ``(L,)``) or a batch in
PyTorch layout: input ``(N, C_in, H, W)`` with weight ``(C_out, C_in, kH, kW)`` (1-D: ``(N, C_in, L)`` with
``(C_out, C_in, K)``); a batched result sums the single-plane results over input channels.

The formulas (``d`` = dilation, ``s`` = stride, ``I`` the zero-padded input, ``K`` the kernel):

* cross-correlation (what deep learning calls "convolution", ``mode="correlation"``)::

      S(i, j) = sum_m sum_n I(i*s + m*d, j*s + n*d) K(m, n)

* true convolution (``mode="convolution"``), ``(f*g)[n] = sum_m f[n - m] g[m]``: with ``a = i*s + (kH-1)*d``
  and ``b = j*s + (kW-1)*d`` the position of the window's last element::

      S(i, j) = sum_m sum_n I(a - m*d, b - n*d) K(m, n)

  i.e. the kernel is flipped. With ``padding = k - 1`` (1-D) the result is the full convolution
  ``(f*g)[n]`` for ``n = 0 .. len(f) + len(g) - 2`` (what ``np.convolve(f, g)`` returns).
* output size along an axis: :func:`output_size`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

Pair = int | Sequence[int]


def output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Number of windows along one axis: ``floor((n + 2p - d(k-1) - 1) / s) + 1``.

    Example: a 5-wide input, 3-wide kernel, stride 1, no padding -> ``(5 + 0 - 2 - 1) // 1 + 1 = 3``.
    """
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _pair(v: Pair, n: int = 2) -> tuple[int, ...]:
    return (int(v),) * n if np.isscalar(v) else tuple(int(a) for a in v)  # type: ignore[union-attr]


def _same_padding(kernel: Sequence[int], dilation: Sequence[int]) -> list[tuple[int, int]]:
    """PyTorch's 'same': total = d*(k-1), left = total // 2, right = the rest (so even kernels pad more right)."""
    return [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)]


def _pads(padding, kernel, dilation, stride) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * len(kernel)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError("reference: padding='same' needs stride 1")
            return _same_padding(kernel, dilation)
        raise ValueError(f"reference: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    return [(p, p) for p in _pair(padding, len(kernel))]


def _pad(x: np.ndarray, pads: Sequence[tuple[int, int]], value: float = 0.0) -> np.ndarray:
    """Pad the last ``len(pads)`` axes of ``x`` with ``value``."""
    width = [(0, 0)] * (x.ndim - len(pads)) + list(pads)
    return np.pad(x.astype(np.float64), width, constant_values=value)


def conv2d_single(image: np.ndarray, kernel: np.ndarray, stride: Pair = 1, padding: Pair | str = 0,
                  dilation: Pair = 1, mode: str = "correlation") -> np.ndarray:
    """One plane (H, W) with one kernel (kH, kW) -> (H_out, W_out), by the formulas in the module docstring."""
    if mode not in ("correlation", "convolution"):
        raise ValueError(f"reference: mode must be 'correlation' or 'convolution', got {mode!r}")
    kh, kw = kernel.shape
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    pads = _pads(padding, (kh, kw), (dh, dw), (sh, sw))
    img = _pad(image, pads)
    ho = (img.shape[0] - dh * (kh - 1) - 1) // sh + 1
    wo = (img.shape[1] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((ho, wo))
    for i in range(ho):
        for j in range(wo):
            total = 0.0
            for m in range(kh):
                for n in range(kw):
                    if mode == "correlation":
                        total += img[i * sh + m * dh, j * sw + n * dw] * kernel[m, n]
                    else:
                        a, b = i * sh + (kh - 1) * dh, j * sw + (kw - 1) * dw
                        total += img[a - m * dh, b - n * dw] * kernel[m, n]
            out[i, j] = total
    return out


def conv2d_reference(x: np.ndarray, w: np.ndarray, stride: Pair = 1, padding: Pair | str = 0,
                     dilation: Pair = 1, mode: str = "correlation") -> np.ndarray:
    """2-D convolution by explicit loops (float64).

    ``x`` (H, W) with ``w`` (kH, kW) -> (H_out, W_out); or ``x`` (N, C_in, H, W) with ``w`` (C_out, C_in, kH, kW)
    -> (N, C_out, H_out, W_out), ``out[n, o] = sum_c conv(x[n, c], w[o, c])``. ``padding`` is an int, a pair,
    ``"valid"`` or ``"same"`` (PyTorch's rule: for an even kernel the extra zero goes right/bottom).
    """
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim == 2 and w.ndim == 2:
        return conv2d_single(x, w, stride, padding, dilation, mode)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d_reference: expected x (H, W) and w (kH, kW), or x (N, C, H, W) and "
                         f"w (C_out, C, kH, kW); got {x.shape} and {w.shape}")
    planes = [[sum(conv2d_single(x[n, c], w[o, c], stride, padding, dilation, mode) for c in range(x.shape[1]))
               for o in range(w.shape[0])] for n in range(x.shape[0])]
    return np.array(planes)


def conv1d_reference(x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int | str = 0, dilation: int = 1,
                     mode: str = "correlation") -> np.ndarray:
    """1-D convolution by explicit loops (float64); ``mode="convolution"`` is ``(f*g)[n] = sum_m f[n-m] g[m]``.

    ``x`` (L,) with ``w`` (K,) -> (L_out,); or ``x`` (N, C_in, L) with ``w`` (C_out, C_in, K) -> (N, C_out, L_out).
    With ``mode="convolution"`` and ``padding=K-1`` it equals ``np.convolve(x, w)`` (the full convolution).
    """
    x, w = np.asarray(x), np.asarray(w)
    if mode not in ("correlation", "convolution"):
        raise ValueError(f"reference: mode must be 'correlation' or 'convolution', got {mode!r}")
    if x.ndim == 3 and w.ndim == 3 and x.shape[1] == w.shape[1]:
        return np.array([[sum(conv1d_reference(x[n, c], w[o, c], stride, padding, dilation, mode)
                              for c in range(x.shape[1])) for o in range(w.shape[0])] for n in range(x.shape[0])])
    if x.ndim != 1 or w.ndim != 1:
        raise ValueError(f"conv1d_reference: expected x (L,) and w (K,), or x (N, C, L) and w (C_out, C, K); "
                         f"got {x.shape} and {w.shape}")
    k = len(w)
    f = _pad(x, _pads(padding, (k,), (dilation,), (stride,)))
    out = np.zeros((len(f) - dilation * (k - 1) - 1) // stride + 1)
    for i in range(len(out)):
        if mode == "correlation":
            out[i] = sum(f[i * stride + m * dilation] * w[m] for m in range(k))
        else:
            n = i * stride + (k - 1) * dilation          # position of the window's last element
            out[i] = sum(f[n - m * dilation] * w[m] for m in range(k))
    return out


def _pool_planes(x: np.ndarray, fn) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 2:
        return fn(x)
    if x.ndim == 4:
        return np.array([[fn(x[n, c]) for c in range(x.shape[1])] for n in range(x.shape[0])])
    raise ValueError(f"pool reference: expected a plane (H, W) or a batch (N, C, H, W), got shape {x.shape}")


def max_pool2d_reference(x: np.ndarray, kernel_size: Pair, stride: Pair | None = None,
                         padding: Pair = 0) -> np.ndarray:
    """Max pooling by loops: ``out(i, j) = max over the window at (i*s, j*s)``; padding counts as -inf.

    ``x`` (H, W) or (N, C, H, W); ``stride`` defaults to ``kernel_size``.
    """
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride if stride is not None else kernel_size)
    ph, pw = _pair(padding)

    def plane(a: np.ndarray) -> np.ndarray:
        img = _pad(a, [(ph, ph), (pw, pw)], value=-np.inf)
        ho, wo = output_size(a.shape[0], kh, sh, ph), output_size(a.shape[1], kw, sw, pw)
        out = np.empty((ho, wo))
        for i in range(ho):
            for j in range(wo):
                best = -np.inf
                for m in range(kh):
                    for n in range(kw):
                        best = max(best, img[i * sh + m, j * sw + n])
                out[i, j] = best
        return out

    return _pool_planes(x, plane)


def avg_pool2d_reference(x: np.ndarray, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0,
                         count_include_pad: bool = True) -> np.ndarray:
    """Average pooling by loops: window sum divided by kH*kW (or, with ``count_include_pad=False``, by the
    number of real, non-padding elements in the window). Zero padding; ``x`` (H, W) or (N, C, H, W)."""
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride if stride is not None else kernel_size)
    ph, pw = _pair(padding)

    def plane(a: np.ndarray) -> np.ndarray:
        h, w = a.shape
        ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
        out = np.empty((ho, wo))
        for i in range(ho):
            for j in range(wo):
                total, count = 0.0, 0
                for m in range(kh):
                    for n in range(kw):
                        r, c = i * sh + m - ph, j * sw + n - pw
                        if 0 <= r < h and 0 <= c < w:
                            total += a[r, c]
                            count += 1
                out[i, j] = total / (kh * kw if count_include_pad else count)
        return out

    return _pool_planes(x, plane)


__all__ = ["output_size", "conv2d_single", "conv2d_reference", "conv1d_reference", "max_pool2d_reference",
           "avg_pool2d_reference"]
