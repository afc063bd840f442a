"""``evaluate_checkpoint``: a saved model on a dataset split -> accuracy, macro P/R/F1, confusion matrix."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..data import ArrayDataset

__all__ = ["evaluate_checkpoint", "checkpoint_normalization", "checkpoint_data", "check_class_names"]


def checkpoint_normalization(meta: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean, std)`` recorded in a checkpoint's meta, or None when it has none."""
    norm = meta.get("normalization") or {}
    mean, std = norm.get("mean"), norm.get("std")
    if mean is None or std is None:
        return None
    return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def check_class_names(meta: dict, ds: ArrayDataset, checkpoint: str | Path | None = None) -> None:
    """ValueError when ``ds`` is another dataset than the checkpoint's (``meta["dataset"]``) and its classes
    are not the checkpoint's ``class_names`` (names or order differ): the model's outputs would be scored, and
    reported, under another dataset's classes. On its own dataset ``class_names`` may relabel the classes."""
    names = meta.get("class_names")
    trained = meta.get("dataset")
    if not names or [str(n) for n in names] == [str(c) for c in ds.classes]:
        return
    if trained and ds.name and _canonical(trained) == _canonical(ds.name):
        return
    where = f"checkpoint {checkpoint}" if checkpoint else "the checkpoint"
    data = ds.name or "the dataset"
    if meta.get("class_subset") is not None:
        data = f"classes {[int(c) for c in meta['class_subset']]} of {data}"
    raise ValueError(f"{where} predicts classes {_names(names)}{f' ({trained})' if trained else ''} but {data} "
                     f"has classes {_names(ds.classes)}; evaluate it on a dataset with its classes"
                     + (f" (--dataset {trained})" if trained else ""))


def _canonical(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


def _names(names, most: int = 12) -> str:
    shown = ", ".join(str(n) for n in list(names)[:most])
    return f"[{shown}{', ...' if len(names) > most else ''}]"


def checkpoint_data(meta: dict, dataset=None, split: str = "test", data_dir: str | Path | None = None,
                    limit: int | None = None, download: bool = True, checkpoint: str | Path | None = None):
    """The data a checkpoint is evaluated on: ``dataset`` (a registered name, default the checkpoint's, or an
    ``ArrayDataset`` used as given), for a checkpoint with ``class_subset`` (from ``scratchcnn finetune``) only
    those classes, relabelled ``0..K-1`` in that order, then the first ``limit`` images of what is left. A registered
    dataset other than the checkpoint's whose classes are not its ``class_names`` is refused (``check_class_names``)."""
    from ..data import ArrayDataset, load_dataset, select_classes

    if isinstance(dataset, ArrayDataset):
        ds = dataset
    else:
        name = dataset or meta.get("dataset")
        if not name:
            where = f"checkpoint {checkpoint}" if checkpoint else "the checkpoint"
            raise ValueError(f"{where} does not say which dataset it was trained on; pass --dataset")
        ds = load_dataset(str(name), split, data_dir=data_dir, download=download)
        subset = meta.get("class_subset")
        if subset is not None:  # a model fine-tuned on some classes: keep those, relabelled 0..K-1 in its order
            ds = select_classes(ds, [int(c) for c in subset])
        check_class_names(meta, ds, checkpoint)
    if limit is not None:
        if int(limit) < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        ds = ds.subset(np.arange(min(int(limit), len(ds))))
    return ds


def evaluate_checkpoint(checkpoint: str | Path, dataset: str | ArrayDataset | None = None, split: str = "test",
                        data_dir: str | Path | None = None, batch_size: int = 500,
                        limit: int | None = None) -> dict:
    """Evaluate the model in ``checkpoint`` on ``dataset``/``split`` (default: the dataset it was trained on;
    an ``ArrayDataset`` is used as given, e.g. a run's validation split).

    A checkpoint whose meta has ``class_subset`` (dataset class indices, from ``scratchcnn finetune``) is
    evaluated on those classes only, relabelled ``0..K-1`` in that order.

    Returns ``{"accuracy", "precision", "recall", "f1" (macro), "loss", "per_class", "confusion_matrix",
    "num_samples", "dataset", "split", "checkpoint", "model", "class_names"}``.
    """
    from ..data import DataLoader
    from ..models import load_model
    from ..nn import CrossEntropyLoss
    from .metrics import summarize
    from .trainer import evaluate_model

    model, meta = load_model(checkpoint)
    ds = checkpoint_data(meta, dataset, split, data_dir, limit, checkpoint=checkpoint)
    name = (ds.name or "dataset") if hasattr(dataset, "images") else (dataset or meta.get("dataset"))
    num_classes = int(meta["model"]["config"].get("num_classes", 10))
    if ds.num_classes != num_classes:
        raise ValueError(f"checkpoint {checkpoint} predicts {num_classes} classes but {name} has {ds.num_classes}")
    norm = checkpoint_normalization(meta)
    loader = DataLoader(ds, batch_size=batch_size, normalize=norm if norm is not None else True)
    ev = evaluate_model(model, loader, CrossEntropyLoss(), return_predictions=True)
    out = summarize(ev["y_true"], ev["y_pred"], num_classes)
    out.update({"loss": ev["loss"], "dataset": name, "split": ds.split or split, "checkpoint": str(checkpoint),
                "model": meta["model"]["name"], "class_names": list(meta.get("class_names") or ds.classes)})
    return out
