"""More textbook loop implementations (the companion of ``reference.py``): transposed convolution, resampling,
the normalisations, and the losses whose piecewise or reduction rules are worth reading as loops. Teaching code
and a second test oracle for the fast ops in ``conv_transpose.py``, ``resample.py``, ``norm.py``,
``norm_more.py``, ``lrn.py``, ``loss.py`` and ``loss_regression.py``.

Plain NumPy in and out (float64), forward only, explicit Python loops over output positions, slow on purpose:
use small inputs. Layout as PyTorch: (N, C, L) or (N, C, H, W); the norms take (N, C, *any spatial).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .reference import Pair, _pair

# ---- transposed convolution ------------------------------------------------------------------------------------


def conv_transpose_output_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1, op: int = 0) -> int:
    """Output length along one axis: ``(n - 1) s - 2p + d (k - 1) + op + 1``.

    Example: 3 inputs, kernel 3, stride 2 -> ``2 * 2 - 0 + 2 + 0 + 1 = 7`` (the inverse of conv's size rule).
    """
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def conv_transpose2d_reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, stride: Pair = 1,
                               padding: Pair = 0, output_padding: Pair = 0, groups: int = 1,
                               dilation: Pair = 1) -> np.ndarray:
    """Transposed 2-D convolution in the scatter form: every input value, times the kernel, added into the output.

    ``x`` (N, C_in, H, W), ``w`` (C_in, C_out/groups, kH, kW), ``bias`` (C_out,) or None -> (N, C_out, H_o, W_o)
    with :func:`conv_transpose_output_size` per axis. For input channel ``c`` in group ``g`` (channels
    ``g*C_in/G ..``) and each output channel ``o`` of that group (``g*C_out/G + oc``)::

        Y[n, o, i*s - p + m*d, j*s - p + q*d] += X[n, c, i, j] * W[c, oc, m, q]

    Targets outside ``0 .. H_o-1`` (the ``padding`` border) are dropped; output_padding rows that no input
    reaches stay 0 (+ bias). It is the adjoint (input gradient) of the convolution with the same parameters.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    n_batch, c_in, h, wd = x.shape
    cout_g, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    ho = conv_transpose_output_size(h, kh, sh, ph, dh, oph)
    wo = conv_transpose_output_size(wd, kw, sw, pw, dw, opw)
    cin_g = c_in // groups
    y = np.zeros((n_batch, cout_g * groups, ho, wo))
    for n in range(n_batch):
        for c in range(c_in):
            g = c // cin_g
            for oc in range(cout_g):
                o = g * cout_g + oc
                for i in range(h):
                    for j in range(wd):
                        for m in range(kh):
                            for q in range(kw):
                                r, t = i * sh - ph + m * dh, j * sw - pw + q * dw
                                if 0 <= r < ho and 0 <= t < wo:
                                    y[n, o, r, t] += x[n, c, i, j] * w[c, oc, m, q]
    if bias is not None:
        for o in range(y.shape[1]):
            y[:, o] += bias[o]
    return y


def conv_transpose1d_reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, stride: int = 1,
                               padding: int = 0, output_padding: int = 0, groups: int = 1,
                               dilation: int = 1) -> np.ndarray:
    """Transposed 1-D convolution, scatter form: ``Y[n, o, i*s - p + m*d] += X[n, c, i] * W[c, oc, m]``.

    ``x`` (N, C_in, L), ``w`` (C_in, C_out/groups, K) -> (N, C_out, L_o); grouping as in the 2-D version.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    n_batch, c_in, length = x.shape
    cout_g, k = w.shape[1], w.shape[2]
    lo = conv_transpose_output_size(length, k, stride, padding, dilation, output_padding)
    cin_g = c_in // groups
    y = np.zeros((n_batch, cout_g * groups, lo))
    for n in range(n_batch):
        for c in range(c_in):
            for oc in range(cout_g):
                o = (c // cin_g) * cout_g + oc
                for i in range(length):
                    for m in range(k):
                        t = i * stride - padding + m * dilation
                        if 0 <= t < lo:
                            y[n, o, t] += x[n, c, i] * w[c, oc, m]
    if bias is not None:
        for o in range(y.shape[1]):
            y[:, o] += bias[o]
    return y


# ---- resampling ------------------------------------------------------------------------------------------------


def _source(o: int, n_in: int, n_out: int, factor: float | None, mode: str, align_corners: bool):
    """Where output position ``o`` reads from: nearest -> one index; linear -> ``(i0, i1, lam)`` with
    ``value = (1 - lam) * x[i0] + lam * x[i1]``."""
    if mode == "nearest":
        scale = 1.0 / factor if factor else n_in / n_out
        return min(math.floor(o * scale), n_in - 1)                  # src = floor(o * scale)
    if align_corners:                                                # the corner pixels' centres line up
        r = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:                                                            # the pixel areas line up (half-pixel)
        scale = 1.0 / factor if factor else n_in / n_out
        r = max((o + 0.5) * scale - 0.5, 0.0)
    i0 = min(math.floor(r), n_in - 1)
    i1 = min(i0 + 1, n_in - 1)
    return i0, i1, r - i0


def interpolate_reference(x: np.ndarray, size: int | Sequence[int] | None = None,
                          scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                          align_corners: bool | None = None) -> np.ndarray:
    """Resize (N, C, L) or (N, C, H, W) by the coordinate formulas, one output position at a time.

    Output size ``size``, or ``floor(in * scale_factor)``. ``scale`` = ``1 / scale_factor`` if given, else
    ``in / out``. For output index ``o`` along an axis:

    * nearest: ``src = min(floor(o * scale), in - 1)``; ``y[o] = x[src]``.
    * linear, ``align_corners=False``: ``r = max((o + 0.5) * scale - 0.5, 0)``;
      ``align_corners=True``: ``r = o * (in - 1) / (out - 1)`` (0 if out == 1).
      ``i0 = floor(r)``, ``i1 = min(i0 + 1, in - 1)``, ``lam = r - i0``: ``y[o] = (1 - lam) x[i0] + lam x[i1]``.
    * bilinear: the two axes' weights multiplied, four neighbours:
      ``y = (1-a)(1-b) x[h0,w0] + (1-a) b x[h0,w1] + a (1-b) x[h1,w0] + a b x[h1,w1]``.

    The fast op reproduces PyTorch's rounding shortcuts that a textbook skips: an axis that keeps its size is
    copied whatever the scale factor (linear, and 2-D nearest, which also maps ``o -> o // 2`` when out == 2 in),
    and nearest rounds ``o * scale`` through float32 (this differs only for sizes above ~20).
    """
    x = np.asarray(x, dtype=np.float64)
    nd = x.ndim - 2
    sizes_in = x.shape[2:]
    if size is not None:
        out = [int(size)] * nd if np.isscalar(size) else [int(s) for s in size]  # type: ignore[union-attr]
        factors: list[float | None] = [None] * nd
    else:
        factors = [float(scale_factor)] * nd if np.isscalar(scale_factor) else \
            [float(f) for f in scale_factor]                                       # type: ignore[union-attr]
        out = [int(s * f) for s, f in zip(sizes_in, factors)]
    lin = mode in ("linear", "bilinear")
    rule = "linear" if lin else "nearest"
    ac = bool(align_corners)
    y = np.zeros(x.shape[:2] + tuple(out))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            if nd == 1:
                for o in range(out[0]):
                    s = _source(o, sizes_in[0], out[0], factors[0], rule, ac)
                    y[n, c, o] = (1 - s[2]) * x[n, c, s[0]] + s[2] * x[n, c, s[1]] if lin else x[n, c, s]
                continue
            for i in range(out[0]):
                for j in range(out[1]):
                    sh = _source(i, sizes_in[0], out[0], factors[0], rule, ac)
                    sw = _source(j, sizes_in[1], out[1], factors[1], rule, ac)
                    if not lin:
                        y[n, c, i, j] = x[n, c, sh, sw]
                        continue
                    (h0, h1, a), (w0, w1, b) = sh, sw
                    y[n, c, i, j] = ((1 - a) * (1 - b) * x[n, c, h0, w0] + (1 - a) * b * x[n, c, h0, w1]
                                     + a * (1 - b) * x[n, c, h1, w0] + a * b * x[n, c, h1, w1])
    return y


# ---- normalisation ---------------------------------------------------------------------------------------------


def _mean_var(values: list[float]) -> tuple[float, float]:
    """Mean and biased variance (divide by the count) of a list, by the definitions."""
    mean = sum(values) / len(values)
    return mean, sum((v - mean) ** 2 for v in values) / len(values)


def batch_norm_reference(x: np.ndarray, running_mean: np.ndarray | None = None,
                         running_var: np.ndarray | None = None, weight: np.ndarray | None = None,
                         bias: np.ndarray | None = None, training: bool = False, momentum: float | None = 0.1,
                         eps: float = 1e-5, num_batches_tracked: int | None = None):
    """Batch normalisation of (N, C, *): returns ``(y, new_running_mean, new_running_var)`` (inputs untouched).

    Training (or no running statistics): per channel ``c``, over every sample and position,
    ``mu_c = mean(x[:, c])``, ``var_c = mean((x[:, c] - mu_c)^2)`` (biased), and
    ``y = (x - mu_c) / sqrt(var_c + eps) * weight_c + bias_c``. The running statistics then move by
    ``r = (1 - m) r + m * stat`` with the UNBIASED variance ``var_c * M / (M - 1)`` (M values per channel);
    ``momentum=None`` means ``m = 1 / num_batches_tracked`` (a cumulative average). Evaluation: the same formula
    with ``running_mean`` / ``running_var`` in place of ``mu_c`` / ``var_c``.
    """
    x = np.asarray(x, dtype=np.float64)
    channels = x.shape[1]
    y = np.zeros_like(x)
    new_mean = None if running_mean is None else np.array(running_mean, dtype=np.float64)
    new_var = None if running_var is None else np.array(running_var, dtype=np.float64)
    use_batch = training or running_mean is None
    m = (1.0 / num_batches_tracked if momentum is None else momentum) if use_batch and new_mean is not None else 0
    for c in range(channels):
        values = [x[(n, c) + pos] for n in range(x.shape[0]) for pos in np.ndindex(x.shape[2:])]
        if use_batch:
            mu, var = _mean_var(values)
            if new_mean is not None:
                new_mean[c] = (1 - m) * new_mean[c] + m * mu
                new_var[c] = (1 - m) * new_var[c] + m * var * len(values) / (len(values) - 1)
        else:
            mu, var = float(running_mean[c]), float(running_var[c])
        for n in range(x.shape[0]):
            for pos in np.ndindex(x.shape[2:]):
                v = (x[(n, c) + pos] - mu) / math.sqrt(var + eps)
                y[(n, c) + pos] = v * (1.0 if weight is None else weight[c]) + (0.0 if bias is None else bias[c])
    return y, new_mean, new_var


def layer_norm_reference(x: np.ndarray, normalized_shape: int | Sequence[int], weight: np.ndarray | None = None,
                         bias: np.ndarray | None = None, eps: float = 1e-5) -> np.ndarray:
    """Layer normalisation: every leading index ``r`` (all dims but the trailing ``normalized_shape``) is one
    row; ``y[r, t] = (x[r, t] - mean_r) / sqrt(var_r + eps) * weight[t] + bias[t]`` (biased variance over t)."""
    x = np.asarray(x, dtype=np.float64)
    tail = (int(normalized_shape),) if np.isscalar(normalized_shape) else tuple(normalized_shape)  # type: ignore
    lead = x.shape[:x.ndim - len(tail)]
    y = np.zeros_like(x)
    for r in np.ndindex(lead):
        mu, var = _mean_var([x[r + t] for t in np.ndindex(tail)])
        for t in np.ndindex(tail):
            v = (x[r + t] - mu) / math.sqrt(var + eps)
            y[r + t] = v * (1.0 if weight is None else weight[t]) + (0.0 if bias is None else bias[t])
    return y


def group_norm_reference(x: np.ndarray, num_groups: int, weight: np.ndarray | None = None,
                         bias: np.ndarray | None = None, eps: float = 1e-5) -> np.ndarray:
    """Group normalisation of (N, C, *): channels ``g*C/G .. (g+1)*C/G - 1`` form group ``g``; each (sample,
    group) is normalised over its channels and positions, then ``* weight[c] + bias[c]`` per channel."""
    x = np.asarray(x, dtype=np.float64)
    per = x.shape[1] // num_groups
    y = np.zeros_like(x)
    for n in range(x.shape[0]):
        for g in range(num_groups):
            chans = range(g * per, (g + 1) * per)
            mu, var = _mean_var([x[(n, c) + pos] for c in chans for pos in np.ndindex(x.shape[2:])])
            for c in chans:
                for pos in np.ndindex(x.shape[2:]):
                    v = (x[(n, c) + pos] - mu) / math.sqrt(var + eps)
                    y[(n, c) + pos] = v * (1.0 if weight is None else weight[c]) + (0.0 if bias is None else bias[c])
    return y


def instance_norm_reference(x: np.ndarray, running_mean: np.ndarray | None = None,
                            running_var: np.ndarray | None = None, weight: np.ndarray | None = None,
                            bias: np.ndarray | None = None, momentum: float = 0.1, eps: float = 1e-5):
    """Instance normalisation of (N, C, *) with input statistics: each (sample, channel) plane is normalised by
    its own mean and biased variance, then ``* weight[c] + bias[c]``. Returns ``(y, new_mean, new_var)``: the
    running statistics move by ``r = (1 - m) r + m * stat`` with stat the average over the N samples of the
    plane means (and of the planes' UNBIASED variances, ``var * S / (S - 1)``, S positions per plane)."""
    x = np.asarray(x, dtype=np.float64)
    batch, channels = x.shape[:2]
    y = np.zeros_like(x)
    new_mean = None if running_mean is None else np.array(running_mean, dtype=np.float64)
    new_var = None if running_var is None else np.array(running_var, dtype=np.float64)
    for c in range(channels):
        means, unbiased = [], []
        for n in range(batch):
            values = [x[(n, c) + pos] for pos in np.ndindex(x.shape[2:])]
            mu, var = _mean_var(values)
            means.append(mu)
            unbiased.append(var * len(values) / (len(values) - 1))
            for pos in np.ndindex(x.shape[2:]):
                v = (x[(n, c) + pos] - mu) / math.sqrt(var + eps)
                y[(n, c) + pos] = v * (1.0 if weight is None else weight[c]) + (0.0 if bias is None else bias[c])
        if new_mean is not None:
            new_mean[c] = (1 - momentum) * new_mean[c] + momentum * sum(means) / batch
            new_var[c] = (1 - momentum) * new_var[c] + momentum * sum(unbiased) / batch
    return y, new_mean, new_var


def local_response_norm_reference(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75,
                                  k: float = 1.0) -> np.ndarray:
    """Local response normalisation across channels of (N, C, *):
    ``y_c = x_c / (k + alpha / size * sum_{j = c - size//2}^{c + (size-1)//2} x_j^2)^beta``, the sum over the
    channels that exist (missing neighbours at the edges count as 0, the divisor stays ``size``)."""
    x = np.asarray(x, dtype=np.float64)
    channels = x.shape[1]
    y = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(channels):
            for pos in np.ndindex(x.shape[2:]):
                total = 0.0
                for j in range(c - size // 2, c + (size - 1) // 2 + 1):
                    if 0 <= j < channels:
                        total += x[(n, j) + pos] ** 2
                y[(n, c) + pos] = x[(n, c) + pos] / (k + alpha / size * total) ** beta
    return y


# ---- losses ----------------------------------------------------------------------------------------------------


def _reduce(terms: list[float], reduction: str, denom: float | None = None, shape=None):
    if reduction == "none":
        return np.array(terms).reshape(shape)
    total = sum(terms)
    return total if reduction == "sum" else total / (len(terms) if denom is None else denom)


def huber_loss_reference(input: np.ndarray, target: np.ndarray, reduction: str = "mean", delta: float = 1.0,
                         weight: np.ndarray | None = None):
    """Huber, piece by piece: with ``d = input - target``, ``0.5 d^2`` where ``|d| <= delta`` (the quadratic
    bowl), else ``delta (|d| - delta / 2)`` (a line that meets it with the same value and slope at ``|d| = delta``).
    ``weight`` multiplies each term; "mean" divides by the element count (not by sum(weight), as PyTorch)."""
    input, target = np.asarray(input, dtype=np.float64), np.asarray(target, dtype=np.float64)
    terms = []
    for idx in np.ndindex(input.shape):
        d = input[idx] - target[idx]
        term = 0.5 * d * d if abs(d) <= delta else delta * (abs(d) - delta / 2)
        terms.append(term * (1.0 if weight is None else weight[idx]))
    return _reduce(terms, reduction, shape=input.shape)


def smooth_l1_loss_reference(input: np.ndarray, target: np.ndarray, reduction: str = "mean", beta: float = 1.0):
    """Smooth L1, piece by piece: ``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - beta / 2``
    (``= huber(delta=beta) / beta``); ``beta == 0`` is plain ``|d|``."""
    input, target = np.asarray(input, dtype=np.float64), np.asarray(target, dtype=np.float64)
    terms = []
    for idx in np.ndindex(input.shape):
        d = input[idx] - target[idx]
        terms.append(0.5 * d * d / beta if abs(d) < beta else abs(d) - beta / 2)
    return _reduce(terms, reduction, shape=input.shape)


def kl_div_reference(input: np.ndarray, target: np.ndarray, reduction: str = "mean", log_target: bool = False):
    """KL divergence with ``input`` = log q (log-probabilities) and ``target`` = p: per element
    ``p (log p - log q)``, taken as 0 where ``p == 0`` (``0 log 0 = 0``); with ``log_target`` the target is log p
    and the term is ``exp(log p) (log p - log q)``. "batchmean" = the sum over everything / input.shape[0] (the
    KL of each sample's distribution, averaged over the batch); "mean" divides by every element instead."""
    input, target = np.asarray(input, dtype=np.float64), np.asarray(target, dtype=np.float64)
    terms = []
    for idx in np.ndindex(input.shape):
        log_q = input[idx]
        if log_target:
            terms.append(math.exp(target[idx]) * (target[idx] - log_q))
        else:
            p = target[idx]
            terms.append(0.0 if p == 0 else p * (math.log(p) - log_q))
    if reduction == "batchmean":
        return _reduce(terms, "mean", denom=input.shape[0] if input.ndim else 1)
    return _reduce(terms, reduction, shape=input.shape)


__all__ = ["conv_transpose_output_size", "conv_transpose1d_reference", "conv_transpose2d_reference",
           "interpolate_reference", "batch_norm_reference", "layer_norm_reference", "group_norm_reference",
           "instance_norm_reference", "local_response_norm_reference", "huber_loss_reference",
           "smooth_l1_loss_reference", "kl_div_reference"]
