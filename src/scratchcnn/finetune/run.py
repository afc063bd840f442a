"""``finetune(config, out_dir)``: the whole run behind ``scratchcnn finetune``.

``prepare(config)`` does everything that can fail on bad input (loading and hashing the base, the data, the head,
the strategy's changes) without writing anything; ``Session.run(out_dir)`` trains, evaluates and writes::

    out/adapter/        adapter-only checkpoint (trained tensors + base path and SHA-256)   [not for scratch]
    out/merged/         self-contained checkpoint (LoRA merged; adapters stored with the model)
    out/result.json     the returned dict;  out/history.json  per-epoch loss/accuracy/lr/time

While ``finetune()`` trains, ``out/last/`` holds a resumable snapshot written after every epoch; the finished
folder replaces it in one step. ``finetune(resume=out)`` continues an interrupted run (``resume.py``). A new run
that fails (diverged training, an error) removes what it wrote (``io.outdir.OutputGuard``); one stopped by Ctrl-C or
an ``OSError`` (a full disk) after its first epoch keeps ``last/`` for ``--resume``.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..train.config import default_weight_decay
from .strategies import BASELINE, STRATEGIES, StrategyOptions

__all__ = ["FinetuneConfig", "Session", "prepare", "finetune", "default_lr"]

_LR = {"full": 1e-3, "partial": 1e-3, "discriminative": 1e-3, BASELINE: 1e-3,
       "linear-probe": 5e-3, "bitfit": 5e-3, "lora": 3e-3, "adapter": 3e-3}
# lora: 3e-3 beat 1e-3, 2e-3, 5e-3 and 1e-2 on validation data at 10 and 100 labels per class; adapter (with its
# parallel adapter beside fc1): 3e-3 beat 2e-3, 5e-3 and 1e-2 at 100 labels per class (docs/finetune.md)


def default_lr(strategy: str) -> float:
    """Adam learning rate used when none is given: 1e-3 when the body trains, 3e-3 for LoRA and adapters, 5e-3
    for linear-probe and BitFit."""
    return _LR.get(strategy, 1e-3)


@dataclass
class FinetuneConfig(StrategyOptions):
    """Everything that defines a fine-tuning run (the CLI options of the same names): the strategy's settings
    (inherited from :class:`~scratchcnn.finetune.strategies.StrategyOptions`: strategy, unfreeze_last,
    layer_lr_decay, rank, alpha, lora_dropout, targets, adapter_dim, adapter_linear, bn, insert_blocks) and
    the base, data, training and output settings below."""

    base: str | None = None
    model: str | None = None              # scratch without a base: the architecture to build
    dataset: str | None = None
    classes: str | None = None
    labels_per_class: int | None = None
    extend_classes: bool = False
    replay: int = 0
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None
    optimizer: str = "adam"
    scheduler: str = "cosine"
    weight_decay: float | None = None      # None: the optimiser's default (1e-2 for adamw, else 0), filled in
    seed: int = 0
    data_dir: str | None = None
    limit_test: int | None = None
    eval_batch_size: int = 500
    save: str = "both"

    def __post_init__(self) -> None:
        self.insert_blocks = [self.insert_blocks] if isinstance(self.insert_blocks, str) \
            else list(self.insert_blocks or [])
        if self.weight_decay is None:
            self.weight_decay = default_weight_decay(self.optimizer)
        from ..data.sources import absolute_dir
        self.data_dir = absolute_dir(self.data_dir)   # recorded absolute: reused from other working folders

    def options(self) -> StrategyOptions:
        """The strategy's settings alone."""
        names = {f.name for f in fields(StrategyOptions)}
        return StrategyOptions(**{k: v for k, v in asdict(self).items() if k in names})

    def validate(self) -> None:
        super().validate()
        from ..models.loading import _positive_int
        optional = ("labels_per_class", "limit_test")      # None: every image
        for name in ("epochs", "batch_size", "eval_batch_size", *optional):
            v = getattr(self, name)
            if not (_positive_int(v) or (v is None and name in optional)):
                flag = "--" + name.replace("_", "-") if name in optional else name
                raise ValueError(f"finetune: {flag} must be a positive integer, got {v!r}")
        if self.replay < 0:
            raise ValueError(f"finetune: --replay must be >= 0, got {self.replay}")
        if self.replay and not self.extend_classes:
            raise ValueError("finetune: --replay only applies with --extend-classes")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"finetune: --lr must be positive, got {self.lr}")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"finetune: --optimizer must be sgd, adam or adamw, got {self.optimizer!r}")
        if self.scheduler not in ("none", "cosine", "step"):
            raise ValueError(f"finetune: --scheduler must be none, cosine or step, got {self.scheduler!r}")
        if self.save not in ("adapter", "merged", "both"):
            raise ValueError(f"finetune: --save must be adapter, merged or both, got {self.save!r}")
        if self.save == "adapter" and self.strategy == BASELINE:
            raise ValueError("finetune: --save adapter writes what was trained on top of a base, but --strategy "
                             "scratch trains every weight anew: drop --save adapter (it writes the merged checkpoint)")
        if self.base is None and not (self.strategy == BASELINE and self.model):
            raise ValueError("finetune: give a base checkpoint (or --model NAME with --strategy scratch)")
        if self.base is not None and self.model:
            raise ValueError(f"finetune: --model {self.model} is only for --strategy scratch without a CHECKPOINT; "
                             "with a base checkpoint its architecture is used: drop --model")
        if self.extend_classes and self.strategy == BASELINE and self.base is None:
            raise ValueError("finetune: --extend-classes needs a base checkpoint")

    @property
    def learning_rate(self) -> float:
        return float(self.lr) if self.lr is not None else default_lr(self.strategy)


@dataclass
class Session:
    """A prepared run: the model already changed by the strategy, the data, and what to record."""

    config: FinetuneConfig
    model: Any
    data: Any
    plan: Any
    head: str
    head_mode: str
    normalization: tuple
    input_shape: tuple
    base_dir: Path | None
    base_sha256: str | None
    base_meta: dict
    old_accuracy_before: float | None = None
    buffers_before: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ training and evaluation
    def _loaders(self):
        from ..data import DataLoader
        cfg = self.config
        mean, std = self.normalization
        train = DataLoader(self.data.train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                           normalize=(mean, std))
        test = DataLoader(self.data.test, batch_size=cfg.eval_batch_size, normalize=(mean, std))
        return train, test

    def run(self, out_dir: str | Path, progress: bool = True, overwrite: bool = False, snapshots: bool = False,
            resume_from: Path | None = None, extra_callbacks: Iterable[Any] = ()) -> dict:
        """Train, evaluate on the test set, write the checkpoints and ``result.json``; return the result.

        With ``snapshots`` a resumable ``out/last/`` is written after every epoch (removed when the finished
        folder replaces the run's); ``resume_from`` (a ``last/`` of this same setup) restores one first and
        trains only the remaining epochs. ``extra_callbacks`` are added after the progress bar.
        """
        from .. import manual_seed
        from ..io.atomic import atomic_directory, remove_stale_siblings
        from ..train.callbacks import ProgressBar
        from ..train.config import build_optimizer, build_scheduler
        from ..train.trainer import Trainer, evaluate_model
        from .freeze import count_parameters
        from .resume import restore_snapshot, state_config

        cfg = self.config
        out = Path(out_dir)
        if resume_from is None:
            _check_out(out, overwrite)
        lr = cfg.learning_rate
        train_loader, test_loader = self._loaders()
        optimizer = build_optimizer(cfg.optimizer, self.plan.param_groups, lr, cfg.weight_decay)
        scheduler, interval = build_scheduler(cfg.scheduler, optimizer, cfg.epochs, len(train_loader), lr)
        trainer = Trainer(self.model, optimizer, scheduler=scheduler, scheduler_interval=interval,
                          epochs=cfg.epochs, callbacks=[ProgressBar(enabled=progress), *extra_callbacks],
                          state_dir=out / "last" if snapshots else None, meta_fn=self._snapshot_meta,
                          config=state_config(cfg, self.base_dir, self.base_sha256))

        def train_data(epoch: int):
            train_loader.set_epoch(epoch - 1)
            return train_loader

        manual_seed(cfg.seed)  # dropout draws are the same whether run alone or inside finetune-compare
        if resume_from is not None:
            restore_snapshot(trainer, resume_from, progress)   # weights, optimiser, scheduler, RNG, epoch, history
        elif snapshots and (out / "last").is_dir():
            shutil.rmtree(out / "last")   # --overwrite: a new run, not a continuation of the one there
        if snapshots:
            remove_stale_siblings(out / "last")   # (after a resume's checks: a refused one leaves the folder as it was)
        if trainer.epoch < trainer.epochs and not trainer.stop_training:
            trainer.fit(train_data)
        _check_finite_weights(self.model, lr)
        seconds = float(sum(h.get("seconds", 0.0) for h in trainer.history))   # a resumed run's epochs included
        ev = evaluate_model(self.model, test_loader, return_predictions=True)
        y, pred = ev["y_true"], ev["y_pred"]
        k_old = self.data.num_old
        old_acc = new_acc = None
        if k_old:
            old, new = y < k_old, y >= k_old
            old_acc = float((pred[old] == y[old]).mean()) if old.any() else None
            new_acc = float((pred[new] == y[new]).mean()) if new.any() else None
        trainable, total = count_parameters(self.model)
        metrics = {"test_accuracy": ev["accuracy"], "old_accuracy": old_acc, "new_accuracy": new_acc,
                   "old_accuracy_before": self.old_accuracy_before, "train_loss": trainer.history[-1]["loss"]}

        meta = self._meta(metrics, trainable, total)
        result: dict[str, Any] = {
            "strategy": cfg.strategy, "accuracy": ev["accuracy"], "old_accuracy": old_acc,
            "new_accuracy": new_acc, "old_accuracy_before": self.old_accuracy_before,
            "trainable_params": trainable, "total_params": total,
            "trainable_percent": 100.0 * trainable / total if total else 0.0, "seconds": seconds,
            "dataset": meta["dataset"], "class_names": self.data.class_names, "num_train": len(self.data.train),
            "num_test": len(self.data.test), "epochs": cfg.epochs, "lr": lr, "base": meta["finetune"]["base"],
            "out_dir": str(out), "config": cfg.to_dict(), "history": trainer.history,
        }
        adapter_dir, merged_dir = out / "adapter", out / "merged"
        from .checkpoint import checkpoint_bytes, save_adapter_checkpoint, save_merged_checkpoint
        with atomic_directory(out, overwrite=True) as tmp:
            if cfg.strategy != BASELINE and cfg.save in ("adapter", "both"):
                save_adapter_checkpoint(tmp / "adapter", self.model, meta, self.trained_tensor_names(),
                                        self.base_dir, self.base_sha256)
            if cfg.strategy == BASELINE or cfg.save in ("merged", "both"):
                save_merged_checkpoint(tmp / "merged", self.model, meta)
            has_adapter = (tmp / "adapter").is_dir()
            has_merged = (tmp / "merged").is_dir()
            result["checkpoint"] = str(adapter_dir if has_adapter else merged_dir)
            result["adapter_checkpoint"] = str(adapter_dir) if has_adapter else None
            result["merged_checkpoint"] = str(merged_dir) if has_merged else None
            result["checkpoint_bytes"] = checkpoint_bytes(tmp / ("adapter" if has_adapter else "merged"))
            result["merged_bytes"] = checkpoint_bytes(tmp / "merged") if has_merged else None
            (tmp / "history.json").write_text(json.dumps(trainer.history, indent=1) + "\n", encoding="utf-8")
            (tmp / "result.json").write_text(json.dumps(_jsonable(result), indent=1) + "\n", encoding="utf-8")
        return result

    def _snapshot_meta(self, trainer: Any, logs: dict) -> dict:
        """``meta.json`` of the ``last/`` snapshot: a fine-tuned checkpoint's meta with the epoch's train loss."""
        from .freeze import count_parameters
        return self._meta({"train_loss": logs.get("loss")}, *count_parameters(self.model))

    def trained_tensor_names(self) -> list[str]:
        """State-dict names of the trainable parameters and of the buffers training changed."""
        state = self.model.state_dict(keep_vars=True)
        names = [k for k, t in state.items() if getattr(t, "requires_grad", False)]
        for k, before in self.buffers_before.items():
            if k in state and not np.array_equal(state[k].data, before):
                names.append(k)
        return [k for k in state if k in set(names)]

    def _meta(self, metrics: dict, trainable: int, total: int) -> dict:
        from ..models.loading import model_meta
        cfg = self.config
        ft = {"strategy": cfg.strategy, "structure": self.plan.structure,
              "head": {"name": self.head, "mode": self.head_mode, "num_old": self.data.num_old},
              "options": cfg.options().to_dict(), "labels_per_class": cfg.labels_per_class, "seed": cfg.seed,
              "epochs": cfg.epochs, "lr": cfg.learning_rate, "trainable_params": trainable, "total_params": total,
              "base": None}
        if self.base_dir is not None:
            ft["base"] = {"path": str(self.base_dir.resolve()), "sha256": self.base_sha256,
                          "model": self.base_meta.get("model", {}).get("name"),
                          "dataset": self.base_meta.get("dataset"),
                          "class_names": self.base_meta.get("class_names")}
        mean, std = self.normalization
        return model_meta(self.model, dataset=self.data.train.name, class_names=self.data.class_names,
                          class_subset=self.data.class_subset,
                          normalization={"mean": [float(v) for v in np.atleast_1d(mean)],
                                         "std": [float(v) for v in np.atleast_1d(std)]},
                          input_shape=list(self.input_shape), metrics=metrics, finetune=ft)


def _jsonable(x: Any) -> Any:
    from ..io.checkpoint import to_jsonable
    return to_jsonable(x, "result")


def _check_finite_weights(model: Any, lr: float) -> None:
    """Refuse weights (or statistics) that training drove to NaN or infinity, before anything is evaluated or
    saved."""
    from ..train.trainer import nonfinite_state
    bad = nonfinite_state(model)
    if bad:
        raise ValueError(f"finetune: training diverged: {len(bad)} tensor(s) of the model hold non-finite values "
                         f"(e.g. {bad[0]}); try a lower --lr (this run used {lr:g}, e.g. --lr {lr / 10:g})")


def _check_base_outputs(model: Any, dataset: Any, norm: tuple, batch_size: int, base_dir: Path) -> None:
    """Refuse a base whose outputs on the first training batch are NaN or infinite (weights that diverged or
    overflow float32): training from it would stop at step 1 with a NaN loss that blames the learning rate."""
    from ..data import DataLoader
    from ..nn.utils import forward_with_hooks
    from ..train.trainer import count_nonfinite_rows
    x, _ = next(iter(DataLoader(dataset, batch_size=batch_size, normalize=norm)))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        bad = count_nonfinite_rows(np.asarray(forward_with_hooks(model, x).data))
    if bad:
        raise ValueError(f"finetune: the base checkpoint {base_dir} is broken: its outputs are NaN or infinite for "
                         f"{bad} of {len(x)} training images (its weights diverged or overflow float32), so there "
                         "is nothing to fine-tune from; pick a sound base checkpoint (e.g. an earlier one of its run)")


def _check_out(out: Path, overwrite: bool, verb: str = "finetune") -> None:
    """Refuse an ``out`` that a file blocks, or that holds something unless ``overwrite`` (io.outdir's rules)."""
    from ..io.outdir import check_new_output_folder, check_output_folder
    check_output_folder(out, verb)
    check_new_output_folder(out, verb, overwrite)


def _accuracy(model: Any, dataset: Any, norm: tuple, batch_size: int) -> float:
    from ..data import DataLoader
    from ..train.trainer import evaluate_model
    return float(evaluate_model(model, DataLoader(dataset, batch_size=batch_size, normalize=norm))["accuracy"])


def prepare(config: FinetuneConfig, data: Any = None) -> Session:
    """Load the base and the data, replace/extend the head and apply the strategy; nothing is written.

    ``data`` (a ``FinetuneData``) can be passed to reuse data loaded for another strategy.
    """
    from .. import manual_seed
    from ..io import file_sha256
    from ..io.checkpoint import WEIGHTS_FILE
    from ..models.registry import get
    from ..train.evaluate import checkpoint_normalization
    from .checkpoint import load_any, resolve_dir
    from .data import prepare_data
    from .heads import extend_head, replace_head
    from .strategies import apply_strategy
    from .structure import find_head, input_shape_of, trace

    cfg = config
    cfg.validate()
    if cfg.base is not None:
        base_dir = resolve_dir(cfg.base)
        model, meta = load_any(base_dir)
        _check_stage_two(base_dir, meta)
        base_sha = file_sha256(base_dir / WEIGHTS_FILE)
    else:
        base_dir, base_sha, meta = None, None, {}
        model = get(cfg.model, num_classes=10)
    kind = getattr(model, "input_kind", "images")
    if kind != "images":
        what = f"checkpoint {base_dir} ({model.model_name})" if base_dir is not None else f"model {cfg.model}"
        raise ValueError(f"finetune: {what} classifies {kind}, not images; fine-tuning works on image models "
                         "(a text classifier trains with `scratchcnn train-text`)")
    dataset = cfg.dataset or meta.get("dataset")
    if not dataset:
        raise ValueError("finetune: pass --dataset" + (f" (the base checkpoint {cfg.base} does not say which "
                                                        "dataset it was trained on)" if cfg.base else ""))
    in_shape = input_shape_of(model, meta)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # a broken base: refused below, in one line
        calls = trace(model, in_shape)
    head = find_head(calls)
    head_layer = model.get_submodule(head)
    extend_from = None
    if cfg.extend_classes:
        names = meta.get("class_names")
        if not names or len(names) != head_layer.out_features:
            raise ValueError(f"--extend-classes: the base checkpoint {cfg.base} records "
                             f"{len(names) if names else 'no'} class names for a head of {head_layer.out_features} "
                             "outputs; cannot tell which classes it knows")
        extend_from = list(names)
    if data is None:
        data = prepare_data(dataset, cfg.data_dir, cfg.classes, cfg.labels_per_class, cfg.seed, extend_from,
                            cfg.replay, cfg.limit_test)
    img = data.train.images
    img_shape = (1, *img.shape[1:]) if img.ndim == 3 else tuple(img.shape[1:])
    if tuple(img_shape) != tuple(in_shape):
        raise ValueError(f"architecture does not fit: the base model takes {tuple(in_shape)} inputs but {dataset} "
                         f"images are {tuple(img_shape)}")
    norm = checkpoint_normalization(meta) if meta else None
    if norm is None:
        norm = (np.atleast_1d(np.asarray(data.train.mean, np.float64)),
                np.atleast_1d(np.asarray(data.train.std, np.float64)))
    k = len(data.class_subset)
    if base_dir is not None and (cfg.strategy != BASELINE or data.num_old):
        _check_base_outputs(model, data.train, norm, cfg.batch_size, base_dir)
    if data.num_old and data.base_old_accuracy is None:
        data.base_old_accuracy = _accuracy(model, data.old_test, norm, cfg.eval_batch_size)
    old_before = data.base_old_accuracy

    manual_seed(cfg.seed)
    if cfg.strategy == BASELINE:
        mcfg = dict(getattr(model, "model_config", {}) or {})
        mcfg.pop("num_classes", None)
        model = get(model.model_name, num_classes=k, **mcfg)
        calls = trace(model, in_shape)
        head_mode = "new"
    elif data.num_old:
        extend_head(model, head, k - data.num_old)
        head_mode = "extend"
    elif (head_layer.out_features == k and list(meta.get("class_names") or []) == data.class_names
          and meta.get("dataset") == dataset):
        head_mode = "keep"
    else:
        replace_head(model, head, k)
        head_mode = "replace"
    plan = apply_strategy(model, calls, head, cfg.options(), cfg.learning_rate, input_shape=in_shape)
    buffers = {n: np.array(b.data, copy=True) for n, b in model.named_buffers()}
    return Session(cfg, model, data, plan, head, head_mode, norm, tuple(in_shape), base_dir, base_sha, meta,
                   old_before, buffers)


def _check_stage_two(base_dir: Path, meta: dict) -> None:
    """A fine-tuned base may be fine-tuned again when it is a plain model (full, partial, BitFit, ... or LoRA
    merged into the weights); LoRA branches not merged, inserted adapter blocks or residual blocks
    (``--insert-block``) would be traced as layers of their own and not be recorded in the new checkpoints, so
    such bases are refused with what to use instead."""
    structure = (meta.get("finetune") or {}).get("structure") or {}
    if structure.get("lora"):
        raise ValueError(f"finetune: the base {base_dir} carries LoRA branches that are not merged into its "
                         "weights; fine-tune from its merged checkpoint (the run's merged/ folder) instead")
    if structure.get("adapters"):
        raise ValueError(f"finetune: the base {base_dir} has inserted adapter blocks, which a second fine-tuning "
                         "run cannot carry over yet; fine-tune from the base that run started from, or use this "
                         "checkpoint as it is (evaluate, predict, visualize)")
    if structure.get("blocks"):
        names = ", ".join(str(b[0]) for b in structure["blocks"])
        raise ValueError(f"finetune: the base {base_dir} has residual blocks inserted by --insert-block (after "
                         f"{names}), which a second fine-tuning run cannot carry over yet; fine-tune from the base "
                         "that run started from (with --insert-block again), or use this checkpoint as it is "
                         "(evaluate, predict, visualize)")


def default_out_dir(cfg: FinetuneConfig) -> Path:
    """``runs/finetune-<strategy>-<dataset>-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"finetune-{cfg.strategy}-{cfg.dataset or 'base'}-{time.strftime('%Y%m%d-%H%M%S')}"


def finetune(config: FinetuneConfig | None = None, out_dir: str | Path | None = None, progress: bool = True,
             overwrite: bool = False, resume: str | Path | None = None, overrides: dict | None = None,
             extra_callbacks: Iterable[Any] = ()) -> dict:
    """Prepare (validating everything), train, evaluate and save; returns the result dict (see ``Session.run``).

    Args:
        config: the run's settings (ignored with ``resume``, which uses the saved ones plus ``overrides``).
        out_dir: output folder (default ``runs/finetune-<strategy>-<dataset>-<time>``; with ``resume`` the run's).
        progress: progress bar and per-epoch lines on stderr.
        overwrite: start a new run in a non-empty ``out_dir`` (replacing what is there when it finishes).
        resume: an unfinished run's folder (or its ``last/``) to continue; a complete run's folder returns its
            ``result.json`` when nothing asks for more (see ``resume.py``).
        overrides: with ``resume``, settings as given again (only ``epochs``, ``data_dir`` and ``base``, the
            base's location, may differ from the saved ones).
        extra_callbacks: more ``Callback`` objects for the Trainer.
    Returns:
        ``strategy, accuracy, old_accuracy, new_accuracy, old_accuracy_before, trainable_params, total_params,
        trainable_percent, seconds, checkpoint, adapter_checkpoint, merged_checkpoint, checkpoint_bytes,
        merged_bytes, history, ...``; Ctrl-C or SIGTERM raises ``RunInterrupted`` saying how to continue.
    """
    from .resume import check_new_run_dir, interrupted, plan_resume
    snapshot = None
    if resume is not None:
        plan = plan_resume(resume, overrides, out_dir, overwrite)      # every check; nothing written
        if plan.result is not None:
            if progress:
                print(f"{plan.out} is already complete ({plan.config.epochs} epochs); nothing to resume",
                      file=sys.stderr, flush=True)
            return plan.result
        config, out, snapshot = plan.config, plan.out, plan.snapshot
    elif config is None:
        raise ValueError("finetune: give a config, or resume=RUN_DIR to continue a run")
    else:
        out = Path(out_dir) if out_dir is not None else default_out_dir(config)
        from ..io.outdir import check_output_folder
        check_output_folder(out, "finetune")
        check_new_run_dir(out, overwrite)
        _check_out(out, overwrite)
    from ..io.outdir import OutputGuard
    # a new run that fails takes back what it wrote (not when stopped by Ctrl-C or a full disk: last/ resumes it)
    guard = OutputGuard(out, snapshot="last") if snapshot is None else contextlib.nullcontext()
    try:
        with guard:
            session = prepare(config)
            return session.run(out, progress=progress, overwrite=overwrite, snapshots=True, resume_from=snapshot,
                               extra_callbacks=extra_callbacks)
    except KeyboardInterrupt as exc:
        raise interrupted(exc, out, config.epochs) from None


STRATEGY_NAMES = STRATEGIES + (BASELINE,)
