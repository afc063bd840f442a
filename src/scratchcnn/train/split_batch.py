"""Data parallelism over the cores for one training step: the batch is split into one contiguous part per core
and the parts' forward and backward passes run concurrently (NumPy and BLAS release the GIL; BLAS runs one
thread per part). Small and thin layers, whose single ops cannot keep two cores busy, gain most (measured by
``scratchcnn bench``: seed000 and TextCNN steps ~20% shorter).

The loss is computed once, on the whole batch's outputs, so any loss (class weights, label smoothing,
``ignore_index``) keeps its exact meaning, and the parameters' gradients are those of the unsplit step up to
float summation order (the parts' gradients are summed in part order: deterministic). Not used when a module
couples the samples of a batch (BatchNorm with batch statistics) or for models whose large GEMMs already keep
the cores busy (more than ``MAX_PARAMETERS`` parameters outside embedding tables). Random draws (dropout) come from
one generator per part, seeded from the default generator: reproducible for a given number of parts, but not
the draws of an unsplit step.

    logits, finish = forward_for_training(model, x)   # split when split_parts(model, N) > 1
    loss = loss_fn(logits, y); loss.backward()         # (split: only the gradient w.r.t. the outputs)
    finish()                                           # (split: back through the parts, concurrently)
"""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from ..parallel import get_num_threads, one_blas_thread, parallel_for
from ..random import default_generator, thread_generator
from ..tensor import _STEALABLE_REFS, Tensor, leaf_grads_apart

__all__ = ["split_parts", "forward_split", "forward_for_training", "MIN_PART", "MAX_PARAMETERS"]

MIN_PART = 8
"""Fewest samples per part (below this the threads' overhead outweighs the gain)."""

MAX_PARAMETERS = 2_000_000
"""Models with more parameters outside embedding tables (lookups, not GEMMs) are not split: their large GEMMs
already use every core, so splitting gains little and can lose (seed001, 6.5 M parameters: a training step
with its BatchNorm in eval mode 144 -> 136 ms, a LoRA fine-tuning run 3.27 -> 3.49 s). seed000 (0.2 M) and
TextCNN (0.15 M + embeddings) gain ~20%."""

def split_parts(model: Any, batch_size: int) -> int:
    """How many parts a training step of ``model`` on ``batch_size`` samples runs in: one per thread
    (``scratchcnn.get_num_threads()``), at least ``MIN_PART`` samples each; 1 (no split) when a BatchNorm layer
    uses batch statistics (training mode, or no running statistics), the model has more than
    ``MAX_PARAMETERS`` parameters outside its embeddings, or ``SCRATCHCNN_SPLIT_BATCH=0``."""
    if os.environ.get("SCRATCHCNN_SPLIT_BATCH", "1") == "0":
        return 1
    parts = min(get_num_threads(), batch_size // MIN_PART)
    if parts <= 1:
        return 1
    from ..nn.sparse import Embedding
    dense = sum(p.data.size for m in model.modules() if not isinstance(m, Embedding) for p in m.parameters(False))
    if dense > MAX_PARAMETERS:
        return 1              # big layers: their GEMMs already keep the cores busy
    from ..nn.batchnorm import _BatchNorm
    if any(isinstance(m, _BatchNorm) and (m.training or m.running_mean is None) for m in model.modules()):
        return 1                                  # batch statistics couple the samples
    return parts


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _split(x: Any, bounds: list[int], i: int) -> Tensor:
    return Tensor(_data(x)[bounds[i]:bounds[i + 1]])


def forward_split(model: Any, x: Any, parts: int) -> tuple[Tensor, Callable[[], None]]:
    """Run ``model`` on ``parts`` contiguous parts of the batch ``x`` concurrently.

    Returns ``(logits, finish)``: ``logits`` is a leaf Tensor (requires grad) holding the whole batch's outputs
    (N, ...); after ``loss.backward()`` has filled ``logits.grad``, ``finish()`` back-propagates it through the
    parts concurrently and adds the parameters' gradients into their ``.grad`` (summed in part order).
    """
    n = len(_data(x))
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    seeds = default_generator().integers(2 ** 63 - 1, size=parts)
    outs: list[Any] = [None] * parts
    errstate = np.geterr()           # NumPy's error handling is per thread: the parts follow the caller's

    def forward(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            with np.errstate(**errstate), thread_generator(np.random.default_rng(int(seeds[i]))):
                outs[i] = model(_split(x, bounds, i))
    with one_blas_thread():
        parallel_for(forward, parts, work=1 << 62)
    # a leaf that requires grad exactly when the parts' outputs do (nothing trainable: loss.backward() says so)
    logits = Tensor(np.concatenate([o.data for o in outs]), requires_grad=outs[0].requires_grad)

    def finish() -> None:
        if logits.grad is None:
            raise RuntimeError("forward_split: call loss.backward() before finish()")
        grads: list[dict] = [{} for _ in range(parts)]

        def backward(lo: int, hi: int) -> None:
            for i in range(lo, hi):
                with np.errstate(**errstate), leaf_grads_apart() as sink:
                    outs[i].backward(logits.grad[bounds[i]:bounds[i + 1]])
                grads[i] = sink
        with one_blas_thread():
            parallel_for(backward, parts, work=1 << 62)
        order: dict[int, Tensor] = {}
        for sink in grads:
            for key, (leaf, _) in sink.items():
                order.setdefault(key, leaf)
        for key, leaf in order.items():
            arrays = [sink.pop(key)[1] for sink in grads if key in sink]
            total = arrays[0]
            for a in arrays[1:]:
                total = total + a
            del arrays
            leaf._accumulate(total, _STEALABLE_REFS)   # adopted unless .grad already holds a gradient
    return logits, finish


def forward_for_training(model: Any, x: Any, split: bool = True) -> tuple[Tensor, Callable[[], None]]:
    """``(model(x), finish)`` for one training step: split over the cores when ``split`` and
    ``split_parts(model, N) > 1`` (then ``finish()`` must follow ``loss.backward()``), else the plain forward
    (``finish`` does nothing)."""
    n = len(_data(x))
    parts = split_parts(model, n) if split else 1
    if parts > 1:
        return forward_split(model, x, parts)
    return model(x), _nothing


def _nothing() -> None:
    return None
