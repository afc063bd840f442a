"""Text classification end to end: ``train_text`` (behind ``scratchcnn train-text``), ``evaluate_text_checkpoint``
(behind ``scratchcnn evaluate`` for text checkpoints) and ``predict_texts`` (behind ``scratchcnn predict-text``).

Output folder of a run::

    out/best/            model.safetensors + meta.json of the best epoch on validation (+ test metrics);
                         meta.json holds the tokenizer, vocabulary, max length, class names and data split
    out/history.json|csv per-epoch loss/accuracy/lr/time
    out/test_metrics.json

With ``--ensemble K`` (``ensemble.py``) each member is such a run folder, ``out/members/<k>/``, and
``out/best/`` holds the ensemble (all members' weights, ``members.<k>.`` prefixed) with the same meta entries.

A new run refuses an ``out`` that already holds something (``overwrite``: it is emptied once the corpus is
prepared), except an ensemble run's folder given to an ensemble run (its finished members are reused), and an
``out`` it cannot write (one line before any work). A run that fails or is stopped by Ctrl-C / SIGTERM removes what
it wrote, so no half run is left (a single model cannot be resumed); an ensemble keeps ``out/members/`` for the
same command to continue. ``meta.json`` records the split's SHA-256 (``data.split_sha256``): ``evaluate`` refuses
a corpus that no longer splits as it did for training.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..tensor import Tensor
from .config import TextTrainConfig
from .fit import TASK, common_result, fit_model, make_loader, model_config, prepare_splits, prepare_text
from .loader import encode_texts, pad_batch
from .tokenize import Tokenizer, get_tokenizer
from .vocab import Vocab

__all__ = ["train_text", "prepare_splits", "evaluate_text_checkpoint", "predict_texts", "load_text_model",
           "is_text_checkpoint", "find_text_checkpoint", "TASK"]

def train_text(config: TextTrainConfig, out_dir: str | Path | None = None, progress: bool = True,
               tensorboard: bool = False, extra_callbacks: Iterable[Any] = (), overwrite: bool = False) -> dict:
    """Train a text classifier (or, with ``config.ensemble`` K > 1, an ensemble of K); returns a JSON-ready
    result dict.

    The best epoch is chosen on the validation split; only its checkpoint is evaluated on the test split.
    A non-empty ``out_dir`` is refused unless ``overwrite`` (what it holds is then deleted once the corpus is
    prepared) or it holds an ensemble run that an ensemble run continues. A run that fails or is interrupted
    (Ctrl-C: ``RunInterrupted``) removes what it wrote to ``out_dir`` (an ensemble keeps its ``members/``).
    Returns ``{"test_accuracy", "val_accuracy", "best_epoch", "epochs", "seconds", "checkpoint", "classes",
    "num_train", "num_val", "num_test", "split", "vocab_size", "tokenizer", "truncated", "test": {...}, ...}``.
    """
    from ..io.outdir import (OutputGuard, check_new_output_folder, check_output_folder, make_output_folder,
                             write_error, write_fix)

    cfg = config
    cfg.validate()
    if not cfg.data:
        raise ValueError("train-text: give the data with --data PATH (a folder of <label>.txt files or a "
                         "CSV/TSV/JSONL file)")
    _check_model_settings(cfg)
    t_start = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else \
        Path("runs") / f"{cfg.model}-{Path(cfg.data).stem or 'text'}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_output_folder(out, "train-text")
    continues = cfg.ensemble > 1 and (out / "members").is_dir()    # an ensemble reuses its finished members
    check_new_output_folder(out, "train-text", overwrite or continues)
    # a failed or interrupted run takes back what it wrote; an ensemble's members/ lets the same command go on
    guard = OutputGuard(out, snapshot="members" if cfg.ensemble > 1 else None)
    try:
        with guard:
            make_output_folder(out, "train-text")
            prep = prepare_text(cfg)
            if overwrite:
                guard.clear()   # the corpus is ready: the new run replaces what the folder held
            if cfg.ensemble > 1:
                from .ensemble import train_ensemble
                res = train_ensemble(cfg, prep, out, progress=progress, tensorboard=tensorboard,
                                     extra_callbacks=extra_callbacks)
            else:
                res = _train_one(cfg, prep, out, progress, tensorboard, extra_callbacks)
    except KeyboardInterrupt as exc:
        raise _interrupted(exc, out) from None
    except OSError as exc:
        better = write_error(exc, out, "train-text", lambda e=exc: _members_kept(out, write_fix(e.errno)))
        if better is not None:
            raise better from None
        raise
    res["seconds"] = time.perf_counter() - t_start
    return res


def _members_kept(out: Path, fix: str = "") -> str | None:
    """What an ensemble run stopped early kept (``out/members``) and how to go on (after ``fix``), or None when
    nothing was kept."""
    if not (out / "members").is_dir():
        return None
    return (f"the ensemble members trained so far are kept in {out / 'members'}: {fix + ', then ' if fix else ''}"
            "run the same command again to continue (finished members are reused)")


def _interrupted(exc: KeyboardInterrupt, out: Path) -> KeyboardInterrupt:
    """The one line for a run stopped by Ctrl-C or SIGTERM (a ``RunInterrupted``): what was kept, what to do."""
    import os

    from ..train.interrupt import RunInterrupted, Terminated
    if isinstance(exc, RunInterrupted):
        return exc
    how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    kept = _members_kept(out)
    if kept is None:
        gone = f"{out} removed" if not os.path.lexists(out) else f"what it wrote in {out} removed"
        kept = f"nothing was kept ({gone}; a train-text run cannot be resumed): run the same command again"
    return RunInterrupted(f"{how}; {kept}", terminated=isinstance(exc, Terminated))


def _check_model_settings(cfg: TextTrainConfig) -> None:
    """Build a charcnn once on a stand-in vocabulary, so that a ``--max-len`` too short for its windows and pools
    (or a ``model_config`` it refuses) is reported before the corpus is read and warned about."""
    if cfg.model == "charcnn":
        from ..models import get as get_model
        get_model(cfg.model, num_classes=2, **model_config(cfg, 3))


def _train_one(cfg: TextTrainConfig, prep: Any, out: Path, progress: bool, tensorboard: bool,
               extra_callbacks: Iterable[Any]) -> dict:
    """Fit one model on ``prep``, test its best epoch and save; ``train_text``'s result (without ``seconds``)."""
    from ..io import save_checkpoint
    from ..io.atomic import atomic_write_text
    from ..nn import CrossEntropyLoss
    from ..train.metrics import summarize
    from ..train.trainer import evaluate_model

    fit = fit_model(cfg, prep, out, cfg.seed, progress=progress, tensorboard=tensorboard,
                    extra_callbacks=extra_callbacks)
    model, trainer, best_dir = fit.model, fit.trainer, fit.best_dir
    test_loader = make_loader(*prep.encoded["test"], model, cfg.eval_batch_size)
    ev = evaluate_model(model, test_loader, CrossEntropyLoss(), return_predictions=True)   # plain, as evaluate
    test = summarize(ev["y_true"], ev["y_pred"], len(prep.classes))
    test["loss"] = ev["loss"]
    best_meta = fit.best_meta
    best_meta["metrics"] = {**dict(best_meta.get("metrics") or {}), "test_accuracy": test["accuracy"],
                            "test_loss": test["loss"], "test_f1": test["f1"]}
    save_checkpoint(best_dir, fit.best_state, best_meta)
    atomic_write_text(out / "test_metrics.json", json.dumps(test, indent=1) + "\n")
    return {
        "test_accuracy": test["accuracy"],
        "val_accuracy": fit.best_logs.get("val_accuracy"),
        "best_epoch": fit.best_epoch,
        "epochs": trainer.epoch,
        "train_seconds": float(sum(h.get("seconds", 0.0) for h in trainer.history)),
        "checkpoint": str(best_dir),
        "history": str(out / "history.json"),
        **common_result(cfg, prep, model, out),
        "test": {k: test[k] for k in ("accuracy", "loss", "precision", "recall", "f1")},
    }


# ---------------------------------------------------------------------------------------------- using checkpoints
def is_text_checkpoint(meta: dict) -> bool:
    """True when a checkpoint's ``meta.json`` describes a text classifier."""
    return isinstance(meta, dict) and meta.get("task") == TASK


def find_text_checkpoint(path: str | Path) -> Path | None:
    """``path`` (or its ``best/`` folder, for a run folder) when it is a text checkpoint, else None."""
    from ..io import read_meta
    for d in (Path(path), Path(path) / "best"):
        if (d / "meta.json").is_file():
            try:
                return d if is_text_checkpoint(read_meta(d)) else None
            except ValueError:
                return None
    return None


def load_text_model(checkpoint: str | Path, verb: str = "predict-text") -> tuple[Any, dict, Tokenizer, Vocab]:
    """``(model, meta, tokenizer, vocab)`` of a text checkpoint; other checkpoints are a clear error."""
    from ..io import read_meta
    from ..models import ensemble as _ensemble  # noqa: F401 - registers the "ensemble" model
    from ..models import load_model
    checkpoint = Path(checkpoint)
    if not (checkpoint / "meta.json").is_file() and (checkpoint / "best" / "meta.json").is_file():
        checkpoint = checkpoint / "best"  # a run folder means its best checkpoint
    meta = read_meta(checkpoint)
    if not is_text_checkpoint(meta):
        from ..models.loading import check_meta, input_kind
        info = meta.get("model") if isinstance(meta.get("model"), dict) else {}
        name = info.get("name", "?")
        if input_kind(str(name), info.get("config")) == "tokens":
            check_meta(checkpoint, meta)    # a text model without its task field: check_meta's line names it
        raise ValueError(f"{verb}: checkpoint {checkpoint} holds an image model ({name}), not a text classifier; "
                         "use `scratchcnn predict` for images" if verb == "predict-text" else
                         f"{verb}: checkpoint {checkpoint} is not a text classifier (model {name})")
    model, meta = load_model(checkpoint)
    try:
        tokenizer = get_tokenizer(meta["tokenizer"])
        vocab = Vocab.from_list(meta["vocab"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint {checkpoint}: meta.json lacks the tokenizer or vocabulary ({exc})") from None
    return model, meta, tokenizer, vocab


def predict_texts(checkpoint: str | Path, texts: Sequence[str], top_k: int = 2,
                  batch_size: int = 200) -> tuple[list[dict], int]:
    """Classify ``texts`` with a text checkpoint. Returns ``(predictions, truncated)``: per text
    ``{"text", "label", "probability", "top_k": [{"label", "probability"}, ...]}`` (labels as the dataset named
    them), and how many texts were longer than the checkpoint's max length (they are truncated)."""
    from .. import no_grad
    from ..functional import softmax
    if not texts:
        raise ValueError("predict-text: give at least one text (as arguments or one per line on stdin)")
    if int(top_k) < 1:
        raise ValueError(f"predict-text: top_k must be >= 1, got {top_k}")
    model, meta, tokenizer, vocab = load_text_model(checkpoint)
    seqs, truncated, _ = encode_texts(list(texts), tokenizer, vocab, meta.get("max_len"))
    names = list(meta.get("class_names") or [])
    loader = make_loader(seqs, np.zeros(len(seqs), dtype=np.int64), model, batch_size)
    probs = np.zeros((len(seqs), len(names)), dtype=np.float64)
    model.eval()
    with no_grad():
        for idx in loader.batch_indices():
            x = pad_batch([seqs[i] for i in idx], loader.min_len, loader.fixed_len)
            probs[idx] = softmax(model(Tensor(x)), 1).data
    k = min(int(top_k), len(names))
    out = []
    for t, p in zip(texts, probs):
        order = np.argsort(-p, kind="stable")[:k]
        out.append({"text": t, "label": names[order[0]], "probability": float(p[order[0]]),
                    "top_k": [{"label": names[j], "probability": float(p[j])} for j in order]})
    return out, truncated


def _check_same_split(checkpoint: str | Path, info: dict, path: str | Path, splits: Any) -> None:
    """Refuse the corpus a checkpoint was trained on when it no longer splits as it did then (texts added, removed
    or edited): its test split could hold training texts. Compares the split's SHA-256 saved in meta.json, or for
    older checkpoints the split sizes."""
    from .fit import split_fingerprint
    saved_sizes = (info.get("split") or {}).get("sizes")
    now_sizes = splits.report.get("sizes")
    if saved_sizes and saved_sizes != now_sizes:
        what = f"split sizes {_sizes(saved_sizes)} then, {_sizes(now_sizes)} now"
    elif info.get("split_sha256") and info["split_sha256"] != split_fingerprint(splits):
        what = "the same split sizes, but other texts or labels"
    else:
        return
    raise ValueError(f"evaluate: the corpus {path} changed since {checkpoint} was trained on it ({what}), so the "
                     "split saved with the model no longer holds and its test texts may include training texts; "
                     "evaluate on the corpus as it was, or train again on this one")


def _sizes(sizes: dict) -> str:
    return "/".join(str(sizes.get(k, "?")) for k in ("train", "val", "test"))


def evaluate_text_checkpoint(checkpoint: str | Path, data: str | Path | None = None, split: str = "test",
                             batch_size: int = 200, limit: int | None = None) -> dict:
    """Evaluate a text checkpoint on a split of its corpus (re-split by the fixed rule with the saved seed; refused
    when the corpus changed since training, see ``_check_same_split``), or of the corpus at ``data`` (same rule and
    columns). Returns the metrics of ``train.metrics.summarize`` plus
    ``loss``, ``dataset``, ``split``, ``checkpoint``, ``model``, ``class_names``, ``num_samples``."""
    from ..nn import CrossEntropyLoss
    from ..train.metrics import summarize
    from ..train.trainer import evaluate_model
    model, meta, tokenizer, vocab = load_text_model(checkpoint, verb="evaluate")
    info = meta.get("data") or {}
    path = data or info.get("path") or meta.get("dataset")
    if not path:
        raise ValueError(f"checkpoint {checkpoint} does not say which data it was trained on; pass --dataset PATH")
    if data is not None and not Path(data).exists():
        from ..data.registry import available_datasets
        if str(data).lower() in available_datasets():
            raise ValueError(f"{checkpoint} is a text checkpoint: --dataset must be a text corpus (a CSV/TSV file or "
                             f"a folder), not the image dataset {data!r}")
    splits = prepare_splits(path, info.get("text_col", "text"), info.get("label_col", "label"),
                            int(info.get("seed", 0)))
    if data is None or Path(data).resolve() == Path(info.get("path") or meta.get("dataset") or "").resolve():
        _check_same_split(checkpoint, info, path, splits)
    names = list(meta.get("class_names") or [])
    if list(splits.classes) != names:
        raise ValueError(f"checkpoint {checkpoint} predicts classes {names} but {path} has {splits.classes}")
    part = splits.get(split)
    if split == "val" and info.get("train_on") == "train+val":
        raise ValueError(f"checkpoint {checkpoint} was trained on the train and val splits (--train-on train+val); "
                         "its val split is training data: evaluate on test")
    if limit is not None:
        part = part.subset(np.arange(min(int(limit), len(part))))
    seqs, _, kept = encode_texts(part.texts, tokenizer, vocab, meta.get("max_len"), skip_empty=True)
    loader = make_loader(seqs, part.labels[kept], model, batch_size)
    ev = evaluate_model(model, loader, CrossEntropyLoss(), return_predictions=True)
    res = summarize(ev["y_true"], ev["y_pred"], len(names))
    res.update({"loss": ev["loss"], "dataset": str(path), "split": split, "checkpoint": str(checkpoint),
                "model": meta["model"]["name"], "class_names": names})
    return res
