"""Adversarial training on embedding tables: the fast gradient method (FGM) of Miyato, Dai & Goodfellow (2017),
"Adversarial Training Methods for Semi-Supervised Text Classification", applied to the embedding weights.

After the clean backward pass, each table E moves by ``r = eps * g / ||g||_2`` (g its gradient, the norm over
the whole table); a second forward and backward pass on the same batch adds the gradients of the loss at
``E + r``; then E is restored bit for bit and the optimiser steps on the sum. The model thus trains on the
worst-case nearby embeddings as well as on the clean ones, a regulariser that needs no extra data.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

__all__ = ["FGM", "embedding_tables"]


def embedding_tables(model: Any) -> list:
    """The trainable weights of every ``nn.Embedding`` in ``model`` (what FGM perturbs)."""
    from ..nn import Embedding
    return [m.weight for m in model.modules() if isinstance(m, Embedding) and m.weight.requires_grad]


class FGM:
    """Perturb ``params`` along their normalised gradients (``attack``) and put them back (``restore``).

    Args:
        params: the tensors to perturb (usually :func:`embedding_tables`); each needs a ``.grad`` at ``attack``.
        eps: the L2 norm of each table's perturbation (> 0).
    """

    def __init__(self, params: Iterable[Any], eps: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("FGM: no parameters to perturb (the model has no trainable embedding table)")
        if not eps > 0:
            raise ValueError(f"FGM: eps must be > 0, got {eps!r}")
        self.eps = float(eps)
        self._backup: list[tuple[Any, np.ndarray]] = []

    def attack(self) -> None:
        """``p += eps * p.grad / ||p.grad||`` for every parameter with a finite, non-zero gradient."""
        if self._backup:
            raise RuntimeError("FGM: attack() called twice without restore()")
        for p in self.params:
            g = p.grad
            if g is None:
                continue
            flat = g.reshape(-1)
            norm = float(np.sqrt(np.dot(flat, flat)))
            if not np.isfinite(norm) or norm == 0.0:
                continue
            self._backup.append((p, p.data.copy()))
            p.data += (self.eps / norm) * g
            p._version += 1     # in-place, like torch's add_: a graph that saved the clean values refuses backward

    def restore(self) -> None:
        """Put back the values saved by ``attack`` (exactly)."""
        for p, saved in self._backup:
            np.copyto(p.data, saved)
            p._version += 1
        self._backup.clear()
