"""What the model pictures need from a checkpoint: the model, its conv layers, class names, and an input image
converted exactly like ``scratchcnn predict`` converts it (grayscale, MNIST-fitted, normalised)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["resolve_model", "conv_layers", "find_layer", "class_names", "model_input", "ModelInput",
           "parse_class", "quiet_overflow", "check_finite_outputs"]


def quiet_overflow():
    """``np.errstate`` silencing overflow/invalid/divide warnings around a model's forward (or backward) pass: a
    model whose outputs overflow is refused in one line (:func:`check_finite_outputs`), not in a dozen warnings."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def check_finite_outputs(outputs: Any, what: str) -> None:
    """Refuse NaN or infinite model ``outputs`` (N, ...) with predict's one-line ``ValueError`` (``what`` names the
    picture): explaining outputs that mean nothing would draw a blank map and "p=nan"."""
    from ..train.trainer import count_nonfinite_rows, nonfinite_outputs_error
    arr = np.asarray(getattr(outputs, "data", outputs))
    arr = arr.reshape(1, -1) if arr.ndim < 2 else arr
    bad = count_nonfinite_rows(arr)
    if bad:
        raise nonfinite_outputs_error(what, bad, len(arr), "images")


def resolve_model(model: Any, meta: dict | None = None) -> tuple[Any, dict, str]:
    """``(model, meta, label)`` from a checkpoint folder path, or from a model object (+ optional meta)."""
    from ..nn import Module
    if isinstance(model, Module):
        meta = dict(meta or {})
        name = getattr(model, "model_name", type(model).__name__)
        if "model" not in meta:
            meta["model"] = {"name": name, "config": dict(getattr(model, "model_config", {}))}
        model.eval()
        return model, meta, name
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"expected a checkpoint folder or a scratchcnn.nn.Module, got {type(model).__name__}")
    from ..models import load_model
    from ..models.loading import resolve_checkpoint
    path = resolve_checkpoint(model)   # a run folder: its best checkpoint
    m, meta = load_model(path)
    if meta.get("finetune"):      # an unmerged LoRA checkpoint shows the model its merged checkpoint holds
        from ..finetune.lora import strip_lora
        strip_lora(m)
    return m, meta, f"{meta['model']['name']} ({path})"


def conv_layers(model: Any, where: str = "model") -> list[tuple[str, Any]]:
    """``(dotted name, Conv2d)`` for every 2-D convolution of ``model``, in definition order; the 1x1 convolutions
    inside inserted adapter blocks (``inserted.*``) are corrections to a layer's output, not layers of their own,
    and are left out.

    Raises ValueError when there is none (nothing to show)."""
    from ..finetune.adapter import INSERT_KEY
    from ..nn import Conv1d, Conv2d
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(m, Conv2d) and INSERT_KEY not in n.split(".")]
    if not found:
        conv1d = [n for n, m in model.named_modules() if isinstance(m, Conv1d)]
        if conv1d or any(type(m).__name__ == "Embedding" for m in model.modules()):
            raise ValueError(f"{where} has no Conv2d layers: it is a text model (Conv1d over token embeddings"
                             + (f": {', '.join(conv1d[:6])}" if conv1d else "") + "), and these pictures (kernels, "
                             "feature maps, Grad-CAM, saliency, misclassified images) are for image models such as "
                             "seed000, seed001 or lenet5; use `scratchcnn predict-text` for texts")
        raise ValueError(f"{where} has no Conv2d layers, so there are no kernels, feature maps or Grad-CAM "
                         "to show (expected a convolutional model such as seed000, seed001 or lenet5)")
    return found


def find_layer(model: Any, layer: str | None, where: str = "model") -> tuple[str, Any]:
    """The named module, or the last Conv2d when ``layer`` is None."""
    convs = conv_layers(model, where)
    if layer is None:
        return convs[-1]
    names = dict(model.named_modules())
    if layer not in names or not layer:
        raise ValueError(f"{where} has no layer {layer!r}; its conv layers are {', '.join(n for n, _ in convs)}")
    return layer, names[layer]


def class_names(meta: dict, num_classes: int) -> list[str]:
    names = meta.get("class_names")
    if isinstance(names, (list, tuple)) and len(names) == num_classes:
        return [str(n) for n in names]
    return [str(i) for i in range(num_classes)]


def parse_class(target: Any, names: list[str]) -> int | None:
    """A class given as an index or a class name -> its index (None stays None)."""
    if target is None:
        return None
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        idx = int(target)
    else:
        t = str(target).strip()
        if t in names:
            return names.index(t)
        lowered = [n.lower() for n in names]
        if t.lower() in lowered:
            return lowered.index(t.lower())
        try:
            idx = int(t)
        except ValueError:
            raise ValueError(f"unknown class {target!r}; classes are {', '.join(names)} "
                             f"(or an index 0..{len(names) - 1})") from None
        if _numeric_names(names) and names != [str(i) for i in range(len(names))]:
            # e.g. a model fine-tuned on digits 5-9: "7" is the class named 7, so "3" must not silently be the
            # class at index 3 (named 8)
            raise ValueError(f"class {target!r} is not one of this model's classes ({', '.join(names)}); its class "
                             "names are numbers that differ from their indices, so give the class name")
    if not 0 <= idx < len(names):
        raise ValueError(f"class index {idx} out of range 0..{len(names) - 1}")
    return idx


def _numeric_names(names: list[str]) -> bool:
    try:
        [int(n) for n in names]
    except ValueError:
        return False
    return True


class ModelInput:
    """An image ready for a model: ``display`` (H, W) or (H, W, 3) in [0, 1] and ``x`` (1, C, H, W) normalised."""

    def __init__(self, display: np.ndarray, x: np.ndarray, source: str):
        self.display, self.x, self.source = display, x, source


def _input_shape(model: Any, meta: dict, where: str = "model") -> tuple[int, int, int]:
    if meta.get("task") == "text-classification" or meta.get("vocab") is not None:
        conv_layers(model, where)          # the text model's error (or, should it have Conv2d layers, nothing)
        raise ValueError(f"{where} is a text classifier; it takes token ids, not a picture")
    shape = meta.get("input_shape")
    if isinstance(shape, (list, tuple)) and len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    cfg = dict(meta.get("model", {}).get("config") or getattr(model, "model_config", {}) or {})
    c = int(cfg.get("in_channels", conv_layers(model, where)[0][1].in_channels))
    side = int(cfg.get("input_size", 28))
    return c, side, side


def model_input(image: Any, model: Any, meta: dict, where: str = "model") -> ModelInput:
    """Convert ``image`` (a file path, or an array already of the model's input size, values in [0, 1]) for
    ``model``: one-channel models get ``data.load_image_for_mnist`` fitted like ``scratchcnn predict``, three-channel
    models an RGB resize; then the checkpoint's normalisation (none when it records none)."""
    from ..train.evaluate import checkpoint_normalization
    c, h, w = _input_shape(model, meta, where)
    if isinstance(image, np.ndarray):
        a = np.asarray(image, dtype=np.float64)
        if a.dtype.kind not in "fiu":
            raise ValueError(f"image array must hold numbers, got {image.dtype}")
        if image.dtype == np.uint8:
            a = a / 255.0
        if a.ndim == 3 and a.shape[0] == c and c in (1, 3):
            a = a[0] if c == 1 else np.moveaxis(a, 0, -1)
        want = (h, w) if c == 1 else (h, w, 3)
        if a.shape != want:
            raise ValueError(f"image array has shape {image.shape}; the model expects {want} (values in [0, 1])")
        display, source = a, "array"
    else:
        path = Path(image)
        if c == 1:
            from ..data import load_image_for_mnist
            from ..train.predict import image_fit
            display = load_image_for_mnist(path, size=h, fit=image_fit(meta.get("dataset"))).astype(np.float64)
        elif c == 3:
            from PIL import Image

            from ..data import open_image
            rgb = open_image(path).convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
            display = np.asarray(rgb, dtype=np.float64) / 255.0
        else:
            raise ValueError(f"model expects {c} input channels; only 1 (grayscale) or 3 (RGB) can come from a picture")
        source = str(path)
    chw = display[None] if display.ndim == 2 else np.moveaxis(display, -1, 0)
    norm = checkpoint_normalization(meta)
    if norm is not None:
        mean, std = (np.asarray(v, dtype=np.float64).reshape(-1, 1, 1) for v in norm)
        chw = (chw - mean) / std
    return ModelInput(display=display, x=chw[None].astype(np.float32), source=source)
