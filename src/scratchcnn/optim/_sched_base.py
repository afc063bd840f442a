"""The scheduler base class (PyTorch's ``LRScheduler``: chainable ``get_lr``, ``step``, ``state_dict``) and
shared helpers of :mod:`scratchcnn.optim.lr_scheduler`."""
from __future__ import annotations

import warnings
from typing import Any

from .optimizer import Optimizer


EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible. Please "
    "use `scheduler.step()` to step the scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available."
)


def _format_param(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have the same length as optimizer.param_groups: {name} has "
                             f"{len(value)} values, param_groups has {len(optimizer.param_groups)}")
        return list(value)
    return [value] * len(optimizer.param_groups)


class _MomentumCycling:
    """Mixin of the schedulers that cycle SGD's momentum or Adam's beta1 against the lr (OneCycleLR, CyclicLR):
    the setup PyTorch does before the first step, and the write of a new momentum into a group."""

    def _setup_momentum(self, optimizer: Optimizer, name: str, cycle: bool, base_momentum: Any,
                        max_momentum: Any, last_epoch: int) -> tuple[list, list]:
        """Check the optimiser, start every group at its max momentum (a new schedule); returns the per-group
        (base, max) momenta (empty lists without cycling)."""
        self.cycle_momentum = cycle
        if not cycle:
            return [], []
        if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError(f"{name}: optimizer must support momentum or beta1 with cycle_momentum=True")
        self.use_beta1 = "betas" in optimizer.defaults
        max_ms = _format_param("max_momentum", optimizer, max_momentum)
        base_ms = _format_param("base_momentum", optimizer, base_momentum)
        if last_epoch == -1:
            for m_max, m_base, group in zip(max_ms, base_ms, optimizer.param_groups):
                self._set_momentum(group, m_max)
                group["max_momentum"] = m_max
                group["base_momentum"] = m_base
        return base_ms, max_ms

    def _set_momentum(self, group: dict, momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and writes ``get_lr()`` into the optimiser's groups.

    Args:
        optimizer: the optimiser whose ``param_groups[i]["lr"]`` are scheduled.
        last_epoch: index of the last epoch when resuming (needs ``initial_lr`` in the groups); -1 to start.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming a "
                                   "scheduler with last_epoch >= 0")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    _is_initial = False

    def _initial_step(self) -> None:
        """Reset the step count and take the first step (in "initial" mode: recursive forms keep the lr)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:  # pragma: no cover - abstract
        """The learning rates for the current ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the most recent ``step()``."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or jump to ``epoch``, deprecated as in torch: the closed form where there is one)."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._get_closed_form_lr() if hasattr(self, "_get_closed_form_lr") else self.get_lr()
        self._set_lrs(values)

    def _set_lrs(self, values: list[float]) -> None:
        """Write one lr per parameter group (a group added after the scheduler was built has no base lr or lambda:
        a clear ValueError, as torch's strict zip, instead of leaving that group unscheduled)."""
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__}: computed {len(values)} learning rates for {len(groups)} "
                             "parameter groups (was a param group added after the scheduler was created?)")
        for group, lr in zip(groups, values):
            group["lr"] = lr
        self._last_lr = self._group_lrs()

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimiser (PyTorch's layout)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]
