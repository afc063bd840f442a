"""``predict_images``: classify picture files with a saved model, converted like the training data."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["predict_images", "predict_arrays", "image_fit", "image_files"]


def predict_arrays(model, images: np.ndarray, mean, std, top_k: int = 3, batch_size: int = 256) -> list[dict]:
    """Top-k classes of ``images`` (N, H, W) or (N, C, H, W) floats in [0, 1]; returns per image
    ``{"index", "probability", "top_k": [{"index", "probability"}, ...]}``; a ``ValueError`` when the model's
    outputs are NaN or infinite (its probabilities would be meaningless)."""
    from .. import no_grad
    from ..functional import softmax
    from ..tensor import Tensor
    from .trainer import count_nonfinite_rows, nonfinite_outputs_error
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    x = (x - np.asarray(mean, np.float32).reshape(1, -1, 1, 1)) / np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    model.eval()
    probs = []
    bad = 0
    with no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i in range(0, len(x), batch_size):
            logits = model(Tensor(x[i:i + batch_size]))
            bad += count_nonfinite_rows(logits.data)
            probs.append(softmax(logits, 1).data)
    if bad:
        raise nonfinite_outputs_error("predict", bad, len(x), "images")
    p = np.concatenate(probs) if probs else np.zeros((0, 0), np.float32)
    k = max(1, min(int(top_k), p.shape[1] if p.size else 1))
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return [{"index": int(o[0]), "probability": float(row[o[0]]),
             "top_k": [{"index": int(j), "probability": float(row[j])} for j in o]} for row, o in zip(p, order)]


def image_fit(dataset: str | None) -> str:
    """How pictures are fitted for a model trained on ``dataset``: its registry entry's ``image_fit`` (``fill``
    for Fashion-MNIST), ``digit`` (MNIST's way) for unregistered or unknown datasets."""
    from ..data.registry import REGISTRY
    info = REGISTRY.get(str(dataset).lower()) if dataset else None
    return info.image_fit if info is not None else "digit"


def image_files(files: Sequence[str | Path]) -> list[str]:
    """``files`` with each folder replaced by the image files (PNG, JPEG, BMP, TIFF, WebP, PPM/PGM) directly in
    it, sorted by name, hidden ones (``.name``, e.g. macOS' ``._digit.png``) left out as ``ImageFolder`` does; a
    missing path or a folder without such files is an error. A file named explicitly is always read."""
    from ..data.image_folder import IMAGE_EXTENSIONS
    out: list[str] = []
    for f in files:
        path = Path(f)
        if path.is_dir():
            found = sorted(str(p) for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
            if not found:
                raise ValueError(f"predict: folder {path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
            out += found
        elif path.is_file():
            out.append(str(f))
        else:
            raise FileNotFoundError(f"predict: no such image file or folder: {path}")
    return out


def predict_images(checkpoint: str | Path, files: Sequence[str | Path], top_k: int = 3) -> list[dict]:
    """Predict each picture in ``files`` (PNG, JPEG, BMP, TIFF, WebP, PPM/PGM; any size and colour; a folder
    stands for the image files directly in it, by name) with the model in ``checkpoint``.

    Pictures go through ``data.load_image_for_mnist`` (grayscale, inverted if the background is light, fitted
    to 28x28 the way the checkpoint's dataset was made: see :func:`image_fit`) and the checkpoint's
    normalisation; a picture that is blank after that is an error. Returns a list of
    ``{"file", "label", "index", "probability", "top_k": [{"label", "index", "probability"}, ...]}``.
    """
    from ..data import load_image_for_mnist
    from ..models import load_model
    from .evaluate import checkpoint_normalization

    if not files:
        raise ValueError("predict: give at least one image file")
    files = image_files(files)
    if int(top_k) < 1:
        raise ValueError(f"predict: top_k must be >= 1, got {top_k}")
    model, meta = load_model(checkpoint)
    shape = meta.get("input_shape") or [1, 28, 28]
    if int(shape[0]) != 1:
        raise ValueError(f"predict: checkpoint {checkpoint} expects {shape[0]}-channel images; only grayscale "
                         "character images are supported")
    num_classes = int(meta["model"]["config"].get("num_classes", 10))
    names = list(meta.get("class_names") or [str(i) for i in range(num_classes)])
    norm = checkpoint_normalization(meta) or (np.zeros(1), np.ones(1))
    fit = image_fit(meta.get("dataset"))
    images = []
    for f in files:
        path = Path(f)
        img = load_image_for_mnist(path, size=int(shape[-1]), fit=fit)
        if not img.any():
            raise ValueError(f"predict: {path} is blank after conversion (no object stands out from the "
                             "background); nothing to classify")
        images.append(img)
    results = predict_arrays(model, np.stack(images), norm[0], norm[1], top_k=top_k)
    out = []
    for f, r in zip(files, results):
        out.append({"file": str(f), "label": names[r["index"]], "index": r["index"],
                    "probability": r["probability"],
                    "top_k": [{"label": names[t["index"]], **t} for t in r["top_k"]]})
    return out
