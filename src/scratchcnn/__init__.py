"""scratchcnn: convolutional deep learning from first principles on NumPy.

``import scratchcnn`` loads only NumPy; data, training, plotting and the CLI load their libraries lazily.
"""
from .autograd import Function, is_grad_enabled, no_grad, set_grad_enabled
from .backend import get_default_dtype, set_default_dtype
from .tensor import (Tensor, arange, empty, from_numpy, ones, ones_like, rand, randn, tensor, zeros,
                     zeros_like)
from . import functional, random
from .random import manual_seed
from .functional import cat, concat, stack

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "zeros", "ones", "empty", "zeros_like", "ones_like", "arange", "from_numpy", "rand", "randn",
           "Function", "no_grad", "set_grad_enabled", "is_grad_enabled", "get_default_dtype",
           "set_default_dtype", "functional", "random", "manual_seed", "cat", "concat", "stack", "__version__"]
