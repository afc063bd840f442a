"""Tensor: an ndarray plus what reverse-mode autograd needs (grad, requires_grad, the node that made it).

``backward()`` walks the graph in iterative reverse topological order (no recursion, so 10,000-node chains
work), accumulates gradients into leaves like PyTorch, and frees saved buffers unless ``retain_graph``.
"""
from __future__ import annotations

import operator
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import numpy as np

from . import backend
from .autograd import Node, is_grad_enabled, no_grad  # noqa: F401  (re-exported)

_STEALABLE_REFS = 3
"""References to a leaf gradient nobody else holds, seen from ``_accumulate``: the engine's local, the
argument, and ``sys.getrefcount``'s own."""

_sink = threading.local()   # .grads: {id(leaf): (leaf, grad)} while a split-batch part runs its backward


@contextmanager
def leaf_grads_apart() -> Iterator[dict]:
    """Within the block, backward passes run by THIS thread put leaf gradients into the yielded dict
    ``{id(leaf): (leaf, grad)}`` instead of ``.grad`` (the parts of a split batch run concurrently; their
    gradients are summed in a fixed order afterwards, so the result does not depend on thread timing)."""
    before = getattr(_sink, "grads", None)
    _sink.grads = {}
    try:
        yield _sink.grads
    finally:
        _sink.grads = before


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Args:
        data: array-like; Python floats become the default dtype (float32), integer data stays int64.
        requires_grad: record operations on this tensor and fill ``.grad`` on ``backward()``.
        dtype: optional explicit dtype.
    """

    __slots__ = ("data", "grad", "_requires_grad", "_node", "_retain", "_version", "_base", "__weakref__")
    __array_priority__ = 1000  # make ndarray (op) Tensor defer to Tensor's reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        elif isinstance(data, np.generic):
            data = np.asarray(data)  # a NumPy scalar keeps its dtype, like a 0-d array (and like torch)
        arr = backend.as_array(data, dtype)
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, got dtype {arr.dtype}")
        self.data: np.ndarray = arr
        self.grad: np.ndarray | None = None
        self._requires_grad: bool = bool(requires_grad)
        self._node: Node | None = None
        self._retain = False
        self._version = 0   # bumped by the library's in-place updates of .data (optimizers, nn.init, ...)
        self._base: Tensor | None = None   # the leaf whose memory this one views (its version counts)

    @classmethod
    def _wrap(cls, arr: np.ndarray, requires_grad: bool) -> "Tensor":
        t = cls.__new__(cls)
        t.data = arr if isinstance(arr, np.ndarray) else np.asarray(arr)
        t.grad = None
        t._requires_grad = requires_grad
        t._node = None
        t._retain = False
        t._version = 0
        t._base = None
        return t

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> Node | None:
        return self._node

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def _one(self, what: str):
        if self.data.size != 1:
            raise ValueError(f"{what} of a tensor with {self.data.size} values is ambiguous (shape {self.shape}); "
                             "reduce it first, e.g. with .any() / .all() / .sum()")
        return self.data.reshape(()).item()

    def __format__(self, spec: str) -> str:
        """A 0-d tensor formats as its value (``f"{loss:.4f}"``), as in PyTorch; others only with an empty spec."""
        if self.data.ndim == 0:
            return format(self.data.item(), spec)
        return object.__format__(self, spec)

    def __bool__(self) -> bool: return bool(self._one("the truth value"))
    def __float__(self) -> float: return float(self._one("float()"))
    def __int__(self) -> int: return int(self._one("int()"))
    def any(self) -> "Tensor": return Tensor._wrap(np.asarray(self.data.any()), False)
    def all(self) -> "Tensor": return Tensor._wrap(np.asarray(self.data.all()), False)

    def numpy(self) -> np.ndarray:
        return self.data

    def tolist(self):
        return self.data.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != backend.get_default_dtype() and self.data.dtype.kind == "f":
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded; settable on leaves, with the checks of
        :meth:`requires_grad_`."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad: bool) -> None:
        self.requires_grad_(requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        requires_grad = bool(requires_grad)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, got dtype {self.dtype}")
        if not self.is_leaf and requires_grad != self._requires_grad:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; to use a computed tensor "
                               "without its graph, use detach()")
        self._requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on a non-leaf tensor after ``backward()``."""
        self._retain = True

    def detach(self) -> "Tensor":
        """A new leaf tensor sharing this data (and, like PyTorch, its version counter), cut from the graph."""
        t = Tensor._wrap(self.data, False)
        root = self if self._base is None else self._base
        if root._node is None:     # only leaves are updated in place; a link to a graph output would keep it alive
            t._base = root
        return t

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Back-propagate from this tensor, accumulating into ``.grad`` of the leaves.

        Args:
            gradient: d(out)/d(self); required unless this tensor has exactly one element.
            retain_graph: keep saved buffers so backward can run through the graph again.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (and has no grad_fn)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs a gradient argument "
                    "of the same shape (grad can be implicitly created only for scalar outputs)")
            g = np.ones_like(self.data)
        else:
            g = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=self.dtype)
            if g.shape != self.shape:
                raise ValueError(f"backward(): gradient shape {g.shape} does not match tensor shape {self.shape}")
        if self._node is None:
            self._accumulate(g)
            return
        order = _topo_order(self)
        grads: dict[int, np.ndarray] = {id(self): g}
        for t in order:
            gt = grads.pop(id(t), None)
            if gt is None:
                continue
            node = t._node
            if node.freed:
                raise RuntimeError(
                    "trying to backward through the graph a second time; pass retain_graph=True the first time")
            if t._retain:
                t._accumulate(gt)
            for inp, v in zip(node.inputs, node.versions):
                if inp is not None and (inp._version if inp._base is None else inp._base._version) != v:
                    node._check_versions()    # raises if backward would read the in-place-modified values
                    break
            in_grads = node.fn.backward(node.ctx, gt)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if not retain_graph:
                node.ctx.saved = ()
                node.freed = True
            in_grads = list(in_grads)
            for i, inp in enumerate(node.inputs):
                gi = in_grads[i] if i < len(in_grads) else None
                if inp is None or gi is None or not inp.requires_grad:
                    continue
                if gi.dtype != inp.data.dtype:
                    gi = gi.astype(inp.data.dtype)
                if inp._node is None:
                    in_grads[i] = None          # so that a gradient nobody else holds can be adopted
                    inp._accumulate(gi, _STEALABLE_REFS)
                else:
                    key = id(inp)
                    prev = grads.get(key)
                    grads[key] = gi if prev is None else prev + gi

    def _accumulate(self, g: np.ndarray, stealable_refs: int = 0) -> None:
        """Add ``g`` into ``.grad``. The first gradient is copied, unless the engine passes ``stealable_refs``
        and ``g`` is a fresh array that owns its memory and that nothing else references (PyTorch's
        AccumulateGrad rule): then it is adopted as ``.grad`` without a copy (a 26 MB copy per step for
        seed001's fc1). Views, shared or saved arrays and arrays of another dtype are always copied. Inside
        ``leaf_grads_apart`` the sum goes to the calling thread's dict instead of ``.grad``."""
        if g.shape != self.data.shape:
            g = np.broadcast_to(g, self.data.shape)
        sink = getattr(_sink, "grads", None)   # set while a part of a split batch runs its backward
        prev = self.grad if sink is None else sink.get(id(self), (None, None))[1]
        if prev is None:
            adopt = (stealable_refs and g.flags.owndata and g.flags.writeable and g.dtype == self.data.dtype
                     and sys.getrefcount(g) <= stealable_refs)
            new = g if adopt else np.array(g, dtype=self.data.dtype, copy=True)
        else:
            new = np.asarray(prev + g)   # 0-d + 0-d is a NumPy scalar: keep .grad an (in-place updatable) array
        if sink is None:
            self.grad = new
        else:              # this thread's gradients stay apart; the parts are summed in order afterwards
            sink[id(self)] = (self, new)

    # ------------------------------------------------------------------ conversions
    def astype(self, dtype) -> "Tensor":
        from .functional.elementwise import cast
        return cast(self, dtype)

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    def clone(self) -> "Tensor":
        """A copy that stays in the graph (the gradient flows back to this tensor), like PyTorch's ``clone``."""
        return _ew.cast(self, self.dtype)

    def long(self) -> "Tensor":
        return Tensor._wrap(self.data.astype(np.int64), False)

    # ------------------------------------------------------------------ operators
    def __add__(self, o): return _ew.add(self, o)
    def __radd__(self, o): return _ew.add(o, self)
    def __sub__(self, o): return _ew.sub(self, o)
    def __rsub__(self, o): return _ew.sub(o, self)
    def __mul__(self, o): return _ew.mul(self, o)
    def __rmul__(self, o): return _ew.mul(o, self)
    def __truediv__(self, o): return _ew.div(self, o)
    def __rtruediv__(self, o):            # scalar / tensor is reciprocal(tensor) * scalar, as in PyTorch
        if isinstance(o, (int, float)) and not isinstance(o, bool):
            return _ew.mul(_ew.reciprocal(self), o)
        return _ew.div(o, self)
    def __pow__(self, o): return _ew.pow(self, o)
    def __rpow__(self, o): return _ew.pow(o, self)
    def __neg__(self): return _ew.neg(self)
    def __matmul__(self, o): return _lin.matmul(self, o)
    def __rmatmul__(self, o): return _lin.matmul(o, self)
    def __getitem__(self, idx): return _shape.index(self, idx)

    # comparisons give plain (non-differentiable) boolean tensors
    def _cmp(self, o, op):
        od = o.data if isinstance(o, Tensor) else o
        try:
            return Tensor._wrap(op(self.data, od), False)
        except TypeError:      # an operand NumPy cannot compare with (e.g. pytest.approx): let it answer, as torch does
            return NotImplemented

    def __lt__(self, o): return self._cmp(o, np.less)
    def __le__(self, o): return self._cmp(o, np.less_equal)
    def __gt__(self, o): return self._cmp(o, np.greater)
    def __ge__(self, o): return self._cmp(o, np.greater_equal)
    def __eq__(self, o): return self._cmp(o, np.equal)          # elementwise, like PyTorch
    def __ne__(self, o): return self._cmp(o, np.not_equal)
    def eq(self, o): return self._cmp(o, np.equal)
    def ne(self, o): return self._cmp(o, np.not_equal)
    __hash__ = object.__hash__    # identity: tensors stay usable as dict keys (optimizer state)

    # ------------------------------------------------------------------ method forms of functional ops
    def exp(self): return _ew.exp(self)
    def log(self): return _ew.log(self)
    def sqrt(self): return _ew.sqrt(self)
    def reciprocal(self): return _ew.reciprocal(self)
    def abs(self): return _ew.abs(self)
    def clip(self, min=None, max=None): return _ew.clip(self, min, max)
    clamp = clip
    def matmul(self, o): return _lin.matmul(self, o)

    # reductions take PyTorch's dim/keepdim or NumPy's axis/keepdims (see functional.reduce)
    def sum(self, *args, **kw): return _red.sum(self, *args, **kw)
    def mean(self, *args, **kw): return _red.mean(self, *args, **kw)
    def max(self, *args, **kw): return _red.max(self, *args, **kw)
    def min(self, *args, **kw): return _red.min(self, *args, **kw)
    def amax(self, dim=None, keepdim: bool = False): return _red.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim: bool = False): return _red.amin(self, dim, keepdim)
    def var(self, *args, **kw): return _red.var(self, *args, **kw)
    def std(self, *args, **kw): return _red.std(self, *args, **kw)
    def argmax(self, *args, **kw) -> "Tensor": return _red.argmax(self, *args, **kw)
    def argmin(self, *args, **kw) -> "Tensor": return _red.argmin(self, *args, **kw)
    def maximum(self, o): return _ew.maximum(self, o)
    def minimum(self, o): return _ew.minimum(self, o)

    def reshape(self, *shape): return _shape.reshape(self, _shape_args(shape))
    def view(self, *shape): return _shape.reshape(self, _shape_args(shape))
    def transpose(self, a: int, b: int): return _shape.transpose(self, a, b)
    def permute(self, *dims): return _shape.permute(self, _shape_args(dims))
    def flatten(self, start_dim: int = 0, end_dim: int = -1): return _shape.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return _shape.squeeze(self, dim)
    def unsqueeze(self, dim: int): return _shape.unsqueeze(self, dim)

    def relu(self): return _act.relu(self)
    def sigmoid(self): return _act.sigmoid(self)
    def tanh(self): return _act.tanh(self)
    def softmax(self, dim: int): return _act.softmax(self, dim)
    def log_softmax(self, dim: int): return _act.log_softmax(self, dim)

    # selection, shape, scans and orderings with PyTorch's names and signatures (see functional.select/rearrange/reduce)
    def where(self, condition, other): return _sel.where(condition, self, other)
    def masked_fill(self, mask, value): return _sel.masked_fill(self, mask, value)
    def gather(self, dim: int, index): return _sel.gather(self, dim, index)
    def index_select(self, dim: int, index): return _sel.index_select(self, dim, index)
    def expand(self, *sizes): return _rea.expand(self, *sizes)
    def expand_as(self, other): return _rea.expand(self, other.shape)
    def repeat(self, *sizes): return _rea.repeat(self, *sizes)
    def split(self, split_size, dim: int = 0): return _rea.split(self, split_size, dim)
    def chunk(self, chunks: int, dim: int = 0): return _rea.chunk(self, chunks, dim)
    def flip(self, *dims): return _rea.flip(self, _shape_args(dims))
    def roll(self, shifts, dims=None): return _rea.roll(self, shifts, dims)
    def prod(self, dim=None, keepdim: bool = False, *, dtype=None): return _red.prod(self, dim, keepdim, dtype=dtype)
    def logsumexp(self, dim, keepdim: bool = False): return _red.logsumexp(self, dim, keepdim)
    def cumsum(self, dim: int, *, dtype=None): return _red.cumsum(self, dim, dtype=dtype)
    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False):
        return _red.sort(self, dim, descending, stable=stable)
    def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False):
        return _red.argsort(self, dim, descending, stable=stable)
    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        return _red.topk(self, k, dim, largest, sorted)
    def sign(self): return _ew.sign(self)
    def floor(self): return _ew.floor(self)
    def ceil(self): return _ew.ceil(self)
    def round(self, *, decimals: int = 0): return _ew.round(self, decimals=decimals)
    def isnan(self): return _ew.isnan(self)
    def isinf(self): return _ew.isinf(self)
    def isfinite(self): return _ew.isfinite(self)

    # ------------------------------------------------------------------ dtype / device / layout conversions
    def to(self, *args, dtype=None, device=None, copy: bool = False, non_blocking: bool = False) -> "Tensor":
        """PyTorch's ``Tensor.to`` for dtypes: ``to(dtype)``, ``to(other)`` (its dtype), ``to("cpu")``,
        ``to("cpu", dtype)``, ``dtype=``/``device=`` keywords. The same dtype returns this tensor itself (a copy
        with ``copy=True``); another dtype is a cast that stays in the graph. scratchcnn runs on the CPU only:
        any device but ``"cpu"`` raises ValueError."""
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif _is_device(a):
                device = a
            else:
                dtype = a
        if device is not None:
            name = str(device)
            if name.split(":")[0] not in _DEVICE_TYPES:
                raise TypeError(f"Tensor.to: {name!r} is neither a dtype nor a device")
            if name.split(":")[0] != "cpu":
                raise ValueError(f"Tensor.to: scratchcnn runs on NumPy on the CPU only; device {name!r} is not "
                                 "available (use 'cpu')")
        dt = self.dtype if dtype is None else _resolve_dtype(dtype)
        if dt == self.dtype and not copy:
            return self
        return _ew.cast(self, dt)

    def type(self, dtype=None):
        """Without ``dtype``: PyTorch's type string (``'torch.FloatTensor'``, ``'torch.LongTensor'``, ...); with one
        (a dtype or such a string): ``to(dtype)``."""
        if dtype is None:
            return "torch." + _TYPE_NAMES.get(self.dtype.name, self.dtype.name)
        if isinstance(dtype, str) and dtype.startswith("torch.") and dtype.endswith("Tensor"):
            names = {v: k for k, v in _TYPE_NAMES.items()}
            if dtype[6:] not in names:
                raise TypeError(f"Tensor.type: unknown type {dtype!r}")
            dtype = names[dtype[6:]]
        return self.to(dtype)

    def contiguous(self) -> "Tensor":
        """This tensor if its data is C-contiguous, else a C-contiguous copy that stays in the graph."""
        return self if self.data.flags.c_contiguous else _rea.contiguous_copy(self)

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def int(self) -> "Tensor":
        """An int32 copy (not differentiable), like PyTorch's ``Tensor.int()``."""
        return _ew.cast(self, np.int32)

    def bool(self) -> "Tensor":
        """A bool copy (nonzero -> True; not differentiable), like PyTorch's ``Tensor.bool()``."""
        return _ew.cast(self, np.bool_)


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
               "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
               "bool": "BoolTensor"}


_DEVICE_TYPES = ("cpu", "cuda", "mps", "meta", "xpu", "xla", "hip", "hpu", "ipu", "mtia", "lazy", "vulkan", "ve",
                 "privateuseone")


def _is_device(x: Any) -> bool:
    """A device spelling (``"cpu"``, ``"cuda:0"``, a ``torch.device``), as opposed to a dtype."""
    if type(x).__name__ == "device":
        return True
    if not isinstance(x, str):
        return False
    try:
        np.dtype(x)
    except TypeError:
        return True
    return False


def _resolve_dtype(dtype: Any) -> np.dtype:
    """A NumPy dtype from a NumPy/Python dtype or its name; a ``torch.float64``-style object by its name (torch
    itself is never imported)."""
    name = str(dtype)
    if name.startswith("torch."):
        return np.dtype(name[6:])
    return np.dtype(dtype)


def _shape_args(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _topo_order(root: Tensor) -> list[Tensor]:
    """Non-leaf tensors reachable from ``root`` in reverse topological order (root first), iteratively."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        for inp in t._node.inputs:
            if inp is not None and inp._node is not None and inp.requires_grad and id(inp) not in visited:
                stack.append((inp, False))
    order.reverse()
    return order


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor holding a COPY of ``data`` (PyTorch's ``torch.tensor``; ``from_numpy`` and ``Tensor(array)``
    share the array's memory instead)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(np.array(data, copy=True) if isinstance(data, np.ndarray) else data, requires_grad=requires_grad,
                  dtype=dtype)


def _factory(fn):
    def make(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
        dt = np.dtype(dtype) if dtype is not None else backend.get_default_dtype()
        return Tensor(fn(_shape_args(shape), dtype=dt), requires_grad=requires_grad)
    make.__name__ = fn.__name__
    make.__doc__ = f"A tensor filled like ``numpy.{fn.__name__}`` (default dtype float32)."
    return make


zeros = _factory(np.zeros)
ones = _factory(np.ones)
empty = _factory(np.empty)


def randn(*shape, dtype=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Standard-normal samples from ``generator`` (default: scratchcnn.random.default_generator())."""
    from .random import default_generator
    dt = np.dtype(dtype) if dtype is not None else backend.get_default_dtype()
    g = generator if generator is not None else default_generator()
    return Tensor(g.standard_normal(_shape_args(shape)).astype(dt), requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Uniform [0, 1) samples from ``generator`` (default: scratchcnn.random.default_generator())."""
    from .random import default_generator
    dt = np.dtype(dtype) if dtype is not None else backend.get_default_dtype()
    g = generator if generator is not None else default_generator()
    return Tensor(g.random(_shape_args(shape)).astype(dt), requires_grad=requires_grad)


def _dtype_or_default(dtype: Any) -> np.dtype:
    return _resolve_dtype(dtype) if dtype is not None else backend.get_default_dtype()


def full(size, fill_value, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """PyTorch's ``torch.full``: a tensor of shape ``size`` filled with ``fill_value``. Without ``dtype`` the value
    decides, as in PyTorch: a bool gives bool, an int int64, a float the default dtype (float32)."""
    shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if dtype is None:
        kind = np.asarray(fill_value).dtype.kind
        dtype = np.bool_ if kind == "b" else np.int64 if kind in "iu" else None
    return Tensor(np.full(shape, fill_value, dtype=_dtype_or_default(dtype)), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """PyTorch's ``torch.eye``: an ``n`` x ``m`` (default ``n`` x ``n``) matrix with ones on the diagonal."""
    n = operator.index(n)
    m = n if m is None else operator.index(m)
    if n < 0 or m < 0:
        raise ValueError(f"eye: n and m must be greater or equal to 0, got n={n}, m={m}")
    return Tensor(np.eye(n, m, dtype=_dtype_or_default(dtype)), requires_grad=requires_grad)


def linspace(start, end, steps: int, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """PyTorch's ``torch.linspace``: ``steps`` evenly spaced values from ``start`` to ``end`` inclusive (default
    dtype float32). As PyTorch's CPU kernel, the first half counts up from ``start`` and the second half down
    from ``end`` (so both ends are exact); integer dtypes truncate the float64 values."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"linspace: steps must be an int, got {steps!r}")
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    dt = _dtype_or_default(dtype)
    ct = dt if dt.kind == "f" else np.dtype(np.float64)          # the type the values are computed in
    i = np.arange(steps)
    lo, hi = ct.type(start), ct.type(end)
    with np.errstate(invalid="ignore", over="ignore"):
        step = (hi - lo) / ct.type(steps - 1) if steps > 1 else ct.type(0)
    half = steps // 2
    with np.errstate(invalid="ignore", over="ignore"):
        vals = np.where(i < half, lo + step * i.astype(ct), hi - step * (steps - i - 1).astype(ct))
    if steps == 1:
        vals = np.full(1, lo)                                        # PyTorch: just start
    return Tensor(vals.astype(dt), requires_grad=requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """PyTorch's ``torch.randint``: integers drawn uniformly from ``[low, high)``, called ``randint(high, size)``
    or ``randint(low, high, size)``, from ``generator`` (default: scratchcnn.random.default_generator(), so
    ``manual_seed`` makes the draws reproducible). int64 unless ``dtype`` is given."""
    from .random import default_generator
    if size is None and isinstance(high, (tuple, list)):        # randint(high, size)
        low, high, size = 0, low, high
    elif high is None and size is not None:                      # randint(high, size=size)
        low, high = 0, low
    if high is None or size is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    if isinstance(size, (int, np.integer)):
        raise TypeError(f"randint: size must be a tuple of ints, got {size!r}")
    low, high = operator.index(low), operator.index(high)
    if low >= high:
        raise ValueError(f"randint: expects 'low' to be less than 'high', but got low={low} >= high={high}")
    g = generator if generator is not None else default_generator()
    draws = g.integers(low, high, size=tuple(size), dtype=np.int64)
    dt = np.dtype(np.int64) if dtype is None else _resolve_dtype(dtype)
    return Tensor(draws.astype(dt, copy=False), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros with ``t``'s shape and dtype."""
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """A tensor of ones with ``t``'s shape and dtype."""
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


def arange(*args, dtype=None) -> Tensor:
    """Evenly spaced values in a 1-D tensor, like ``numpy.arange`` (same arguments and dtype rules)."""
    return Tensor(np.arange(*args, dtype=dtype))


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing ``arr``'s memory (no copy), like ``torch.from_numpy``."""
    return Tensor(arr)


# bound at the end to break the import cycle tensor <-> functional
from .functional import activation as _act  # noqa: E402
from .functional import elementwise as _ew  # noqa: E402
from .functional import linalg as _lin  # noqa: E402
from .functional import rearrange as _rea  # noqa: E402
from .functional import reduce as _red  # noqa: E402
from .functional import select as _sel  # noqa: E402
from .functional import shape as _shape  # noqa: E402
