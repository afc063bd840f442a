"""Pictures of a model: learned kernels, feature maps, a classic filter on an image, Grad-CAM and saliency.

Every ``plot_*`` function takes a checkpoint folder (or a model object), writes one PNG to ``out`` and returns a
:class:`~scratchcnn.viz.figure.Picture` (path, size in pixels, and what it found, e.g. the predicted class).
matplotlib is imported only here, lazily, and only through the Agg canvas (no pyplot, no window).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .figure import Picture, new_figure, save_figure
from .modelio import class_names, conv_layers, find_layer, model_input, parse_class, resolve_model

__all__ = ["plot_kernels", "plot_feature_maps", "plot_filter", "plot_gradcam", "plot_saliency", "apply_filter"]

PathLike = str | os.PathLike


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _show_input(ax, display: np.ndarray, title: str) -> None:
    if display.ndim == 2:
        ax.imshow(display, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(display, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    _off(ax)


def _gray(display: np.ndarray) -> np.ndarray:
    return display if display.ndim == 2 else display.mean(axis=-1)


# ----------------------------------------------------------------------------------------------- kernels
def _kernels_figure(model: Any, meta: dict, label: str, layer: str | None = None):
    convs = conv_layers(model, f"model {label}")
    name, conv = convs[0] if layer is None else find_layer(model, layer, f"model {label}")
    if not hasattr(conv, "weight") or conv.weight is None or conv.weight.data.ndim != 4:
        raise ValueError(f"layer {name} is not a Conv2d; pick one of {', '.join(n for n, _ in convs)}")
    w = np.asarray(conv.weight.data, dtype=np.float64)          # (C_out, C_in, kH, kW)
    cout, cin, kh, kw = w.shape
    rgb = cin == 3
    shown = w if rgb else (w[:, 0] if cin == 1 else w.mean(axis=1))
    ncols = min(8, cout)
    nrows = math.ceil(cout / ncols)
    width, height = 1.2 * ncols + 1.4, 1.2 * nrows + 0.7
    fig = new_figure(width, height, constrained=False)     # laid out by hand: a grid of cells of 1.2 in
    right = (0.1 + 1.2 * ncols) / width
    fig.subplots_adjust(left=0.1 / width, right=right, bottom=0.1 / height, top=1 - 0.6 / height,
                        wspace=0.12, hspace=0.3)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    vmax = float(np.abs(shown).max()) or 1.0
    annotate = kh * kw <= 16 and cout <= 16 and not rgb
    im = None
    for idx in range(nrows * ncols):
        ax = axes[idx // ncols][idx % ncols]
        _off(ax)
        if idx >= cout:
            ax.axis("off")
            continue
        if rgb:
            k = np.moveaxis(shown[idx], 0, -1)
            lo, hi = k.min(), k.max()
            ax.imshow((k - lo) / (hi - lo) if hi > lo else np.zeros_like(k), interpolation="nearest")
        else:
            im = ax.imshow(shown[idx], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            if annotate:
                for (r, c), v in np.ndenumerate(shown[idx]):
                    ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=5.5,
                            color="white" if abs(v) > 0.6 * vmax else "black")
        ax.set_title(f"#{idx}", fontsize=8)
    how = "" if cin == 1 else (" (RGB, each rescaled)" if rgb else f" (mean over {cin} input channels)")
    fig.suptitle(f"{label}: layer {name}, {cout} kernels of {kh}x{kw}{how}", fontsize=10, y=1 - 0.15 / height)
    if im is not None:
        cax = fig.add_axes((right + 0.2 / width, 0.15 / height + 0.1, 0.15 / width, 0.8 - 0.75 / height))
        fig.colorbar(im, cax=cax, label="weight")
    return fig, {"layer": name, "kernels": cout, "kernel_size": [kh, kw], "in_channels": cin}


def plot_kernels(checkpoint: Any, out: PathLike = "kernels.png", layer: str | None = None) -> Picture:
    """The first conv layer's kernels (or ``layer``'s) as a grid, weights coloured blue (<0) to red (>0).

    Size: 8 kernels per row, ``(120*cols + 140) x (120*rows + 70)`` pixels."""
    model, meta, label = resolve_model(checkpoint)
    fig, info = _kernels_figure(model, meta, label, layer)
    return save_figure(fig, out, **info)


# ----------------------------------------------------------------------------------------------- feature maps
def _feature_maps_figure(model: Any, meta: dict, label: str, image: Any, max_maps: int = 16):
    from .attribution import feature_maps
    if max_maps < 1:
        raise ValueError(f"max_maps must be >= 1, got {max_maps}")
    inp = model_input(image, model, meta, f"model {label}")
    maps = feature_maps(model, inp.x, f"model {label}")
    ncols = 8
    blocks = [math.ceil(min(len(m), max_maps) / ncols) for _, m in maps]
    heights = [2.0] + [1.15 * b + 0.45 for b in blocks]
    fig = new_figure(1.15 * ncols + 0.3, sum(heights))
    subs = fig.subfigures(len(heights), 1, height_ratios=heights)
    ax = subs[0].subplots(1, 1)
    _show_input(ax, inp.display, f"input: {Path(inp.source).name if inp.source != 'array' else 'array'}")
    subs[0].suptitle(f"{label}: feature maps (each map scaled to its own range; dark = low, yellow = high)",
                     fontsize=10)
    info_layers = []
    for sub, (name, m), rows in zip(subs[1:], maps, blocks):
        n = min(len(m), max_maps)
        axes = sub.subplots(rows, ncols, squeeze=False)
        for idx in range(rows * ncols):
            a = axes[idx // ncols][idx % ncols]
            _off(a)
            if idx >= n:
                a.axis("off")
                continue
            a.imshow(m[idx], cmap="viridis", interpolation="nearest")
            a.set_title(f"#{idx}", fontsize=7)
        more = f", first {n} of {len(m)} shown" if n < len(m) else ""
        sub.suptitle(f"{name}: {len(m)} maps of {m.shape[1]}x{m.shape[2]}{more}", fontsize=9)
        info_layers.append({"layer": name, "channels": int(len(m)), "size": [int(m.shape[1]), int(m.shape[2])],
                            "shown": n, "mean": float(m.mean()), "std": float(m.std())})
    return fig, {"layers": info_layers}


def plot_feature_maps(checkpoint: Any, image: Any, out: PathLike = "feature_maps.png", max_maps: int = 16) -> Picture:
    """For each conv layer, the activations (after the ReLU that follows it, if any) for one input image.

    ``image``: a picture file (converted like ``scratchcnn predict``) or an array of the model's input size."""
    model, meta, label = resolve_model(checkpoint)
    fig, info = _feature_maps_figure(model, meta, label, image, max_maps)
    return save_figure(fig, out, **info)


# ----------------------------------------------------------------------------------------------- classic filter
def apply_filter(image: np.ndarray, kernel: np.ndarray, mode: str = "correlation") -> np.ndarray:
    """``image`` (H, W) filtered by ``kernel`` (kH, kW) with the engine's conv2d, zero 'same' padding, float64."""
    from .. import functional as F
    from ..tensor import Tensor
    img = np.asarray(image, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    return F.conv2d(Tensor(img[None, None]), Tensor(k[None, None]), padding="same", mode=mode).data[0, 0]


def _load_picture(image: Any, max_side: int) -> tuple[np.ndarray, str, str]:
    from .inputs import load_gray_image
    if isinstance(image, np.ndarray):
        a = np.asarray(image, dtype=np.float64)
        if a.ndim == 3:
            a = a.mean(axis=-1)
        if a.ndim != 2:
            raise ValueError(f"image array must be (H, W) or (H, W, 3), got shape {image.shape}")
        if image.dtype == np.uint8:
            a = a / 255.0
        return a, "array", ""
    a = load_gray_image(image, scale=1.0)
    note = ""
    h, w = a.shape
    if max(h, w) > max_side:
        from PIL import Image
        s = max_side / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        a = np.asarray(Image.fromarray(a.astype(np.float32)).resize((nw, nh), Image.Resampling.LANCZOS),
                       dtype=np.float64)
        a = np.clip(a, 0.0, 1.0)
        note = f" (resized from {w}x{h})"
    return a, Path(image).name, note


def plot_filter(image: Any, kernel: Any = "edge", out: PathLike = "filter.png", mode: str = "correlation",
                max_side: int = 512) -> Picture:
    """The input image (grayscale) beside the kernel and the engine's output (zero 'same' padding): seed 004's
    picture, on a real image. ``kernel``: a name (``edge``, ``sobel-x``, ``gaussian``, ...) or a matrix.

    Kernels whose weights sum to 1 (blurs, sharpen, identity) keep the brightness, so the output is shown on the
    input's 0..1 scale; the others (edge detectors, sum 0) are shown on their own range (1st-99th percentile).
    Size: 1200 x 420 pixels."""
    from .inputs import load_kernel
    from .kernels import KERNELS
    if mode not in ("correlation", "convolution"):
        raise ValueError(f"filter: mode must be 'correlation' or 'convolution', got {mode!r}")
    k = load_kernel(kernel, "kernel")
    kname = kernel.strip().lower() if isinstance(kernel, str) and kernel.strip().lower() in KERNELS else "custom"
    img, src, note = _load_picture(image, max_side)
    if any(kk > n for kk, n in zip(k.shape, img.shape)):
        raise ValueError(f"filter: the {k.shape[0]}x{k.shape[1]} kernel is larger than the {img.shape[0]}x"
                         f"{img.shape[1]} image")
    res = apply_filter(img, k, mode)
    fig = new_figure(12.0, 4.2)
    ax_in, ax_k, ax_out = fig.subplots(1, 3, width_ratios=[1.0, 0.55, 1.0])
    ax_in.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax_in.set_title(f"input {src}{note}, {img.shape[1]}x{img.shape[0]}", fontsize=9)
    _off(ax_in)
    vk = float(np.abs(k).max()) or 1.0
    ax_k.imshow(k, cmap="RdBu_r", vmin=-vk, vmax=vk)
    if k.size <= 49:
        from .explain_text import fmt
        for (r, c), v in np.ndenumerate(k):
            ax_k.text(c, r, fmt(v) if float(v).is_integer() else f"{v:.3g}", ha="center", va="center",
                      fontsize=9 if k.shape[1] <= 3 else 7, color="white" if abs(v) > 0.6 * vk else "black")
    ax_k.set_title(f"kernel: {kname} ({mode})", fontsize=9)
    _off(ax_k)
    keeps_scale = abs(float(k.sum()) - 1.0) < 1e-6
    if keeps_scale:
        im = ax_out.imshow(np.clip(res, 0, 1), cmap="gray", vmin=0, vmax=1)
        how = "clipped to 0..1"
    else:
        lo, hi = np.percentile(res, [1, 99])
        if hi <= lo:
            lo, hi = float(res.min()), float(res.max()) + 1e-12
        im = ax_out.imshow(res, cmap="gray", vmin=lo, vmax=hi)
        how = "scaled 1st-99th percentile"
    fig.colorbar(im, ax=ax_out, fraction=0.046, pad=0.02)
    op = "convolution (kernel flipped)" if mode == "convolution" else "cross-correlation"
    ax_out.set_title(f"output: kernel slid over the input ({op}),\nzero 'same' padding, {how}", fontsize=9)
    _off(ax_out)
    return save_figure(fig, out, kernel=kname, mode=mode, image_size=[int(img.shape[1]), int(img.shape[0])],
                       output_min=float(res.min()), output_max=float(res.max()))


# ----------------------------------------------------------------------------------------------- attribution
def _overlay(ax, display: np.ndarray, heat: np.ndarray, cmap: str, title: str) -> None:
    ax.imshow(_gray(display), cmap="gray", vmin=0, vmax=1)
    ax.imshow(heat, cmap=cmap, alpha=0.5, vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    _off(ax)


def _norm01(a: np.ndarray) -> np.ndarray:
    top = float(a.max())
    return a / top if top > 0 else np.zeros_like(a)


def _attribution_figure(kind: str, model: Any, meta: dict, label: str, image: Any, target: Any,
                        layer: str | None = None):
    from .attribution import grad_cam, saliency
    inp = model_input(image, model, meta, f"model {label}")
    with_names = class_names(meta, int(_num_outputs(model, inp.x, "Grad-CAM" if kind == "gradcam" else kind)))
    t = parse_class(target, with_names)
    if kind == "gradcam":
        r = grad_cam(model, inp.x, t, layer, f"model {label}")
        heat, cmap = _norm01(r.heatmap), "jet"
        what = f"Grad-CAM at layer {r.layer}"
        extra = {"layer": r.layer, "cam_max": float(r.cam.max())}
    else:
        r = saliency(model, inp.x, t)
        heat, cmap = _norm01(r.saliency), "hot"
        what = "saliency |d score / d pixel|"
        extra = {"saliency_max": float(r.saliency.max())}
    p = r.probabilities
    name_t, name_p = with_names[r.target], with_names[r.predicted]
    fig = new_figure(10.0, 3.6)
    axes = fig.subplots(1, 3)
    _show_input(axes[0], inp.display, f"input ({Path(inp.source).name if inp.source != 'array' else 'array'})\n"
                                      f"predicted {name_p} (p={p[r.predicted]:.3f})")
    im = axes[1].imshow(heat, cmap=cmap, vmin=0, vmax=1)
    blank = " (all zero: no positive evidence here)" if float(heat.max()) == 0.0 else ""
    axes[1].set_title(f"{what}\nfor class {name_t} (p={p[r.target]:.3f}){blank}", fontsize=9)
    _off(axes[1])
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.02)
    _overlay(axes[2], inp.display, heat, cmap, "overlay")
    fig.suptitle(label, fontsize=10)
    info = {"class": name_t, "class_index": r.target, "probability": float(p[r.target]),
            "predicted": name_p, "predicted_index": r.predicted, **extra}
    return fig, info


def _num_outputs(model: Any, x: np.ndarray, what: str) -> int:
    """The model's number of outputs on ``x``; NaN or infinite outputs are refused (:func:`check_finite_outputs`)."""
    from .. import no_grad
    from ..tensor import Tensor
    from .modelio import check_finite_outputs, quiet_overflow
    with no_grad(), quiet_overflow():
        p = next(iter(model.parameters()), None)
        out = model(Tensor(x.astype(p.data.dtype if p is not None else np.float32)))
    check_finite_outputs(out, what)
    return int(out.shape[-1])


def plot_gradcam(checkpoint: Any, image: Any, out: PathLike = "gradcam.png", target: Any = None,
                 layer: str | None = None) -> Picture:
    """Grad-CAM heat map over the input for class ``target`` (index or name; default the predicted class) at
    ``layer`` (default the last conv layer): input, heat map, overlay. Size: 1000 x 360 pixels."""
    model, meta, label = resolve_model(checkpoint)
    fig, info = _attribution_figure("gradcam", model, meta, label, image, target, layer)
    return save_figure(fig, out, **info)


def plot_saliency(checkpoint: Any, image: Any, out: PathLike = "saliency.png", target: Any = None) -> Picture:
    """Saliency map (input gradients of the class score) for ``target`` (default the predicted class): input,
    map, overlay. Size: 1000 x 360 pixels."""
    model, meta, label = resolve_model(checkpoint)
    fig, info = _attribution_figure("saliency", model, meta, label, image, target)
    return save_figure(fig, out, **info)
