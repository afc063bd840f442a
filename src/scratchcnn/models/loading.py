"""Checkpoint <-> model: the metadata a model checkpoint carries and ``load_model`` that validates it.

``meta.json`` layout written by the trainer (``model_meta``)::

    {"model": {"name": "seed000", "config": {"num_classes": 10, ...}},
     "class_names": [...], "normalization": {"mean": [..], "std": [..]}, "dataset": "mnist",
     "metrics": {...}, "versions": {"scratchcnn": ..., "numpy": ..., "python": ...}}
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CheckpointMismatchError", "model_meta", "load_model", "check_state_dict", "resolve_checkpoint"]


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the model it names (or names none)."""


def versions() -> dict:
    """Library versions recorded in checkpoints."""
    from .. import __version__
    return {"scratchcnn": __version__, "numpy": np.__version__, "python": platform.python_version()}


def model_meta(model, **extra: Any) -> dict:
    """Metadata for a checkpoint of ``model`` (built by ``models.get``), plus ``extra`` keys."""
    name = getattr(model, "model_name", None)
    if name is None:
        raise ValueError("model_meta: the model was not built by scratchcnn.models.get (no model_name)")
    meta = {"model": {"name": name, "config": dict(getattr(model, "model_config", {}))}}
    meta.update(extra)
    meta.setdefault("versions", versions())
    return meta


def check_state_dict(model, state: dict, where: str = "checkpoint") -> None:
    """Raise ``CheckpointMismatchError`` listing missing/unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: model {tuple(np.shape(own[k]))} vs {where} {tuple(np.shape(state[k]))}"
              for k in own if k in state and tuple(np.shape(own[k])) != tuple(np.shape(state[k]))]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    if shapes:
        problems.append(f"shape mismatch {'; '.join(shapes[:3])}{' ...' if len(shapes) > 3 else ''}")
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointMismatchError(f"{where} does not fit model {name}: {'; '.join(problems)}")


def resolve_checkpoint(path: str | Path) -> Path:
    """``path`` itself, or ``path/best`` when ``path`` is a training run's output folder."""
    path = Path(path)
    if not (path / "meta.json").exists() and (path / "best" / "meta.json").is_file():
        return path / "best"
    return path


def load_model(path: str | Path, expect: str | None = None):
    """Rebuild the model stored in checkpoint directory ``path`` (or a run folder's ``best/``); returns
    ``(model, meta)``.

    The model is put in eval mode. ``expect`` (a model name) makes a checkpoint of another model an error.
    Fine-tuned checkpoints (a ``finetune`` entry in ``meta.json``) are handed to
    ``scratchcnn.finetune.checkpoint.load_finetuned``.
    Raises ``CheckpointMismatchError`` (a ``ValueError``) when the metadata or weights do not fit.
    """
    from ..io import load_checkpoint, read_meta
    from .registry import get, list_models

    path = resolve_checkpoint(path)
    if isinstance(read_meta(path).get("finetune"), dict):  # written by `scratchcnn finetune`
        from ..finetune.checkpoint import load_finetuned
        return load_finetuned(path, expect=expect)
    state, meta = load_checkpoint(path)
    info = meta.get("model") if isinstance(meta, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise CheckpointMismatchError(f"checkpoint {path}: meta.json names no model (expected a 'model' entry "
                                      "with 'name' and 'config')")
    name, cfg = info["name"], dict(info.get("config") or {})
    if expect is not None and name != expect:
        raise CheckpointMismatchError(f"checkpoint {path} holds model {name!r}, not {expect!r}")
    if name not in list_models():
        raise CheckpointMismatchError(f"checkpoint {path}: unknown model {name!r}; "
                                      f"available: {', '.join(list_models())}")
    num_classes = int(cfg.pop("num_classes", 10))
    model = get(name, num_classes=num_classes, **cfg)
    check_state_dict(model, state, where=f"checkpoint {path}")
    model.load_state_dict(state)
    model.eval()
    return model, meta
