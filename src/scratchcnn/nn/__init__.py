"""Stateful modules with PyTorch's names: ``Module``, ``Parameter``, containers, layers, losses, ``init``.

``nn.functional`` is ``scratchcnn.functional`` (so ``nn.functional.relu`` works) and ``nn.utils`` holds
``clip_grad_norm_``, ``clip_grad_value_`` and ``max_norm_``.
"""
from .. import functional
from . import init, utils
from .activation import (CELU, ELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax,
                         Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Softsign, Tanh)
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .containers import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d, Conv3d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d
from .dropout import Dropout, Dropout1d, Dropout2d
from .linear import Flatten, Identity, Linear, Unflatten
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import IncompatibleKeys, Module, RemovableHandle
from .normalization import (GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LayerNorm,
                            LocalResponseNorm)
from .parameter import Parameter
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                      MaxPool1d, MaxPool2d, MaxPool3d)
from .sparse import Embedding
from .upsample import Upsample

__all__ = ["Module", "Parameter", "IncompatibleKeys", "RemovableHandle", "Sequential", "ModuleList", "ModuleDict",
           "Conv1d", "Conv2d", "Conv3d", "Linear", "Identity", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU",
           "Softmax", "LogSoftmax", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout", "Dropout1d", "Dropout2d", "Embedding",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss", "functional", "init", "utils",
           "ELU", "SELU", "CELU", "SiLU", "Mish", "Softplus", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish",
           "Softsign", "LogSigmoid", "PReLU", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "KLDivLoss"]
__all__ += ["LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm"]
__all__ += ["ConvTranspose1d", "ConvTranspose2d", "Upsample"]
__all__ += ["MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "BatchNorm3d", "Unflatten"]
