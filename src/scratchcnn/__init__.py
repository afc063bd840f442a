"""scratchcnn: convolutional deep learning from first principles on NumPy.

``import scratchcnn`` loads only NumPy; data, training, plotting and the CLI load their libraries lazily.

If ``OPENBLAS_THREAD_TIMEOUT`` is unset, it is set to 4, so that OpenBLAS' idle worker threads sleep almost at
once instead of spinning for a long while after every GEMM: a spinning worker occupies a core that scratchcnn's
own parallel loops (``scratchcnn.parallel``) need. Before NumPy loads, setting the variable is enough; if NumPy
came first, OpenBLAS is made to read it again (:mod:`scratchcnn._blas_workers`; threadpoolctl is imported for
that). Opt out by setting the variable yourself or ``SCRATCHCNN_NO_BLAS_TUNING=1``.
"""
import os as _os
import sys as _sys

_TUNE_BLAS = "OPENBLAS_THREAD_TIMEOUT" not in _os.environ and not _os.environ.get("SCRATCHCNN_NO_BLAS_TUNING")
if _TUNE_BLAS and "numpy" not in _sys.modules:
    _os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
elif _TUNE_BLAS:
    from ._blas_workers import quiet_openblas_workers as _quiet

    _quiet()

from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend import get_default_dtype, set_default_dtype
from .parallel import get_num_threads, set_num_threads
from .tensor import (Tensor, arange, empty, eye, from_numpy, full, linspace, ones, ones_like, rand, randint, randn,
                     tensor, zeros, zeros_like)
from . import functional, random
from .random import manual_seed
from .functional import cat, concat, stack
from .functional import (argsort, ceil, chunk, cumsum, flip, floor, gather, index_select, isfinite, isinf, isnan,
                         logsumexp, masked_fill, prod, roll, round, sign, sort, split, topk, where)

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "zeros", "ones", "empty", "zeros_like", "ones_like", "arange", "from_numpy", "rand",
           "randn", "full", "eye", "linspace", "randint",
           "Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "get_default_dtype",
           "set_default_dtype", "get_num_threads", "set_num_threads", "functional", "random", "manual_seed",
           "cat", "concat", "stack", "where", "masked_fill", "gather", "index_select", "split", "chunk", "flip", "roll",
           "prod", "logsumexp", "cumsum", "sort", "argsort", "topk", "sign", "floor", "ceil", "round", "isnan", "isinf",
           "isfinite", "__version__"]
