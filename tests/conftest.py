"""Shared fixtures: the PyTorch oracle (skips cleanly when torch is absent, except under CI) and dataset
location."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def torch():
    """PyTorch as a test oracle; tests using it skip when it is not installed locally. Under CI (the CI
    environment variable set) torch is required: an import failure errors instead of silently skipping
    every oracle test."""
    if os.environ.get("CI"):
        import torch as t
    else:
        t = pytest.importorskip("torch")
    t.set_default_dtype(t.float64)
    return t


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory holding the real datasets ($SCRATCHCNN_DATA); tests skip only if it is truly absent."""
    root = os.environ.get("SCRATCHCNN_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("SCRATCHCNN_DATA is not set to an existing folder")
    return Path(root)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
