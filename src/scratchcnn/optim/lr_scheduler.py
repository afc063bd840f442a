"""Learning-rate schedulers with PyTorch's exact (recursive/"chainable") formulas, so the sequences of
learning rates equal ``torch.optim.lr_scheduler``'s: LambdaLR, MultiplicativeLR, StepLR, MultiStepLR, ConstantLR,
LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR and CyclicLR
(which also cycle SGD momentum or Adam's beta1), SequentialLR, ChainedScheduler and ReduceLROnPlateau.

Usage: build the scheduler after the optimiser (it sets each group's lr to the first value), then call
``optimizer.step()`` and ``scheduler.step()`` once per epoch (or per batch for OneCycleLR and CyclicLR);
``ReduceLROnPlateau.step(metric)`` takes the monitored value. ``state_dict()`` / ``load_state_dict()`` resume a
schedule exactly (lambdas are not saved, as in torch: only the ``__dict__`` of callable objects).
"""
from __future__ import annotations

from ._sched_base import LRScheduler
from ._sched_composite import ChainedScheduler, ReduceLROnPlateau, SequentialLR
from ._sched_cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR
from ._sched_cyclic import CyclicLR
from ._sched_step import (ConstantLR, ExponentialLR, LambdaLR, LinearLR, MultiplicativeLR, MultiStepLR,
                          PolynomialLR, StepLR)

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
           "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
           "CyclicLR", "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau"]
