"""Layer pairs and triples computed in a cheaper but equal way when nothing can observe the difference.

``relu_max_pool(relu, pool, x)`` is ``pool(relu(x))`` (a conv block's "ReLU -> max pool"). Because ReLU is
monotone, ``max(relu(a), relu(b)) == relu(max(a, b))``: the same values come out of ``relu(pool(x))``, with the
ReLU on the pooled tensor (a quarter of the size for 2x2 pooling) instead of the full one. The gradients are
equal too: where a window's maximum is > 0 both orders send the gradient to that window's first maximum (ReLU
leaves positive values unchanged), and where it is <= 0 both send 0. The swap is made only for a plain
``nn.ReLU`` and ``nn.MaxPool1d``/``2d`` (no ``return_indices``) without forward hooks, so hooks that capture
the ReLU's full-size output (feature-map plots, ``summary``) see exactly what they always saw; anything else
(other activations, average pooling, the PyTorch twins of ``scratchcnn.bench``) runs ``pool(relu(x))`` as written.

``conv_relu_max_pool(conv, relu, pool, x)`` is ``pool(relu(conv(x)))``; for a thin layer (groups 1, at most
``functional.conv_pool.FUSE_MAX_WEIGHT`` weight values) whose output the pool tiles exactly, it runs
``relu(conv_max_pool_nd(x, ...))`` (:mod:`scratchcnn.functional.conv_pool`), which never writes the full-size
conv output; a layer that trains by Winograd (``functional.conv_winograd``) with a 2x2 pool runs
``relu(conv2d_winograd_max_pool(x, ...))``, pooled from the Winograd output tiles; otherwise
``relu_max_pool(relu, pool, conv(x))``. Same rule: plain layers without hooks only.
"""
from __future__ import annotations

from typing import Any

from .. import functional as F
from ..functional._im2col import to_tuple
from .activation import ReLU
from .conv import Conv1d, Conv2d
from .pooling import MaxPool1d, MaxPool2d

__all__ = ["relu_max_pool", "conv_relu_max_pool"]


def _plain(module: Any, kinds: tuple[type, ...]) -> bool:
    """An instance of exactly one of ``kinds`` (no subclass) without forward hooks."""
    return type(module) in kinds and not module._forward_hooks and not module._forward_pre_hooks


def relu_max_pool(relu: Any, pool: Any, x: Any) -> Any:
    """``pool(relu(x))``, computed as ``relu(pool(x))`` when that cannot be told apart (see the module doc)."""
    if _plain(relu, (ReLU,)) and _plain(pool, (MaxPool1d, MaxPool2d)) and not pool.return_indices:
        return relu(pool(x))
    return pool(relu(x))


def conv_relu_max_pool(conv: Any, relu: Any, pool: Any, x: Any) -> Any:
    """``pool(relu(conv(x)))``, fused for a thin conv layer when that cannot be told apart (see the module doc)."""
    if _plain(conv, (Conv1d, Conv2d)) and _plain(relu, (ReLU,)) and _plain(pool, (MaxPool1d, MaxPool2d)) \
            and not pool.return_indices and not pool.ceil_mode and conv.padding_mode == "zeros":
        nd = pool._n
        kernel = to_tuple(pool.kernel_size, nd, "kernel_size", repr(pool))
        tiles = (to_tuple(pool.stride, nd, "stride", repr(pool)) == kernel
                 and to_tuple(pool.padding, nd, "padding", repr(pool), minimum=0) == (0,) * nd
                 and to_tuple(pool.dilation, nd, "dilation", repr(pool)) == (1,) * nd)
        if tiles:
            conv._check_input(x)          # the layer's own shape error, as conv(x) would raise it
        if tiles and F.fuses(x, conv.weight, conv.stride, conv.padding, conv.dilation, conv.groups, kernel):
            return relu(F.conv_max_pool_nd(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation,
                                           conv.mode, kernel))
        if tiles and F.winograd_pools(x, conv.weight, conv.stride, conv.padding, conv.dilation, conv.groups, kernel):
            return relu(F.conv2d_winograd_max_pool(x, conv.weight, conv.bias, conv.padding, conv.mode))
    return relu_max_pool(relu, pool, conv(x))
