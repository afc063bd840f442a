"""``train-text --ensemble K``: K models trained one after another with seeds ``seed, seed + 1, ...`` on the
same split and vocabulary; their softmax probabilities are averaged (``models.ensemble.Ensemble``).

Each member keeps its own best epoch on validation (``out/members/<k>/best``, with its history). A member
already trained there with the same settings and seed (all epochs run) is reused, so an interrupted run resumes
and ``--ensemble 10`` into the folder of an ``--ensemble 5`` run trains only members 5-9 (training is
deterministic: a reused member is the one that would be trained).

The ensemble's validation accuracy is measured on the averaged probabilities, and its checkpoint ``out/best``
holds all members (``members.<k>.`` prefixed tensors in one ``model.safetensors``), so ``predict-text`` and
``evaluate`` use it like any text checkpoint. Test is evaluated once, for the ensemble (and, for information, each member).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .config import TextTrainConfig
from .fit import PreparedText, common_result, fit_model, make_loader, model_config

__all__ = ["train_ensemble"]

_PER_RUN = ("ensemble",)  # settings that may differ between the run that trained a member and the one reusing it


def _finished_member(cfg: TextTrainConfig, folder: Path, seed: int,
                     prep: PreparedText | None = None) -> tuple[dict, dict] | None:
    """``(best_state, info)`` of a member already trained in ``folder`` with the same settings and seed that ran
    all its epochs (an interrupted or early-stopped one is retrained), else None. With ``prep``, the member must
    also have been trained on the same data: the same split, classes, tokenizer and vocabulary (the corpus file
    may have changed under the same path, and then its weights index another vocabulary)."""
    from ..io import load_checkpoint, read_meta
    try:
        meta = read_meta(folder / "best")
        history = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    mine = {k: v for k, v in cfg.to_dict().items() if k not in _PER_RUN}
    try:   # settings added since the member was trained read as their defaults (what it was trained with)
        theirs = TextTrainConfig.from_dict(dict(meta.get("train_config") or {})).to_dict()
    except (TypeError, ValueError):
        return None
    theirs = {k: v for k, v in theirs.items() if k not in _PER_RUN}
    if theirs != mine or (meta.get("member") or {}).get("seed") != seed or len(history) != cfg.epochs_run:
        return None
    if prep is not None:
        now = prep.meta(cfg)
        if any(meta.get(k) != now[k] for k in ("class_names", "tokenizer", "vocab")) \
                or (meta.get("data") or {}).get("split") != now["data"]["split"]:
            return None
    state, meta = load_checkpoint(folder / "best")
    best = next((h for h in history if h.get("epoch") == meta.get("epoch")), {})
    return state, {"best_epoch": meta.get("epoch"), "val_accuracy": best.get("val_accuracy"),
                   "epochs": len(history), "train_seconds": float(sum(h.get("seconds", 0.0) for h in history)),
                   "reused": True}


def train_ensemble(cfg: TextTrainConfig, prep: PreparedText, out: Path, progress: bool = True,
                   tensorboard: bool = False, extra_callbacks: Iterable[Any] = ()) -> dict:
    """Train ``cfg.ensemble`` members and save the ensemble; returns ``train_text``'s result dict, where
    ``best_epoch`` is the list of the members' best epochs, plus ``ensemble`` (K) and ``members`` (per member:
    index, seed, best epoch, validation and test accuracy, checkpoint)."""
    from ..io import save_checkpoint
    from ..io.atomic import atomic_write_text
    from ..models import ensemble as _ensemble  # noqa: F401 - registers the "ensemble" model
    from ..models import get as get_model
    from ..models.loading import model_meta
    from ..nn import CrossEntropyLoss
    from ..train.metrics import summarize
    from ..train.trainer import evaluate_model

    size = cfg.ensemble
    members: list[dict] = []
    state: dict[str, np.ndarray] = {}
    for k in range(size):
        seed = cfg.seed + k
        folder = out / "members" / str(k)
        done = _finished_member(cfg, folder, seed, prep)
        if done is not None:
            print(f"ensemble member {k + 1}/{size} (seed {seed}): reusing {folder} (same settings, finished)",
                  file=sys.stderr)
            best_state, info = done
        else:
            print(f"ensemble member {k + 1}/{size} (seed {seed})", file=sys.stderr)
            fit = fit_model(cfg, prep, folder, seed, progress=progress, tensorboard=tensorboard,
                            extra_callbacks=extra_callbacks, extra_meta={"member": {"index": k, "seed": seed}})
            best_state = fit.best_state
            info = {"best_epoch": fit.best_epoch, "val_accuracy": fit.best_logs.get("val_accuracy"),
                    "epochs": fit.trainer.epoch,
                    "train_seconds": float(sum(h.get("seconds", 0.0) for h in fit.trainer.history))}
            del fit
        state.update({f"members.{k}.{name}": arr for name, arr in best_state.items()})
        members.append({"index": k, "seed": seed, **info, "checkpoint": str(folder / "best")})
    loss_fn = CrossEntropyLoss()       # evaluation loss: plain cross-entropy, as `scratchcnn evaluate` reports

    model = get_model("ensemble", num_classes=len(prep.classes), member=cfg.model,
                      member_config=model_config(cfg, len(prep.vocab)), size=size)
    model.load_state_dict(state)
    model.eval()
    val_loader = make_loader(*prep.encoded["val"], model, cfg.eval_batch_size)
    test_loader = make_loader(*prep.encoded["test"], model, cfg.eval_batch_size)
    val = evaluate_model(model, val_loader, loss_fn) if len(val_loader.seqs) else {}
    ev = evaluate_model(model, test_loader, loss_fn, return_predictions=True)
    test = summarize(ev["y_true"], ev["y_pred"], len(prep.classes))
    test["loss"] = ev["loss"]
    for info, member in zip(members, model.members):
        info["test_accuracy"] = evaluate_model(member, test_loader)["accuracy"]

    metrics = {"val_accuracy": val.get("accuracy"), "val_loss": val.get("loss"), "test_accuracy": test["accuracy"],
               "test_loss": test["loss"], "test_f1": test["f1"]}
    meta = model_meta(model, **prep.meta(cfg), ensemble={"size": size, "members": members},
                      selected_on="val_accuracy (each member's best epoch)" if val else "epoch (each member's last)",
                      metrics=metrics)
    best_dir = out / "best"
    save_checkpoint(best_dir, model.state_dict(), meta)
    atomic_write_text(out / "test_metrics.json", json.dumps(test, indent=1) + "\n")
    return {
        "test_accuracy": test["accuracy"],
        "val_accuracy": val.get("accuracy"),
        "best_epoch": [m["best_epoch"] for m in members],
        "epochs": max(m["epochs"] for m in members),
        "train_seconds": float(sum(m["train_seconds"] for m in members)),
        "checkpoint": str(best_dir),
        "history": [str(Path(m["checkpoint"]).parent / "history.json") for m in members],
        **common_result(cfg, prep, model, out),
        "ensemble": size,
        "members": members,
        "test": {k: test[k] for k in ("accuracy", "loss", "precision", "recall", "f1")},
    }
