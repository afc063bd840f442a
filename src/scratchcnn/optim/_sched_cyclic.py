"""CyclicLR (Smith 2017, "Cyclical Learning Rates for Training Neural Networks"), PyTorch's formulas: the lr
goes from ``base_lr`` up to ``max_lr`` over ``step_size_up`` steps and back over ``step_size_down``, the height
scaled per cycle ("triangular": 1, "triangular2": halved every cycle) or per step ("exp_range": gamma**step) or
by a ``scale_fn``; momentum (SGD) or beta1 (Adam) cycles inversely. Step it once per batch."""
from __future__ import annotations

import math
from typing import Any, Callable

from ._sched_base import LRScheduler, _format_param, _MomentumCycling
from .optimizer import Optimizer

_MODES = ("triangular", "triangular2", "exp_range")


class CyclicLR(_MomentumCycling, LRScheduler):
    """lr = base_lr + (max_lr - base_lr) * max(0, 1 - |x|) * scale, x the position in the current cycle."""

    def __init__(self, optimizer: Optimizer, base_lr: float | list[float], max_lr: float | list[float],
                 step_size_up: int = 2000, step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float | list[float] = 0.8,
                 max_momentum: float | list[float] = 0.9, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        base_lrs = _format_param("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _format_param("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        if up <= 0 or down <= 0 or not math.isfinite(up + down):
            raise ValueError(f"CyclicLR: step_size_up and step_size_down must be positive, got {step_size_up} "
                             f"and {step_size_down}")
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in _MODES and scale_fn is None:
            raise ValueError(f"CyclicLR: mode must be one of {_MODES} (or give scale_fn), got {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode, self.gamma = mode, gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else ("iterations" if mode == "exp_range" else "cycle")
        self.base_momentums, self.max_momentums = self._setup_momentum(
            optimizer, "CyclicLR", cycle_momentum, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The height factor of cycle (or step) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        factor = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * factor * scale for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, base, top in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                self._set_momentum(group, top - (top - base) * factor * scale)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """As the base class, without a custom ``scale_fn`` (a function; PyTorch leaves it out too)."""
        state = super().state_dict()
        state.pop("_scale_fn_custom", None)
        return state
