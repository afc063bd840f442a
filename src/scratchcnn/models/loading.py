"""Checkpoint <-> model: the metadata a model checkpoint carries and ``load_model`` that validates it.

``meta.json`` layout written by the trainer (``model_meta``)::

    {"model": {"name": "seed000", "config": {"num_classes": 10, ...}},
     "class_names": [...], "normalization": {"mean": [..], "std": [..]}, "dataset": "mnist",
     "metrics": {...}, "versions": {"scratchcnn": ..., "numpy": ..., "python": ...}}
"""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CheckpointMismatchError", "model_meta", "load_model", "check_state_dict", "check_meta", "dtype_problems",
           "resolve_checkpoint", "checkpoint_dtype", "input_kind"]


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the model it names (or names none)."""


def versions() -> dict:
    """Library versions recorded in checkpoints."""
    from .. import __version__
    return {"scratchcnn": __version__, "numpy": np.__version__, "python": platform.python_version()}


def model_meta(model, **extra: Any) -> dict:
    """Metadata for a checkpoint of ``model`` (built by ``models.get``), plus ``extra`` keys.

    ``load_model`` needs an image model's ``normalization`` among them (``{"mean": [...], "std": [...]}``, or None
    for raw [0, 1] pixels), and a text model's ``task``, ``tokenizer``, ``vocab`` and ``max_len``."""
    name = getattr(model, "model_name", None)
    if name is None:
        raise ValueError("model_meta: the model was not built by scratchcnn.models.get (no model_name)")
    meta = {"model": {"name": name, "config": dict(getattr(model, "model_config", {}))}}
    meta.update(extra)
    meta.setdefault("versions", versions())
    return meta


_KINDS = {"f": ("f", "a floating-point"), "i": ("iu", "an integer"), "u": ("iu", "an integer"),
          "b": ("b", "a boolean")}


def _dtype(v: Any) -> np.dtype:
    dt = getattr(v, "dtype", None)
    return dt if isinstance(dt, np.dtype) else np.asarray(v).dtype


def _dtype_problem(key: str, want: np.dtype, got: np.dtype, value: Any) -> str | None:
    """Why ``value`` (dtype ``got``) cannot load into a tensor of dtype ``want``, or None. Like PyTorch, any float
    loads into a float tensor and any integer into an integer one; other kinds would be reinterpreted."""
    kinds, what = _KINDS.get(want.kind, (want.kind, str(want)))
    if got.kind not in kinds:
        return f"{key} has dtype {got}, expected {what} dtype like the model's {want}"
    if want.kind == "f" and got.itemsize > want.itemsize:
        arr = np.asarray(getattr(value, "data", value))
        if arr.size and float(np.max(np.abs(arr))) > float(np.finfo(want).max):
            return f"{key} has {got} values beyond the range of the model's {want}"
    return None


def dtype_problems(own: dict, state: dict) -> list[str]:
    """For the keys of ``state`` that ``own`` (a model's state_dict) has: why each value's dtype cannot load."""
    return [p for k in own if k in state for p in [_dtype_problem(k, _dtype(own[k]), _dtype(state[k]), state[k])]
            if p]


def check_state_dict(model, state: dict, where: str = "checkpoint") -> None:
    """Raise ``CheckpointMismatchError`` listing missing/unexpected keys, shape mismatches and dtypes that do not
    fit (float for an integer buffer, integers or booleans for a float parameter, ...)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: model {tuple(np.shape(own[k]))} vs {where} {tuple(np.shape(state[k]))}"
              for k in own if k in state and tuple(np.shape(own[k])) != tuple(np.shape(state[k]))]
    dtypes = dtype_problems(own, state)
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    if shapes:
        problems.append(f"shape mismatch {'; '.join(shapes[:3])}{' ...' if len(shapes) > 3 else ''}")
    if dtypes:
        problems.append(f"dtype mismatch {'; '.join(dtypes[:3])}{' ...' if len(dtypes) > 3 else ''}")
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointMismatchError(f"{where} does not fit model {name}: {'; '.join(problems)}")


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def show(v: Any) -> str:
    """A value as it reads in meta.json, cut to 60 characters (for error lines)."""
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_numbers(v: Any) -> list[float] | None:
    """``v`` (a number or a non-empty list of numbers) as floats, or None when it is anything else."""
    items = v if isinstance(v, list) else [v]
    if not items or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
        return None
    out = [float(x) for x in items]
    return out if all(math.isfinite(x) for x in out) else None


def input_kind(name: str, cfg: dict | None) -> str | None:
    """What the registered model ``name`` classifies (``"images"`` or ``"tokens"``), read from its class without
    building it (an ensemble: its members'); None for a name that is not registered."""
    from .registry import _lookup, _resolve
    if name == "ensemble":
        name = (cfg or {}).get("member", "textcnn")
        if not isinstance(name, str) or name == "ensemble":
            return None
    try:
        builder = _resolve(_lookup(name)[0])
    except (ValueError, ImportError, AttributeError):     # (building it says what is wrong)
        return None
    return getattr(builder, "input_kind", "images")


def check_meta(path: str | Path, meta: dict) -> None:
    """Validate the ``meta.json`` fields a model is rebuilt and used from: ``model`` (name, config,
    ``num_classes``), ``class_names``, ``input_shape``, and what its inputs need: for an image model
    ``normalization`` (required: an object with ``mean`` and ``std``, or null for raw [0, 1] pixels), for a text
    model ``task``, ``tokenizer``, ``vocab`` and ``max_len`` (``text.checkpoint_meta``). Raises
    ``CheckpointMismatchError`` with one line naming the checkpoint and the field."""
    def bad(field: str, what: str) -> CheckpointMismatchError:
        return CheckpointMismatchError(f"checkpoint {path}: meta.json field {field} {what}")

    info = meta.get("model") if isinstance(meta, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("name"), str):
        raise CheckpointMismatchError(f"checkpoint {path}: meta.json names no model (expected a 'model' entry "
                                      "with 'name' and 'config')")
    cfg = info.get("config")
    if cfg is not None and not isinstance(cfg, dict):
        raise bad("model.config", f"should be an object, is {type(cfg).__name__}")
    num_classes = (cfg or {}).get("num_classes", 10)
    if not _positive_int(num_classes):
        raise bad("model.config.num_classes", f"should be a positive integer, is {show(num_classes)}")
    names = meta.get("class_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad("class_names", "should be a list of strings")
        if len(names) != num_classes:
            raise bad("class_names", f"has {len(names)} names for the model's {num_classes} outputs")
    shape = meta.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or not shape or not all(_positive_int(s) for s in shape)):
        raise bad("input_shape", f"should be a list of positive sizes, is {show(shape)}")
    kind = input_kind(info["name"], cfg)
    if kind == "tokens":
        from ..text.checkpoint_meta import text_meta_problem
        problem = text_meta_problem(meta)
        if problem:
            raise bad(*problem)
        return
    if kind is None:        # not a registered model: load_model says so
        return
    if meta.get("task") is not None:
        raise bad("task", f"is {show(meta['task'])}, but model {info['name']} classifies images")
    if "normalization" not in meta:
        raise bad("normalization", "is missing (the mean and std the model's inputs were normalised with; null "
                                   "for raw [0, 1] pixels)")
    norm = meta["normalization"]
    if norm is None:        # said outright: raw pixels
        return
    if not isinstance(norm, dict):
        raise bad("normalization", f"should be an object with mean and std, is {type(norm).__name__}")
    channels = shape[0] if shape else None
    for key in ("mean", "std"):
        if norm.get(key) is None:
            raise bad(f"normalization.{key}", "is missing")
        values = _finite_numbers(norm[key])
        if values is None:
            raise bad(f"normalization.{key}", f"should be a finite number or a list of them, is {show(norm[key])}")
        if len(values) not in (1, channels or len(values)):
            raise bad(f"normalization.{key}", f"has {len(values)} values for {channels}-channel input")
        if key == "std" and min(values) <= 0:
            raise bad("normalization.std", f"should be positive, is {show(norm[key])}")


def resolve_checkpoint(path: str | Path) -> Path:
    """``path`` itself, or ``path/best`` when ``path`` is a training run's output folder (a ``best/`` that a
    crash left aside mid-save is moved back first)."""
    from ..io.atomic import recover_directory
    path = Path(path)
    if not (path / "meta.json").exists() and path.is_dir():
        recover_directory(path / "best")
    if not (path / "meta.json").exists() and (path / "best" / "meta.json").is_file():
        return path / "best"
    return path


def load_model(path: str | Path, expect: str | None = None):
    """Rebuild the model stored in checkpoint directory ``path`` (or a run folder's ``best/``); returns
    ``(model, meta)``.

    The model is put in eval mode, in float64 when every float tensor of the checkpoint is float64 (else in the
    library's float32). ``expect`` (a model name) makes a checkpoint of another model an error.
    ``meta.json`` is checked by ``check_meta`` first. Fine-tuned checkpoints (a ``finetune`` entry in
    ``meta.json``) are handed to ``scratchcnn.finetune.checkpoint.load_finetuned``.
    Raises ``CheckpointMismatchError`` (a ``ValueError``) when the metadata or weights do not fit, and
    ``CheckpointError`` when the files are damaged (NaN/inf weights included).
    """
    from ..io import load_checkpoint, read_meta
    from .registry import get, list_models

    path = resolve_checkpoint(path)
    meta = read_meta(path)
    if isinstance(meta.get("finetune"), dict):  # written by `scratchcnn finetune`
        from ..finetune.checkpoint import load_finetuned
        return load_finetuned(path, expect=expect)          # (it checks the meta itself)
    state, meta = load_checkpoint(path)
    check_meta(path, meta)
    info = meta["model"]
    name, cfg = info["name"], dict(info.get("config") or {})
    if expect is not None and name != expect:
        raise CheckpointMismatchError(f"checkpoint {path} holds model {name!r}, not {expect!r}")
    if name not in list_models():
        raise CheckpointMismatchError(f"checkpoint {path}: unknown model {name!r}; "
                                      f"available: {', '.join(list_models())}")
    num_classes = int(cfg.pop("num_classes", 10))
    try:
        model = get(name, num_classes=num_classes, **cfg)
    except (TypeError, ValueError) as e:
        why = str(e).removeprefix(f"model {name}: ")
        raise CheckpointMismatchError(f"checkpoint {path}: meta.json field model.config does not build model "
                                      f"{name}: {why}") from None
    if checkpoint_dtype(state) == np.float64:
        model.double()               # a float64 checkpoint stays float64: no silent rounding to float32
    check_state_dict(model, state, where=f"checkpoint {path}")
    if getattr(model, "input_kind", "images") == "tokens":
        from ..text.checkpoint_meta import vocab_size_problem
        problem = vocab_size_problem(meta, model)
        if problem:
            raise CheckpointMismatchError(f"checkpoint {path}: meta.json field vocab {problem}")
    model.load_state_dict(state)
    model.eval()
    return model, meta


def checkpoint_dtype(state: dict) -> np.dtype | None:
    """The floating dtype every float tensor of ``state`` shares, or None (no float tensors, or mixed)."""
    kinds = {_dtype(v) for v in state.values() if _dtype(v).kind == "f"}
    return kinds.pop() if len(kinds) == 1 else None
