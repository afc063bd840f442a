"""Pictures of a training run, from the files ``scratchcnn train --out RUN_DIR`` writes: ``history.json``
(per-epoch loss/accuracy/lr), ``test_metrics.json`` (accuracy, macro P/R/F1, confusion matrix), ``best/`` (the
best checkpoint; its ``meta.json`` holds the class names, the dataset and the run's configuration) and
``last/trainer_state.json``. Also the gallery of misclassified test images of a checkpoint.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .figure import Picture, new_figure, save_figure
from .modelio import class_names, quiet_overflow, resolve_model

__all__ = ["RunInfo", "read_run", "plot_curves", "plot_confusion", "curves_figure", "confusion_figure",
           "find_mistakes", "plot_mistakes"]

PathLike = str | os.PathLike


@dataclass
class RunInfo:
    """What a run folder holds (missing files give None / empty)."""

    path: Path
    history: list[dict] = field(default_factory=list)
    test_metrics: dict | None = None
    meta: dict | None = None              # best/meta.json
    config: dict = field(default_factory=dict)
    checkpoint: Path | None = None
    finetune: dict | None = None          # result.json of a `scratchcnn finetune --out DIR` folder

    @property
    def class_names(self) -> list[str]:
        names = (self.meta or {}).get("class_names")
        if names:
            return [str(n) for n in names]
        cm = (self.test_metrics or {}).get("confusion_matrix") or []
        return [str(i) for i in range(len(cm))]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); expected the {what} written by `scratchcnn train`") from None


def read_run(run_dir: PathLike) -> RunInfo:
    """Read a run folder; ValueError when it is not one (none of the files ``scratchcnn train`` writes)."""
    p = Path(run_dir)
    if not p.is_dir():
        raise ValueError(f"run folder {p} does not exist or is not a folder")
    info = RunInfo(path=p)
    if (p / "history.json").is_file():
        hist = _read_json(p / "history.json", "per-epoch history")
        if not isinstance(hist, list) or not all(isinstance(h, dict) for h in hist):
            raise ValueError(f"{p / 'history.json'} should hold a list of per-epoch records")
        info.history = hist
    if (p / "test_metrics.json").is_file():
        tm = _read_json(p / "test_metrics.json", "test metrics")
        if not isinstance(tm, dict):
            raise ValueError(f"{p / 'test_metrics.json'} should hold a JSON object")
        info.test_metrics = tm
    from ..io import read_meta
    if (p / "best" / "meta.json").is_file():
        info.meta = read_meta(p / "best")
        info.checkpoint = p / "best"
        info.config = dict(info.meta.get("train_config") or {})
    if (p / "result.json").is_file():       # a `scratchcnn finetune --out DIR` folder
        res = _read_json(p / "result.json", "fine-tuning result")
        if isinstance(res, dict) and "strategy" in res:
            _read_finetune(info, res)
    state = p / "last" / "trainer_state.json"
    if not info.config and state.is_file():
        st = _read_json(state, "trainer state")
        if isinstance(st, dict):
            info.config = dict(st.get("config") or {})
    if not info.history and info.test_metrics is None and info.meta is None:
        raise ValueError(f"{p} does not look like a training run folder (no history.json, test_metrics.json or "
                         "best/meta.json; `scratchcnn train --out DIR` writes them)")
    return info


def _read_finetune(info: RunInfo, res: dict) -> None:
    """Fill ``info`` from a fine-tuning folder: ``result.json`` (test accuracy, settings) and its checkpoint
    (``merged/``, a plain model, else the adapter-only ``adapter/``)."""
    import ast

    from ..io import read_meta
    p = info.path
    info.finetune = res
    if info.meta is None:
        for sub in ("merged", "adapter"):
            if (p / sub / "meta.json").is_file():
                info.meta = read_meta(p / sub)
                info.checkpoint = p / sub
                break
    if info.test_metrics is None:
        tm = {}
        for key, name in (("accuracy", "accuracy"), ("old_accuracy", "old-class accuracy"),
                          ("new_accuracy", "new-class accuracy"), ("num_test", "num_samples")):
            v = res.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                tm[name] = v
        info.test_metrics = tm or None
    if not info.config:
        cfg = res.get("config")
        if isinstance(cfg, str):       # older result.json files hold the settings as a Python repr
            try:
                cfg = ast.literal_eval(cfg)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                cfg = None
        config = {"strategy": res.get("strategy")}
        config.update(cfg if isinstance(cfg, dict) else {})
        for key in ("dataset", "num_train", "num_test", "epochs", "lr", "trainable_params", "total_params"):
            if res.get(key) is not None:      # what the run used (the settings hold None for "the default")
                config[key] = res[key]
        base = res.get("base")
        if isinstance(base, dict) and base.get("path"):
            config.setdefault("base_checkpoint", base["path"])
        info.config = config


# ----------------------------------------------------------------------------------------------- curves
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_history(history: list[dict], source: str) -> None:
    """ValueError unless some record holds a numeric (validation) loss or accuracy, and every value drawn is a
    number: an empty figure, or one of strings on a category axis, is no picture of a run."""
    drawn = ("loss", "val_loss", "accuracy", "val_accuracy", "lr")
    for i, h in enumerate(history):
        bad = next((k for k in ("epoch", *drawn) if h.get(k) is not None and not _is_number(h[k])), None)
        if bad is not None:
            raise ValueError(f"{source}: record {i + 1} has {bad} {h[bad]!r}, expected a number")
    if not any(h.get(k) is not None for h in history for k in drawn[:4]):
        raise ValueError(f"{source} has no loss or accuracy values")


def curves_figure(history: list[dict], best_epoch: int | None = None, title: str = "training curves",
                  source: str = "the history"):
    """Loss, accuracy (train and validation) and, when recorded, the learning rate per epoch from per-epoch
    records; ``best_epoch`` dashed. Returns ``(figure, info)``; ``4.0 * panels x 3.8`` inches.

    Raises ValueError (naming ``source``, e.g. the ``history.json`` path) when there is no record, no numeric
    loss or accuracy in them, or a value that is not a number."""
    from matplotlib.ticker import MaxNLocator
    if not history:
        raise ValueError(f"{source} has no per-epoch records to draw curves from")
    _check_history(history, source)
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    panels = [("loss", "loss"), ("accuracy", "accuracy")]
    if any("lr" in h for h in history):
        panels.append(("lr", "learning rate (end of epoch)"))
    fig = new_figure(4.0 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, name) in zip(axes, panels):
        for k, lab in ((key, "train"), (f"val_{key}", "validation")):
            pts = [(e, h[k]) for e, h in zip(epochs, history) if h.get(k) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=lab if key != "lr" else None)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="gray", ls="--", lw=1, label="best epoch" if key != "lr" else None)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        if key != "lr" and ax.get_legend_handles_labels()[0]:   # a panel without lines gets no empty legend
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig, {"epochs": len(history), "panels": [k for k, _ in panels]}


def _curves_figure(run: RunInfo):
    if not run.history:
        raise ValueError(f"run folder {run.path} has no history.json (per-epoch records) to draw curves from")
    name = (run.meta or {}).get("model", {}).get("name") or run.config.get("model", "")
    return curves_figure(run.history, (run.meta or {}).get("epoch"),
                         f"training curves: {name} on {run.config.get('dataset', '?')} ({run.path.name})",
                         source=str(run.path / "history.json"))


def plot_curves(run_dir: PathLike, out: PathLike = "curves.png") -> Picture:
    """Loss, accuracy (train and validation) and learning rate per epoch from ``RUN_DIR/history.json``; the best
    epoch (the checkpoint's) dashed. Size: ``400 * panels x 380`` pixels (3 panels when the lr is recorded)."""
    fig, info = _curves_figure(read_run(run_dir))
    return save_figure(fig, out, **info)


# ----------------------------------------------------------------------------------------------- confusion
def confusion_figure(cm: Any, class_names: list[str] | None = None, title: str | None = None):
    """A confusion matrix (rows: true class, columns: predicted) with the counts written in and the cells
    coloured by the fraction of each true class. Returns ``(figure, info)``; ``(s + 1) x s`` inches with
    ``s = max(5, 1.6 + 0.55 * classes)``. ``title`` defaults to the number of images."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"confusion_matrix must be square, got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.number) or (cm < 0).any() or (cm != np.round(cm)).any():
        raise ValueError("confusion_matrix must hold counts (non-negative integers)")
    cm = cm.astype(np.int64)
    k = cm.shape[0]
    names = [str(n) for n in class_names] if class_names is not None and len(class_names) == k \
        else [str(i) for i in range(k)]
    side = max(5.0, 1.6 + 0.55 * k)
    fig = new_figure(side + 1.0, side)
    ax = fig.subplots(1, 1)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(k), labels=[n[:12] for n in names], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels=[n[:12] for n in names], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7 if k <= 12 else 5,
                    color="white" if frac[i, j] > 0.5 else "black")
    ax.set_title(title if title is not None else f"confusion matrix on {int(cm.sum())} images", fontsize=10)
    return fig, {"classes": k, "samples": int(cm.sum())}


def _confusion_figure(run: RunInfo):
    tm = run.test_metrics
    if run.finetune is not None and (not tm or "confusion_matrix" not in tm):
        raise ValueError(f"{run.path} is a `scratchcnn finetune` folder: its result.json records the test accuracy "
                         "but no confusion matrix (run `scratchcnn evaluate` on its checkpoint for one)")
    if not tm or "confusion_matrix" not in tm:
        raise ValueError(f"run folder {run.path} has no test_metrics.json with a confusion matrix "
                         "(written at the end of `scratchcnn train`)")
    cm = np.asarray(tm["confusion_matrix"])
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"{run.path / 'test_metrics.json'}: confusion_matrix must be square, got shape {cm.shape}")
    acc = tm.get("accuracy")
    return confusion_figure(cm, run.class_names, f"confusion matrix on {int(cm.sum())} test images"
                            + (f" (accuracy {acc:.4f})" if isinstance(acc, (int, float)) else ""))


def plot_confusion(run_dir: PathLike, out: PathLike = "confusion.png") -> Picture:
    """The test confusion matrix of a run (``RUN_DIR/test_metrics.json``): counts written in, cells coloured by
    the fraction of each true class. Size: ``100*(s+1) x 100*s`` pixels with ``s = max(5, 1.6 + 0.55*classes)``."""
    fig, info = _confusion_figure(read_run(run_dir))
    return save_figure(fig, out, **info)


# ----------------------------------------------------------------------------------------------- mistakes
def find_mistakes(model: Any, meta: dict, dataset: Any = None, split: str = "test",
                  data_dir: PathLike | None = None, limit: int | None = None, download: bool = True) -> dict:
    """Classify a dataset split with ``model`` and return the misclassified samples, most confident first:
    ``{"indices", "true", "pred", "probability", "images" (k, H, W[, C]) in [0, 1], "total", "accuracy",
    "dataset", "split", "class_names"}``. ``download``: fetch a registered dataset that is not on disk."""
    from ..train.evaluate import checkpoint_data, checkpoint_normalization
    from ..train.predict import predict_arrays
    if meta.get("task") == "text-classification" and not hasattr(dataset, "images"):
        name = (meta.get("model") or {}).get("name", "model")
        raise ValueError(f"{name} is a text classifier: the gallery of misclassified images is for image models "
                         "(seed000, seed001, lenet5); use `scratchcnn predict-text` for texts")
    ds = checkpoint_data(meta, dataset, split, data_dir, limit, download)
    probe = ds.images[:1].astype(np.float32)
    from .. import no_grad
    from ..tensor import Tensor
    with no_grad(), quiet_overflow():   # NaN/inf outputs: predict_arrays below refuses them in one line
        n_out = int(model(Tensor((probe[:, None] if probe.ndim == 3 else probe))).shape[-1])
    if ds.num_classes != n_out:
        raise ValueError(f"the model predicts {n_out} classes but dataset {ds.name or 'given'} has {ds.num_classes}")
    norm = checkpoint_normalization(meta)
    if norm is None:
        mean = np.atleast_1d(ds.mean if ds.mean is not None else 0.0)
        std = np.atleast_1d(ds.std if ds.std is not None else 1.0)
    else:
        mean, std = norm
    imgs = ds.images.astype(np.float32) / (255.0 if ds.images.dtype == np.uint8 else 1.0)
    preds = predict_arrays(model, imgs, mean, std, top_k=1)
    pred = np.array([p["index"] for p in preds], dtype=np.int64)
    prob = np.array([p["probability"] for p in preds])
    wrong = np.flatnonzero(pred != ds.labels)
    wrong = wrong[np.argsort(-prob[wrong], kind="stable")]
    shown = imgs[wrong]
    if shown.ndim == 4:
        shown = shown[:, 0] if shown.shape[1] == 1 else np.moveaxis(shown, 1, -1)
    return {"indices": wrong, "true": ds.labels[wrong], "pred": pred[wrong], "probability": prob[wrong],
            "images": shown, "total": int(len(ds)), "accuracy": float((pred == ds.labels).mean()) if len(ds) else 0.0,
            "dataset": ds.name or "dataset", "split": ds.split or split,
            "class_names": class_names(meta, ds.num_classes) if meta.get("class_names") else list(ds.classes)}


def _mistakes_figure(model: Any, meta: dict, label: str, dataset: Any, split: str, data_dir: PathLike | None,
                     limit: int | None, max_images: int, download: bool = True):
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    m = find_mistakes(model, meta, dataset, split, data_dir, limit, download)
    names = m["class_names"]
    n_wrong, k = len(m["indices"]), min(len(m["indices"]), max_images)
    head = (f"{label}: {n_wrong} of {m['total']} {m['dataset']} {m['split']} images misclassified "
            f"(accuracy {m['accuracy']:.4f})")
    if k == 0:
        fig = new_figure(8.0, 1.6)
        ax = fig.subplots(1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, f"no misclassified images among the {m['total']} examined", ha="center", va="center",
                fontsize=12)
        fig.suptitle(head, fontsize=10)
    else:
        ncols = min(8, k)
        nrows = math.ceil(k / ncols)
        fig = new_figure(1.3 * ncols + 0.4, 1.5 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for idx in range(nrows * ncols):
            ax = axes[idx // ncols][idx % ncols]
            ax.set_xticks([])
            ax.set_yticks([])
            if idx >= k:
                ax.axis("off")
                continue
            img = m["images"][idx]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            t, p = names[m["true"][idx]], names[m["pred"][idx]]
            ax.set_title(f"true {t[:10]}, pred {p[:10]}\np={m['probability'][idx]:.2f}  #{m['indices'][idx]}",
                         fontsize=7, color="firebrick")
        fig.suptitle(head + (f"; the {k} most confident mistakes" if k < n_wrong else ""), fontsize=9)
    info = {"misclassified": n_wrong, "shown": k, "examined": m["total"], "accuracy": m["accuracy"],
            "dataset": m["dataset"], "split": m["split"],
            "examples": [{"index": int(i), "true": names[t], "pred": names[p], "probability": float(q)}
                         for i, t, p, q in zip(m["indices"][:k], m["true"][:k], m["pred"][:k], m["probability"][:k])]}
    return fig, info


def plot_mistakes(checkpoint: Any, dataset: Any = None, out: PathLike = "mistakes.png", split: str = "test",
                  data_dir: PathLike | None = None, limit: int | None = None, max_images: int = 32) -> Picture:
    """A gallery of misclassified images (most confident mistakes first) with true and predicted labels.

    ``dataset``: a registered name (default: the checkpoint's) or an ``ArrayDataset``; ``limit``: examine only
    the first N images. Size: ``(130*cols + 40) x (150*rows + 60)`` pixels, 8 images per row."""
    model, meta, label = resolve_model(checkpoint)
    fig, info = _mistakes_figure(model, meta, label, dataset, split, data_dir, limit, max_images)
    return save_figure(fig, out, **info)
