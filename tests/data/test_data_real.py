"""The real datasets ($SCRATCHCNN_DATA): counts, checksums against the registry, normalisation constants."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from scratchcnn.data import get_info, load_dataset, locate, verify

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_train(data_dir):
    return load_dataset("mnist", "train", data_dir=data_dir, download=False)


def test_mnist_label_counts(data_dir, mnist_train):
    test = load_dataset("mnist", "test", data_dir=data_dir, download=False)
    assert mnist_train.class_counts().tolist() == MNIST_TRAIN
    assert test.class_counts().tolist() == MNIST_TEST
    for ds, n in ((mnist_train, 60000), (test, 10000)):
        assert ds.images.shape == (n, 28, 28) and ds.images.dtype == np.uint8
        assert ds.labels.dtype == np.int64 and ds.classes == tuple("0123456789")
        assert (ds.mean, ds.std) == (0.1307, 0.3081)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_shared_files_match_registry_checksums(data_dir, name):
    folder = locate(name, data_dir=data_dir, download=False)
    assert verify(name, folder) == {f: "ok" for f in get_info(name).file_names}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_normalisation_constants(data_dir, name, mnist_train):
    ds = mnist_train if name == "mnist" else load_dataset(name, "train", data_dir=data_dir, download=False)
    x = ds.images.reshape(len(ds), -1).astype(np.float32)  # integers 0..255: exact in float32
    n = x.size
    mean = float(x.sum(dtype=np.float64)) / n / 255.0
    std = np.sqrt(np.einsum("ij,ij->", x, x, dtype=np.float64) / n / 255.0**2 - mean**2)
    assert abs(mean - ds.mean) < 5e-5 and abs(std - ds.std) < 5e-5


def test_fashion_mnist_is_balanced(data_dir):
    ds = load_dataset("fashion-mnist", "test", data_dir=data_dir, download=False)
    assert ds.class_counts().tolist() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_import_is_light():
    code = ("import sys, scratchcnn.data, scratchcnn.io; "
            "print([m for m in ('pooch', 'PIL', 'safetensors', 'tqdm', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
