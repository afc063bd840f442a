"""Small valid IDX datasets (MNIST's four file names) for tests of finding, identifying and loading data."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from scratchcnn.data.idx import encode_idx


def write_fake_idx(folder: Path, seed: int = 0, gz: bool = True, n_train: int = 20, n_test: int = 10,
                   random_labels: bool = False) -> Path:
    """Write ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` into ``folder``: random 28x28 images, labels
    0..9 in turn (or random with ``random_labels``), gzip-compressed (``gz``, reproducible bytes) or not."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8) if random_labels else (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            data = encode_idx(arr)
            name = f"{split}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
            else:
                (folder / name).write_bytes(data)
    return folder
