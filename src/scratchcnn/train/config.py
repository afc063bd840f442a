"""TrainConfig (the defaults of ``scratchcnn train``) and the builders for optimiser, scheduler and augmentation.

Defaults reach >= 99.0% MNIST test accuracy with seed000 in 3 epochs: Adam, one-cycle LR schedule peaking at
3e-3, batch size 64, 10% of the training set held out for validation (measured: 99.23% test accuracy).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["TrainConfig", "OPTIMIZERS", "SCHEDULERS", "DEFAULT_LR", "build_optimizer", "build_scheduler",
           "build_augmentation"]

OPTIMIZERS = ("sgd", "adam", "adamw")
DEFAULT_LR = {"adam": 3e-3, "adamw": 3e-3, "sgd": 0.05}
"""Learning rate (the one-cycle peak) used when ``lr`` is None."""
SCHEDULERS = ("none", "step", "cosine", "onecycle")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved with the run, so ``--resume`` rebuilds the same setup)."""

    model: str = "seed000"
    dataset: str = "mnist"
    epochs: int = 3
    batch_size: int = 64
    lr: float | None = None
    optimizer: str = "adam"
    scheduler: str = "onecycle"
    weight_decay: float | None = None
    """None: the optimiser's default (see :func:`default_weight_decay`), filled in at construction."""
    momentum: float = 0.9
    augment: bool = False
    val_split: float = 0.1
    seed: int = 0
    limit_train: int | None = None
    limit_test: int | None = None
    patience: int | None = None
    label_smoothing: float = 0.0
    eval_batch_size: int = 500
    model_config: dict = field(default_factory=dict)
    data_dir: str | None = None

    def __post_init__(self) -> None:
        from ..data.sources import absolute_dir
        if self.weight_decay is None:
            self.weight_decay = default_weight_decay(self.optimizer)
        self.data_dir = absolute_dir(self.data_dir)   # recorded absolute: reused from other working folders
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        def bad(name: str, expected: str) -> None:
            raise ValueError(f"train: {name} must be {expected}, got {getattr(self, name)!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            bad("epochs", "a positive integer")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad("batch_size", "a positive integer")
        if not isinstance(self.eval_batch_size, int) or self.eval_batch_size < 1:
            bad("eval_batch_size", "a positive integer")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            bad("lr", "a positive number or None (the optimiser's default)")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"one of {', '.join(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            bad("scheduler", f"one of {', '.join(SCHEDULERS)}")
        if not 0.0 <= float(self.val_split) < 1.0:
            bad("val_split", "in [0, 1)")
        if self.weight_decay < 0:
            bad("weight_decay", ">= 0")
        if not 0.0 <= self.label_smoothing < 1.0:
            bad("label_smoothing", "in [0, 1)")
        for name in ("limit_train", "limit_test", "patience"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                bad(name, "a positive integer or None")
        if not isinstance(self.model_config, dict):
            bad("model_config", "a dict")
        if self.patience is not None and float(self.val_split) == 0:
            raise ValueError("train: --patience needs a validation split (--val-split > 0): early stopping watches "
                             "validation accuracy")

    @property
    def effective_lr(self) -> float:
        """``lr``, or the optimiser's default from ``DEFAULT_LR``."""
        return float(self.lr) if self.lr is not None else DEFAULT_LR[self.optimizer]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a dict (e.g. a saved run); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"train config: unknown setting(s) {', '.join(unknown)}")
        return cls(**d)


def default_weight_decay(optimizer: str) -> float:
    """The weight decay an optimiser gets when none is given: PyTorch's defaults, 1e-2 for AdamW, 0 otherwise."""
    return 1e-2 if optimizer == "adamw" else 0.0


def build_optimizer(name: str, params: Any, lr: float, weight_decay: float | None = None, momentum: float = 0.9):
    """``sgd`` (with momentum, Nesterov off), ``adam`` or ``adamw`` from ``scratchcnn.optim``; ``weight_decay``
    None is :func:`default_weight_decay`, any number (0 included) is used as given."""
    if weight_decay is None:
        weight_decay = default_weight_decay(name)
    from .. import optim
    params = list(params)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def build_scheduler(name: str, optimizer: Any, epochs: int, steps_per_epoch: int, lr: float):
    """Return ``(scheduler or None, interval)`` with interval ``"epoch"`` or ``"step"``.

    - ``none``: constant ``lr``.
    - ``step``: ``StepLR(step_size=1, gamma=0.7)`` per epoch (PyTorch's MNIST example).
    - ``cosine``: ``CosineAnnealingLR`` over all steps, from ``lr`` down to 0.
    - ``onecycle``: ``OneCycleLR(max_lr=lr)`` over all steps (warm-up 30%, cosine annealing).
    """
    from ..optim import lr_scheduler as S
    total = max(1, epochs * steps_per_epoch)
    if name == "none":
        return None, "epoch"
    if name == "step":
        return S.StepLR(optimizer, step_size=1, gamma=0.7), "epoch"
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=total), "step"
    if name == "onecycle":
        return S.OneCycleLR(optimizer, max_lr=lr, total_steps=total), "step"
    raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")


def build_augmentation(augment: bool):
    """Training-time augmentation: random shift of up to 2 pixels and rotation of up to 10 degrees."""
    if not augment:
        return None
    from ..data.transforms import Compose, RandomRotation, RandomShift
    return Compose([RandomRotation(10.0), RandomShift(2)])
