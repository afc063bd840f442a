"""``train-text --ensemble K``: K models trained one after another with seeds ``seed, seed + 1, ...`` on the
same split and vocabulary; their softmax probabilities are averaged (``models.ensemble.Ensemble``).

Each member keeps its own best epoch on validation (``out/members/<k>/best``, with its history). The ensemble's
validation accuracy is measured on the averaged probabilities, and its checkpoint ``out/best`` holds all
members (``members.<k>.`` prefixed tensors in one ``model.safetensors``), so ``predict-text`` and ``evaluate``
use it like any text checkpoint. Test is evaluated once, for the ensemble (and, for information, each member).
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
    from ..train.metrics import summarize
    from ..train.trainer import evaluate_model

    size = cfg.ensemble
    members: list[dict] = []
    state: dict[str, np.ndarray] = {}
    loss_fn = None
    for k in range(size):
        seed = cfg.seed + k
        print(f"ensemble member {k + 1}/{size} (seed {seed})", file=sys.stderr)
        fit = fit_model(cfg, prep, out / "members" / str(k), seed, progress=progress, tensorboard=tensorboard,
                        extra_callbacks=extra_callbacks, extra_meta={"member": {"index": k, "of": size, "seed": seed}})
        state.update({f"members.{k}.{name}": arr for name, arr in fit.best_state.items()})
        members.append({"index": k, "seed": seed, "best_epoch": fit.best_epoch,
                        "val_accuracy": fit.best_logs.get("val_accuracy"), "epochs": fit.trainer.epoch,
                        "train_seconds": float(sum(h.get("seconds", 0.0) for h in fit.trainer.history)),
                        "checkpoint": str(fit.best_dir)})
        loss_fn = fit.loss_fn
        del fit

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
                      selected_on="val_accuracy (each member's best epoch)", metrics=metrics)
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
