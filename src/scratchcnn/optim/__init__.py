"""Optimisers (PyTorch's names and update rules): SGD, Adam, AdamW; ``lr_scheduler``; ``clip_grad_norm_``
re-exported from ``scratchcnn.nn.utils`` for convenience."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD
from ..nn.utils import clip_grad_norm_

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler", "clip_grad_norm_"]
