"""Optimisers (PyTorch's names and update rules): SGD, Adam, AdamW, RMSprop, Adagrad, NAdam, Adamax;
``lr_scheduler``; ``clip_grad_norm_`` re-exported from ``scratchcnn.nn.utils`` for convenience."""
from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .nadam import Adamax, NAdam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
from ..nn.utils import clip_grad_norm_

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "Adamax", "lr_scheduler",
           "clip_grad_norm_"]
