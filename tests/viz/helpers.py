"""Shared builders for the viz tests (also used by tests/cli): checkpoints, run folders, pictures, PNG checks.

Nothing is trained: models get their seeded default initialisation and are saved with the io/models helpers
exactly as ``scratchcnn train`` saves them (``model.safetensors`` + ``meta.json`` from ``models.model_meta``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import scratchcnn
from scratchcnn import models, nn
from scratchcnn.io import save_checkpoint
from scratchcnn.models import model_meta

MNIST_NORM = {"mean": [0.1307], "std": [0.3081]}
CLASSES = [str(i) for i in range(10)]


class NoConvNet(nn.Module):
    """A registered model without any convolution (for the 'no conv layers' errors)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_channels * 28 * 28, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(x))


def register_noconv() -> str:
    models.register("test-noconv", NoConvNet, "test model: flatten + linear, no convolution")
    return "test-noconv"


def build_model(name: str = "seed000", seed: int = 0, **cfg):
    scratchcnn.manual_seed(seed)
    return models.get(name, num_classes=10, **cfg)


def save_model(directory: Path, model, **extra) -> Path:
    meta = model_meta(model, class_names=CLASSES, normalization=MNIST_NORM, input_shape=[1, 28, 28],
                      dataset="mnist", **extra)
    return save_checkpoint(directory, model.state_dict(), meta)


def make_checkpoint(directory: Path, name: str = "seed000", seed: int = 0) -> Path:
    return save_model(directory, build_model(name, seed))


def make_run_dir(directory: Path, seed: int = 0) -> Path:
    """A folder shaped like ``scratchcnn train --out``: history.json, test_metrics.json, best/."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    hist = []
    for e in range(1, 4):
        hist.append({"epoch": e, "loss": 1.0 / e, "accuracy": 0.8 + 0.05 * e, "val_loss": 1.2 / e,
                     "val_accuracy": 0.78 + 0.05 * e, "lr": 1e-3 / e, "seconds": 1.5})
    (directory / "history.json").write_text(json.dumps(hist))
    cm = rng.integers(0, 5, size=(10, 10)) + np.diag(rng.integers(40, 60, size=10))
    metrics = {"accuracy": float(np.trace(cm) / cm.sum()), "precision": 0.9, "recall": 0.9, "f1": 0.9,
               "loss": 0.3, "confusion_matrix": cm.tolist(), "num_samples": int(cm.sum()),
               "per_class": {"precision": [0.9] * 10, "recall": [0.9] * 10, "f1": [0.9] * 10,
                             "support": cm.sum(axis=1).tolist()}}
    (directory / "test_metrics.json").write_text(json.dumps(metrics))
    save_model(directory / "best", build_model("seed000", seed), epoch=3, selected_on="val_accuracy",
               train_config={"model": "seed000", "dataset": "mnist", "epochs": 3, "lr": 0.001, "seed": seed})
    return directory


def draw_digit(path: Path, size: int = 64, light_background: bool = False) -> Path:
    """A crude hand-drawn '7' (two thick strokes) as a PNG."""
    from PIL import Image, ImageDraw
    bg, ink = (255, 0) if light_background else (0, 255)
    im = Image.new("L", (size, size), bg)
    d = ImageDraw.Draw(im)
    s = size / 64
    d.line([(14 * s, 14 * s), (50 * s, 14 * s)], fill=ink, width=int(7 * s))
    d.line([(50 * s, 14 * s), (26 * s, 54 * s)], fill=ink, width=int(7 * s))
    im.save(path)
    return path


def draw_scene(path: Path, size: int = 80) -> Path:
    """A small 'photo': a gradient with a bright disc and a dark bar (edges in every direction)."""
    from PIL import Image
    yy, xx = np.mgrid[0:size, 0:size]
    a = 60 + 100 * xx / size
    a[(yy - size / 2) ** 2 + (xx - size / 3) ** 2 < (size / 5) ** 2] = 240
    a[size // 5: size // 5 + 8, size // 2:] = 10
    Image.fromarray(a.astype(np.uint8)).save(path)
    return path


def check_png(path, size=None) -> np.ndarray:
    """The PNG exists, decodes, has ``size`` (width, height) if given, and is not blank; returns its pixels."""
    from PIL import Image
    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        if size is not None:
            assert im.size == tuple(size), (im.size, size)
        px = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert px.var() > 0, f"{path} is blank"
    background = np.all(px == px.reshape(-1, 3)[0], axis=-1).mean()   # share of the corner colour
    assert background < 0.97, f"{path} is almost empty ({background:.1%} background)"
    return px


class SpareConvNet(nn.Module):
    """conv -> relu -> pool -> fc, plus a Conv2d defined last that forward never calls (for Grad-CAM's default
    layer and the 'not called' error)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 14 * 14, num_classes)
        self.spare = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))


def register_spareconv() -> str:
    models.register("test-spareconv", SpareConvNet, "test model: one conv used, one defined but never called")
    return "test-spareconv"


def make_text_checkpoint(directory: Path) -> Path:
    """A small TextCNN checkpoint with the meta keys ``scratchcnn train-text`` writes that matter here."""
    scratchcnn.manual_seed(0)
    model = models.get("textcnn", num_classes=2, vocab_size=30, embed_dim=8, kernel_sizes=[2, 3], num_filters=4)
    meta = model_meta(model, task="text-classification", class_names=["neg", "pos"], dataset="corpus",
                      vocab=["<pad>", "<unk>"] + [f"t{i}" for i in range(2, 30)], max_len=16)
    return save_checkpoint(directory, model.state_dict(), meta)


def make_finetune_dir(directory: Path, config_as_repr: bool = False) -> Path:
    """A folder shaped like ``scratchcnn finetune --out``: history.json, result.json, merged/ (digits 5-9)."""
    directory.mkdir(parents=True, exist_ok=True)
    hist = [{"epoch": e, "loss": 1.5 / e, "accuracy": 0.5 + 0.1 * e, "lr": 3e-3 / e, "seconds": 0.25}
            for e in (1, 2)]
    (directory / "history.json").write_text(json.dumps(hist))
    cfg = {"base": "runs/base", "classes": "5-9", "labels_per_class": 10, "strategy": "lora", "lr": None,
           "dataset": None, "limit_test": 200}
    result = {"strategy": "lora", "accuracy": 0.6125, "old_accuracy": None, "new_accuracy": None,
              "dataset": "mnist", "class_names": ["5", "6", "7", "8", "9"], "num_train": 50, "num_test": 200,
              "epochs": 2, "lr": 0.003, "base": {"path": "runs/base/best", "model": "seed000"},
              "config": repr(cfg) if config_as_repr else cfg, "history": hist}
    (directory / "result.json").write_text(json.dumps(result))
    scratchcnn.manual_seed(0)
    model = models.get("seed000", num_classes=5)
    meta = model_meta(model, class_names=["5", "6", "7", "8", "9"], class_subset=[5, 6, 7, 8, 9],
                      normalization=MNIST_NORM, input_shape=[1, 28, 28], dataset="mnist",
                      finetune={"strategy": "lora", "kind": "merged"})
    save_checkpoint(directory / "merged", model.state_dict(), meta)
    return directory
