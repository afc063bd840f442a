"""Fixtures shared by the oracle tests."""
from __future__ import annotations

import numpy as np
import pytest

from scratchcnn import backend


@pytest.fixture
def float64_default_dtype():
    """scratchcnn's default dtype float64 for one test (restored afterwards), matching the torch fixture's float64
    default: NAdam keeps ``mu_product`` in the default dtype, as torch does."""
    old = backend.get_default_dtype()
    backend.set_default_dtype(np.float64)
    try:
        yield
    finally:
        backend.set_default_dtype(old)
