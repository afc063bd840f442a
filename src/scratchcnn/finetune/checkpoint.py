"""Fine-tuned checkpoints: adapter-only (trained tensors + a hash-checked reference to the base) and full.

Both are ordinary checkpoint folders (``model.safetensors`` + ``meta.json``, see ``scratchcnn.io``) whose
``meta.json`` has a ``finetune`` entry::

    "finetune": {"kind": "adapter-only" | "merged",
                 "strategy": "lora", "structure": {"lora": {...} | null, "adapters": {...} | null,
                                                   "blocks": [[name, [C, H, W]], ...] | null, "bn": ...},
                 "head": {"name": "fc2", "mode": "replace" | "extend" | "keep" | "new", "num_old": 0},
                 "base": {"path": "/abs/base", "relpath": "../../base", "sha256": "...", "model": "seed001"}}

- **adapter-only** holds only the tensors that training changed (trainable parameters, and buffers such as
  BatchNorm running statistics if they moved). Loading rebuilds the base from ``base.path`` (or ``relpath`` from
  the adapter folder), refuses it unless the SHA-256 of its ``model.safetensors`` matches, re-creates the head,
  LoRA layers, adapters and inserted residual blocks (``--insert-block``), then loads the stored tensors.
- **merged** is self-contained: LoRA updates are merged into the base weights (so it is a plain model of the
  base architecture); adapters and inserted residual blocks, which cannot be merged, are stored with it
  (``inserted.<name>.*``) and re-inserted on loading.

``load_finetuned`` loads either; ``load_any`` loads any checkpoint (plain ones via ``models.load_model``).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .heads import replace_head
from .lora import lora_layers
from .strategies import rebuild_structure

__all__ = ["ADAPTER_ONLY", "MERGED", "FinetuneCheckpointError", "save_adapter_checkpoint", "save_merged_checkpoint",
           "load_finetuned", "load_any", "resolve_dir", "checkpoint_bytes", "is_finetune_checkpoint"]

ADAPTER_ONLY = "adapter-only"
MERGED = "merged"


class FinetuneCheckpointError(ValueError):
    """An adapter checkpoint whose base is missing, different (hash mismatch) or does not fit."""


def checkpoint_bytes(directory: str | os.PathLike) -> int:
    """Total size in bytes of the files in a checkpoint folder."""
    return int(sum(f.stat().st_size for f in Path(directory).iterdir() if f.is_file()))


def is_finetune_checkpoint(meta: dict) -> bool:
    return isinstance(meta, dict) and isinstance(meta.get("finetune"), dict)


def _weights_file(directory: str | os.PathLike) -> Path:
    from ..io.checkpoint import WEIGHTS_FILE
    return Path(directory) / WEIGHTS_FILE


def save_adapter_checkpoint(directory: str | os.PathLike, model: Any, meta: dict, tensor_names: Iterable[str],
                            base_dir: str | os.PathLike, base_sha256: str) -> Path:
    """Write only ``tensor_names`` of ``model``'s state plus ``meta`` with the base reference and its hash."""
    from ..io import save_checkpoint
    state = model.state_dict()
    names = list(tensor_names)
    missing = [n for n in names if n not in state]
    if missing:
        raise ValueError(f"save_adapter_checkpoint: the model has no tensors {missing}")
    meta = copy.deepcopy(meta)
    ft = meta.setdefault("finetune", {})
    ft["kind"] = ADAPTER_ONLY
    directory = Path(directory)
    base_abs = Path(base_dir).resolve()
    ft["base"] = {**ft.get("base", {}), "path": str(base_abs),
                  "relpath": os.path.relpath(base_abs, directory.resolve()), "sha256": base_sha256}
    ft["tensors"] = names
    return save_checkpoint(directory, {n: state[n] for n in names}, meta)


def save_merged_checkpoint(directory: str | os.PathLike, model: Any, meta: dict) -> Path:
    """Write the whole model with LoRA merged into the base weights (the live model is left unmerged)."""
    from ..io import save_checkpoint
    meta = copy.deepcopy(meta)
    ft = meta.setdefault("finetune", {})
    ft["kind"] = MERGED
    structure = dict(ft.get("structure") or {})
    layers = lora_layers(model)
    had_lora = bool(layers)
    state = model.state_dict()
    for name, layer in layers:  # merged values computed aside: the live model is not touched
        key = f"{name}.weight" if name else "weight"
        state[key] = layer.merged_weight().astype(state[key].dtype, copy=True)
    state = {k: v for k, v in state.items() if ".lora_A." not in k and ".lora_B." not in k
             and not k.startswith(("lora_A.", "lora_B."))}
    if had_lora:
        structure["lora_merged"] = structure.pop("lora", None)
        structure["lora"] = None
    ft["structure"] = structure
    return save_checkpoint(directory, state, meta)


def _resolve_base(path: Path, ft: dict, base: str | os.PathLike | None) -> Path:
    info = ft.get("base") or {}
    candidates = [Path(base)] if base is not None else []
    if info.get("path"):
        candidates.append(Path(info["path"]))
    if info.get("relpath"):
        candidates.append((path / info["relpath"]).resolve())
    for c in candidates:
        if _weights_file(c).is_file():
            return c
    where = " or ".join(dict.fromkeys(str(c) for c in candidates)) or "(none recorded)"   # each place once
    raise FinetuneCheckpointError(f"adapter checkpoint {path}: its base checkpoint is missing (looked in {where})")


def resolve_dir(path: str | os.PathLike) -> Path:
    """``path``, or ``path/best`` when ``path`` is a training run's folder, or ``path/merged`` (then
    ``path/adapter``) when it is a fine-tuning run's folder."""
    from ..io.atomic import recover_directory
    from ..io.checkpoint import META_FILE
    path = Path(path)
    if not (path / META_FILE).is_file():
        for sub in ("best", "merged", "adapter"):
            recover_directory(path / sub)           # a crash while it was being replaced: the old one back
            if (path / sub / META_FILE).is_file():
                return path / sub
    return path


def load_any(path: str | os.PathLike, expect: str | None = None):
    """Load a plain or a fine-tuned checkpoint; returns ``(model, meta)`` (model in eval mode)."""
    from ..io import read_meta
    path = resolve_dir(path)
    if is_finetune_checkpoint(read_meta(path)):
        return load_finetuned(path, expect=expect)
    from ..models.loading import load_model
    return load_model(path, expect=expect)


def _rebuild(model, structure: dict, path: Path) -> None:
    """``rebuild_structure`` with a malformed ``finetune.structure`` in meta.json reported in one line."""
    from ..models.loading import CheckpointMismatchError
    try:
        rebuild_structure(model, structure)
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:
        raise CheckpointMismatchError(f"checkpoint {path}: meta.json field finetune.structure does not describe "
                                      f"layers of this model ({type(exc).__name__}: {exc})") from None


def load_finetuned(path: str | os.PathLike, expect: str | None = None, base: str | os.PathLike | None = None):
    """Load a checkpoint written by ``scratchcnn finetune``; returns ``(model, meta)`` in eval mode.

    Args:
        path: the checkpoint folder.
        expect: a model name the checkpoint must hold.
        base: for an adapter-only checkpoint, use this base folder instead of the recorded one (its hash must
            still match).
    Raises:
        FinetuneCheckpointError / CheckpointMismatchError (ValueErrors): missing or different base, tensors that
        do not fit.
    """
    from ..io import file_sha256, load_checkpoint
    from ..models.loading import (CheckpointMismatchError, check_meta, check_state_dict, checkpoint_dtype,
                                  dtype_problems)
    from ..models.registry import get, list_models

    path = Path(path)
    state, meta = load_checkpoint(path)
    check_meta(path, meta)
    ft = meta.get("finetune")
    info = meta.get("model") if isinstance(meta.get("model"), dict) else None
    if not isinstance(ft, dict) or info is None or not isinstance(info.get("name"), str):
        raise CheckpointMismatchError(f"checkpoint {path} is not a fine-tuned model checkpoint (no 'finetune' "
                                      "and 'model' entries in meta.json)")
    name, cfg = info["name"], dict(info.get("config") or {})
    if expect is not None and name != expect:
        raise CheckpointMismatchError(f"checkpoint {path} holds model {name!r}, not {expect!r}")
    num_classes = int(cfg.pop("num_classes", 10))
    structure = ft.get("structure") or {}
    if not isinstance(structure, dict):
        raise CheckpointMismatchError(f"checkpoint {path}: meta.json field finetune.structure must be an object, "
                                      f"got {type(structure).__name__}")
    if ft.get("kind") == ADAPTER_ONLY:
        base_dir = _resolve_base(path, ft, base)
        want = (ft.get("base") or {}).get("sha256")
        have = file_sha256(_weights_file(base_dir))
        if want != have:
            raise FinetuneCheckpointError(
                f"adapter checkpoint {path} was trained on a different base: {base_dir} has SHA-256 "
                f"{have[:12]}..., the adapter expects {str(want)[:12]}... (wrong or modified base checkpoint)")
        model, _ = load_any(base_dir)
        if getattr(model, "model_name", None) != name:
            raise FinetuneCheckpointError(f"adapter checkpoint {path} is for model {name!r} but its base {base_dir} "
                                          f"holds {getattr(model, 'model_name', None)!r}")
        head = (ft.get("head") or {}).get("name")
        if head and model.get_submodule(head).out_features != num_classes:
            replace_head(model, head, num_classes)
        _rebuild(model, structure, path)
        own = model.state_dict()
        bad = [k for k in state if k not in own]
        shapes = [f"{k}: model {own[k].shape} vs checkpoint {np.shape(state[k])}" for k in state
                  if k in own and own[k].shape != np.shape(state[k])]
        dtypes = dtype_problems(own, state)
        if bad or shapes or dtypes:
            raise CheckpointMismatchError(f"adapter checkpoint {path} does not fit its base {base_dir}: "
                                          + "; ".join(([f"unexpected {', '.join(bad[:5])}"] if bad else [])
                                                      + shapes[:3] + dtypes[:3]))
        model.load_state_dict(state, strict=False)
    else:
        if name not in list_models():
            raise CheckpointMismatchError(f"checkpoint {path}: unknown model {name!r}; "
                                          f"available: {', '.join(list_models())}")
        model = get(name, num_classes=num_classes, **cfg)
        _rebuild(model, structure, path)
        if checkpoint_dtype(state) == np.float64:
            model.double()               # a float64 checkpoint stays float64: no silent rounding to float32
        check_state_dict(model, state, where=f"checkpoint {path}")
        model.load_state_dict(state)
    object.__setattr__(model, "model_name", name)
    object.__setattr__(model, "model_config", {"num_classes": num_classes, **cfg})
    model.eval()
    return model, meta
