"""Nested state <-> (JSON skeleton, arrays) round trip, as used for resumable optimiser/scheduler state."""
from __future__ import annotations

import json

import numpy as np
import pytest

from scratchcnn.train.serialize import join_arrays, split_arrays


def test_round_trip_keeps_types_and_values():
    rng = np.random.default_rng(0)
    state = {"state": {0: {"step": 3, "exp_avg": rng.standard_normal((2, 3)).astype(np.float32),
                           "exp_avg_sq": rng.random(4)},
                       5: {"momentum_buffer": None}},
             "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 5], "nesterov": False,
                               "name": "x", "eps": np.float64(1e-8)}],
             "weird": {"__ndarray__": "not an array"}}
    skel, arrays = split_arrays(state)
    text = json.dumps(skel)  # strictly JSON
    back = join_arrays(json.loads(text), arrays)
    assert set(back["state"]) == {0, 5}
    np.testing.assert_array_equal(back["state"][0]["exp_avg"], state["state"][0]["exp_avg"])
    assert back["state"][0]["exp_avg"].dtype == np.float32
    assert back["state"][0]["exp_avg_sq"].dtype == np.float64
    assert back["state"][0]["step"] == 3 and back["state"][5] == {"momentum_buffer": None}
    assert back["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["param_groups"][0]["eps"] == 1e-8
    assert back["weird"] == {"__ndarray__": "not an array"}
    assert all(isinstance(a, np.ndarray) for a in arrays.values()) and len(arrays) == 2


def test_tensor_values_are_stored_as_arrays():
    from scratchcnn import Tensor
    skel, arrays = split_arrays({"t": Tensor(np.arange(3.0))})
    assert np.array_equal(join_arrays(skel, arrays)["t"], np.arange(3.0))


def test_refuses_objects_and_reports_missing_arrays():
    with pytest.raises(TypeError, match="no pickle"):
        split_arrays({"f": object()})
    with pytest.raises(TypeError, match="object array"):
        split_arrays({"a": np.array([object()])})
    skel, _ = split_arrays({"a": np.zeros(2)})
    with pytest.raises(ValueError, match="missing"):
        join_arrays(skel, {})
