"""Fixtures for fine-tuning tests: a tiny seed001-shaped model, a small synthetic MNIST-layout dataset and
base checkpoints built from them (no real data, no long training)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scratchcnn import models, nn

TINY = "test-ft-tiny"
CLASSES = 10
TRAIN_PER_CLASS, TEST_PER_CLASS = 30, 12


class TinyFT(nn.Module):
    """seed001's layout in miniature: conv-relu-pool-BN x2, fc-relu-dropout, fc head."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.bn2 = nn.BatchNorm2d(8)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(8 * 7 * 7, 32)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.bn1(self.pool1(self.relu1(self.conv1(x))))
        x = self.bn2(self.pool2(self.relu2(self.conv2(x))))
        return self.fc2(self.dropout(self.relu3(self.fc1(self.flatten(x)))))


models.register(TINY, TinyFT, "test model: seed001 in miniature")


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """28x28 uint8 images: class c is a bright 6x6 square at a class-specific place, plus noise."""
    n = len(labels)
    img = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for c in range(CLASSES):
        r, col = 2 + 6 * (c // 4), 2 + 6 * (c % 4)
        img[labels == c, r:r + 6, col:col + 6] = 230
    return img


def write_fake_dataset(root: Path, name: str = "mnist", seed: int = 0) -> Path:
    from scratchcnn.data import write_idx
    rng = np.random.default_rng(seed)
    folder = root / name
    for split, per in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
        labels = rng.permutation(np.repeat(np.arange(CLASSES), per)).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", make_images(labels, rng))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return root


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> Path:
    """A data dir with a synthetic 'mnist' (300 train / 120 test images, 10 classes)."""
    return write_fake_dataset(tmp_path_factory.mktemp("ftdata"))


def save_base(directory: Path, model, class_names, dataset: str = "mnist") -> Path:
    from scratchcnn.io import save_checkpoint
    from scratchcnn.models.loading import model_meta
    meta = model_meta(model, dataset=dataset, class_names=list(class_names),
                      normalization={"mean": [0.1307], "std": [0.3081]}, input_shape=[1, 28, 28])
    return save_checkpoint(directory, model.state_dict(), meta)


@pytest.fixture(scope="session")
def base_ckpt(tmp_path_factory) -> Path:
    """An (untrained, seeded) TinyFT checkpoint for classes 0-4 of the fake mnist, with moved BN statistics."""
    import scratchcnn
    scratchcnn.manual_seed(3)
    m = models.get(TINY, num_classes=5)
    rng = np.random.default_rng(5)
    for bn in (m.bn1, m.bn2):
        bn.running_mean.data[:] = rng.normal(0, 0.1, bn.num_features)
        bn.running_var.data[:] = rng.uniform(0.5, 1.5, bn.num_features)
        bn.weight.data[:] = rng.uniform(0.5, 1.5, bn.num_features)
        bn.bias.data[:] = rng.normal(0, 0.1, bn.num_features)
    return save_base(tmp_path_factory.mktemp("base") / "base", m, [str(i) for i in range(5)])
