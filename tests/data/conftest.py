"""Shared fixtures of the data tests."""
from __future__ import annotations

import pytest

import scratchcnn.data.sources as dl


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated environment: fake HOME, no XDG/SCRATCHCNN vars, system dir in tmp, downloads that fail."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CACHE_HOME", "SCRATCHCNN_DATA", "SCRATCHCNN_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(dl, "SYSTEM_DATA_DIRS", (tmp_path / "usr-share-datasets",))
    calls = []

    def no_network(url, md5, folder, name):
        calls.append(url)
        raise OSError("network is unreachable")

    monkeypatch.setattr(dl, "_fetch", no_network)
    return {"root": tmp_path, "home": home, "calls": calls}
