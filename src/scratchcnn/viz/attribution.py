"""Looking inside a model: intermediate activations (forward hooks), Grad-CAM and saliency maps.

* ``feature_maps``: each Conv2d's output for one input, taken after the activation that directly follows it
  (``conv1 -> relu1``) when there is one, as one usually draws "feature maps".
* ``grad_cam`` (Selvaraju et al. 2017): with ``A`` the chosen layer's output (K, h, w) (default: the last
  conv layer's rectified activations, e.g. ``relu2`` after ``conv2``) and ``y_c`` the class
  score (the logit, before softmax), ``alpha_k = mean_ij dy_c/dA_kij`` and ``cam = ReLU(sum_k alpha_k A_k)``,
  bilinearly resized to the input size (PyTorch's ``interpolate(mode="bilinear", align_corners=False)``).
* ``saliency`` (Simonyan et al. 2014): ``max over channels |dy_c/dx|``.

Gradients come from the engine's autograd. Every function runs the model in inference mode (BatchNorm's running
statistics, no dropout) and leaves it as it was: its parameter gradients, each module's training flag and its
buffers (a model handed over in training mode would otherwise update BatchNorm's running statistics). A model
whose outputs are NaN or infinite (diverged, or overflowing float32) is refused with predict's one-line error
instead of drawing a blank map, without NumPy's overflow warnings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nn.utils import eval_mode
from .modelio import check_finite_outputs, conv_layers, find_layer, quiet_overflow

__all__ = ["capture_outputs", "feature_maps", "cam_layer", "grad_cam", "saliency", "resize_bilinear", "GradCam", "Saliency"]

_ACTIVATIONS = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU")


class _KeepGrads:
    """Context manager restoring every parameter's ``.grad`` afterwards (explanations must not touch training)."""

    def __init__(self, model):
        self.params = list(model.parameters())

    def __enter__(self):
        self.saved = [None if p.grad is None else p.grad.copy() for p in self.params]
        return self

    def __exit__(self, *exc):
        for p, g in zip(self.params, self.saved):
            p.grad = g


def capture_outputs(model: Any, x: np.ndarray, names: list[str] | None = None,
                    what: str = "capture_outputs") -> list[tuple[str, Any, np.ndarray]]:
    """Run ``model`` on ``x`` (no gradients, in eval mode; the model's modes are restored) and return ``(name,
    module, output array)`` for every leaf module (or the modules in ``names``) in the order they were called.
    NaN or infinite model outputs are a one-line ``ValueError`` starting with ``what``."""
    from ..nn.utils import forward_with_hooks
    from ..tensor import Tensor
    mods = dict(model.named_modules())
    wanted = names if names is not None else [n for n, m in mods.items() if n and not any(True for _ in m.children())]
    seen: list[tuple[str, Any, np.ndarray]] = []

    def hook(module, inputs, output, _n):
        seen.append((_n, module, np.array(output.data if hasattr(output, "data") else output)))

    hooks = [(mods[n], lambda m, i, o, _n=n: hook(m, i, o, _n)) for n in wanted]
    with quiet_overflow():
        out = forward_with_hooks(model, Tensor(np.asarray(x, dtype=_param_dtype(model))), hooks)
    check_finite_outputs(out, what)
    return seen


def _param_dtype(model: Any) -> np.dtype:
    p = next(iter(model.parameters()), None)
    return p.data.dtype if p is not None else np.dtype(np.float32)


def feature_maps(model: Any, x: np.ndarray, where: str = "model") -> list[tuple[str, np.ndarray]]:
    """``(label, maps (C, h, w))`` for each Conv2d of ``model`` on the single input ``x`` (1, C, H, W); the label
    names the activation used (``"conv1 -> relu1"``) when one directly follows the convolution."""
    convs = {n for n, _ in conv_layers(model, where)}
    calls = capture_outputs(model, x, what="feature maps")
    out = []
    for i, (name, module, arr) in enumerate(calls):
        if name not in convs:
            continue
        label, data = name, arr
        if i + 1 < len(calls) and type(calls[i + 1][1]).__name__ in _ACTIVATIONS:
            nxt = calls[i + 1]
            if nxt[2].shape == arr.shape:
                label, data = f"{name} -> {nxt[0]}", nxt[2]
        out.append((label, data[0]))
    return out


def resize_bilinear(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize the last two axes of ``a`` to ``size`` like PyTorch's ``interpolate(mode="bilinear",
    align_corners=False)``: sample at ``(dst + 0.5) * in/out - 0.5``, clamped at the edges. Separable."""
    a = np.asarray(a)
    for axis, n_out in ((-2, size[0]), (-1, size[1])):
        n_in = a.shape[axis]
        src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        src = np.maximum(src, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        lam = (src - i0).astype(a.dtype if a.dtype.kind == "f" else np.float64)
        shape = [1] * a.ndim
        shape[axis] = n_out
        lam = lam.reshape(shape)
        a = np.take(a, i0, axis=axis) * (1 - lam) + np.take(a, i1, axis=axis) * lam
    return a


@dataclass
class GradCam:
    """Grad-CAM of one input. ``cam`` (h, w) at the layer's resolution, ``heatmap`` (H, W) at the input's,
    ``weights`` (K,) the channel weights alpha_k; ``target`` the explained class, ``predicted`` the top class."""

    cam: np.ndarray
    heatmap: np.ndarray
    weights: np.ndarray
    target: int
    predicted: int
    probabilities: np.ndarray
    layer: str


@dataclass
class Saliency:
    """Saliency of one input: ``grad`` (C, H, W) = dy_c/dx, ``saliency`` (H, W) = max_c |grad|."""

    saliency: np.ndarray
    grad: np.ndarray
    target: int
    predicted: int
    probabilities: np.ndarray


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _check_finite_map(a: np.ndarray, what: str) -> None:
    """Finite outputs can still have gradients that overflow float32 (huge weights): one line, not a NaN map."""
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: the gradients of the class score are NaN or infinite (they overflow float32: "
                         "the model's weights are too large), so there is no map to draw - retrain the model "
                         "(e.g. with a lower learning rate or weight decay)")


def _check_input(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one input of shape (1, C, H, W), got {x.shape}")
    return x


def _target(logits: np.ndarray, target: int | None) -> int:
    if target is None:
        return int(np.argmax(logits))
    t = int(target)
    if not 0 <= t < logits.size:
        raise ValueError(f"class index {t} out of range 0..{logits.size - 1}")
    return t


def cam_layer(model: Any, x: np.ndarray, where: str = "model") -> tuple[str, Any]:
    """Grad-CAM's default layer: the last Conv2d *called* in the forward pass (not the last one defined: a layer
    can be defined after the one that runs last, or not used at all), taken at its rectified output, i.e. the
    activation module called right after it (``relu2``), or the Conv2d itself when no activation follows it
    (or that module is reused)."""
    convs = dict(conv_layers(model, where))
    calls = capture_outputs(model, x, what="Grad-CAM")
    pos = [i for i, (n, _, _) in enumerate(calls) if n in convs]
    if not pos:
        raise ValueError(f"{where}: none of its Conv2d layers ({', '.join(convs)}) runs in the forward pass")
    name = calls[pos[-1]][0]
    if sum(1 for n, _, _ in calls if n == name) == 1 and pos[-1] + 1 < len(calls):
        nxt_name, nxt, arr = calls[pos[-1] + 1]
        once = sum(1 for n, _, _ in calls if n == nxt_name) == 1
        if type(nxt).__name__ in _ACTIVATIONS and once and arr.shape == calls[pos[-1]][2].shape:
            return nxt_name, nxt
    return name, convs[name]


def grad_cam(model: Any, x: np.ndarray, target: int | None = None, layer: str | None = None,
             where: str = "model") -> GradCam:
    """Grad-CAM for class ``target`` (default: the predicted class) at ``layer`` (a dotted module name; default
    :func:`cam_layer`: the last conv layer's rectified activations). ``x`` is one normalised input
    (1, C, H, W); computed in the model's dtype."""
    from ..tensor import Tensor
    x = _check_input(x)
    name, module = cam_layer(model, x, where) if layer is None else find_layer(model, layer, where)
    store: list[Any] = []

    def hook(mod, inputs, output):
        if hasattr(output, "retain_grad"):
            output.retain_grad()
        store.append(output)

    handle = module.register_forward_hook(hook)
    try:
        with _KeepGrads(model), eval_mode(model), quiet_overflow():
            xt = Tensor(np.asarray(x, dtype=_param_dtype(model)), requires_grad=True)
            logits = model(xt)
            check_finite_outputs(logits, "Grad-CAM")
            if not store:
                raise ValueError(f"layer {name} is not called by the model's forward pass, so it has no output to "
                                 "explain; pick a layer that runs (default: the last conv layer's activation)")
            if len(store) > 1:
                raise ValueError(f"layer {name} is called {len(store)} times in one forward pass (a reused module), "
                                 "so its output is ambiguous; pick a layer that runs once")
            z = logits.data[0]
            t = _target(z, target)
            logits[0, t].backward()
            act = store[0]
            if not hasattr(act, "grad"):
                raise ValueError(f"Grad-CAM needs a layer whose output is one tensor; {name} returns "
                                 f"{type(act).__name__}")
            a, g = np.asarray(act.data[0]), act.grad
    finally:
        handle.remove()
    if g is None:
        raise ValueError(f"layer {name} did not receive a gradient from the class score (is it used in forward?)")
    g = np.asarray(g[0])
    if a.ndim != 3:
        raise ValueError(f"Grad-CAM needs a layer with (C, h, w) outputs; {name} gives shape {a.shape}")
    with quiet_overflow():
        weights = g.mean(axis=(1, 2))
        cam = np.maximum((weights[:, None, None] * a).sum(axis=0), 0)
    _check_finite_map(cam, "Grad-CAM")
    heat = resize_bilinear(cam, x.shape[-2:])
    return GradCam(cam=cam, heatmap=heat, weights=weights, target=t, predicted=int(np.argmax(z)),
                   probabilities=_softmax(z.astype(np.float64)), layer=name)


def saliency(model: Any, x: np.ndarray, target: int | None = None) -> Saliency:
    """Vanilla gradient saliency for class ``target`` (default: the predicted class); ``x`` (1, C, H, W)."""
    from ..tensor import Tensor
    x = _check_input(x)
    with _KeepGrads(model), eval_mode(model), quiet_overflow():
        xt = Tensor(np.asarray(x, dtype=_param_dtype(model)), requires_grad=True)
        logits = model(xt)
        check_finite_outputs(logits, "saliency")
        z = logits.data[0]
        t = _target(z, target)
        logits[0, t].backward()
    g = np.asarray(xt.grad[0])
    _check_finite_map(g, "saliency")
    return Saliency(saliency=np.abs(g).max(axis=0), grad=g, target=t, predicted=int(np.argmax(z)),
                    probabilities=_softmax(z.astype(np.float64)))
