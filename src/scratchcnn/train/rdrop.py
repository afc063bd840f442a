"""R-Drop (Liang et al. 2021, "R-Drop: Regularized Dropout for Neural Networks"): every training batch runs
through the model twice, with independent dropout masks, and the loss adds the symmetric KL divergence between
the two predicted distributions to the task loss of both passes:

    loss = (L(z1, y) + L(z2, y)) / 2 + (alpha / 4) * mean_i [KL(p1_i || p2_i) + KL(p2_i || p1_i)]

which is the paper's ``L1 + L2 + alpha * (KL(P1||P2) + KL(P2||P1)) / 2`` divided by 2 (so ``alpha`` keeps the
paper's meaning and the loss the scale of the task loss). The two passes are one forward of the batch stacked on
itself, ``[x; x]`` -> logits ``[z1; z2]`` (2N, K), so a split training step runs them concurrently.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["RDrop"]


class RDrop:
    """The doubled batch and the R-Drop loss.

    Args:
        alpha: weight of the symmetric KL term (> 0; the paper uses 0.1-5).
    """

    def __init__(self, alpha: float):
        if not (isinstance(alpha, (int, float)) and alpha > 0):
            raise ValueError(f"RDrop: alpha must be > 0, got {alpha!r}")
        self.alpha = float(alpha)

    @staticmethod
    def twice(x: Any) -> Any:
        """The batch stacked on itself along axis 0: (N, ...) -> (2N, ...)."""
        from ..tensor import Tensor
        if isinstance(x, Tensor):
            return Tensor(np.concatenate([x.data, x.data]))
        if isinstance(x, np.ndarray):
            return np.concatenate([x, x])
        raise TypeError(f"RDrop: expected the batch as a Tensor or an ndarray, got {type(x).__name__}")

    def loss(self, loss_fn: Callable[[Any, Any], Any], logits: Any, y: Any) -> Any:
        """R-Drop loss of logits (2N, K) from :meth:`twice` for targets y (N,): a scalar Tensor."""
        from ..functional import log_softmax
        n = logits.shape[0] // 2
        if logits.ndim != 2 or logits.shape[0] != 2 * n:
            raise ValueError(f"RDrop: expected logits (2N, K) of a doubled batch, got shape {logits.shape}")
        z1, z2 = logits[:n], logits[n:]
        task = (loss_fn(z1, y) + loss_fn(z2, y)) * 0.5
        lp1, lp2 = log_softmax(z1, dim=1), log_softmax(z2, dim=1)
        sym_kl = ((lp1.exp() - lp2.exp()) * (lp1 - lp2)).sum(axis=1).mean()   # KL(p1||p2) + KL(p2||p1)
        return task + sym_kl * (self.alpha / 4.0)
