"""Fixtures for the viz tests: a random-init seed000 checkpoint, a run folder, and pictures."""
from __future__ import annotations

import pytest

from .helpers import draw_digit, draw_scene, make_checkpoint, make_run_dir, register_noconv, save_model


@pytest.fixture(scope="session")
def viz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("viz")


@pytest.fixture(scope="session")
def ckpt(viz_dir):
    return make_checkpoint(viz_dir / "ckpt")


@pytest.fixture(scope="session")
def run_dir(viz_dir):
    return make_run_dir(viz_dir / "run")


@pytest.fixture(scope="session")
def digit(viz_dir):
    return draw_digit(viz_dir / "digit.png")


@pytest.fixture(scope="session")
def scene(viz_dir):
    return draw_scene(viz_dir / "scene.png")


@pytest.fixture(scope="session")
def noconv_ckpt(viz_dir):
    from .helpers import build_model
    name = register_noconv()
    return save_model(viz_dir / "noconv", build_model(name))
