"""Ensemble: K models of one registered architecture whose softmax probabilities are averaged.

    ids -> member_k(ids) -> log_softmax -> log(mean_k exp(.))  =  log of the averaged probabilities (N, C)

The output is the log of the mean of the members' probabilities, so ``softmax(output)`` is exactly that mean,
``argmax(output)`` is the ensemble's prediction, and ``cross_entropy(output, y)`` is the negative log of the
averaged probability of the true class: every caller that treats a model's output as logits (evaluation,
``predict-text``, the trainer's loss) works on an ensemble unchanged. The log of the mean is computed stably
(log-sum-exp shifted by the largest member log probability).

State-dict names are the members' names prefixed ``members.<k>.`` (``members.0.embedding.weight``, ...), like
a PyTorch ``nn.ModuleList`` called ``members``. Members are trained separately (``scratchcnn.text``'s
``--ensemble K``); the ensemble itself is for inference and checkpoints.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .registry import get

__all__ = ["Ensemble", "log_mean_softmax"]


def log_mean_softmax(logits: Sequence[Tensor]) -> Tensor:
    """``log(mean_k softmax(logits[k], 1))`` for K tensors (N, C), computed stably as log-sum-exp of the
    log-probabilities shifted by their maximum, minus log K (differentiable)."""
    if not logits:
        raise ValueError("log_mean_softmax: needs at least one (N, C) tensor")
    logp = F.stack([F.log_softmax(z, 1) for z in logits], 0)  # (K, N, C)
    if len(logits) == 1:
        return logp[0]
    shift = Tensor(logp.data.max(axis=0))  # a constant: the gradient of log-sum-exp does not depend on it
    return (logp - shift).exp().sum(axis=0).log() + shift - math.log(len(logits))


class Ensemble(nn.Module):
    """``size`` models built by ``models.get(member, num_classes, **member_config)``; forward returns the log
    of their averaged softmax probabilities (N, num_classes).

    Args:
        num_classes: output classes (every member's).
        member: registered model name of the members (e.g. ``textcnn``).
        member_config: keyword arguments of every member (without ``num_classes``).
        size: number of members K (>= 1).
    """

    def __init__(self, num_classes: int = 2, member: str = "textcnn", member_config: dict[str, Any] | None = None,
                 size: int = 2):
        super().__init__()
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"Ensemble: size must be a positive integer, got {size!r}")
        if member == "ensemble":
            raise ValueError("Ensemble: members cannot be ensembles themselves")
        cfg = dict(member_config or {})
        cfg.pop("num_classes", None)
        self.member_name, self.size = member, size
        self.members = nn.ModuleList([get(member, num_classes=num_classes, **cfg) for _ in range(size)])
        first = self.members[0]
        self.min_length = max(int(getattr(m, "min_length", 1)) for m in self.members)
        self.fixed_length = getattr(first, "fixed_length", None)
        self.input_kind = getattr(first, "input_kind", "images")   # what the members classify

    def forward(self, x: Tensor) -> Tensor:
        return log_mean_softmax([m(x) for m in self.members])

    def member_probabilities(self, x: Tensor) -> Tensor:
        """Each member's softmax probabilities, (K, N, C)."""
        return F.stack([F.softmax(m(x), 1) for m in self.members], 0)

    def apply_constraints(self) -> None:
        """The members' weight constraints (e.g. TextCNN's max-norm)."""
        for m in self.members:
            fn = getattr(m, "apply_constraints", None)
            if fn is not None:
                fn()
