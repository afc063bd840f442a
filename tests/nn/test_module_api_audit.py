"""Module / container API behaviours found to differ from PyTorch in an audit (each test failed before its fix).

Tests taking the ``torch`` fixture build the same structure in both libraries and compare; the others check
scratchcnn alone (where PyTorch itself misbehaves or the check needs no oracle).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn


def _names(mods):
    return [type(m).__name__ for m in mods]


def _x(shape=(2,)):
    return sc.Tensor(np.ones(shape, dtype=np.float32))


# ------------------------------------------------------------------ Sequential / ModuleList insert
def test_sequential_insert_negative_index_like_torch(torch):
    for index in (-1, -3, 0, 3):
        ours = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
        theirs = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.Sigmoid())
        ours.insert(index, nn.Identity())
        theirs.insert(index, torch.nn.Identity())
        assert _names(ours) == _names(theirs), index
        assert list(ours._modules) == list(theirs._modules)


def test_insert_of_a_non_module_raises_and_keeps_the_container():
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    with pytest.raises(TypeError, match="int is not a Module"):
        seq.insert(0, 5)
    assert _names(seq) == ["ReLU", "Tanh"] and list(seq._modules) == ["0", "1"]
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    with pytest.raises(TypeError, match="int is not a Module"):
        ml.insert(0, 5)
    assert _names(ml) == ["ReLU", "Tanh"]


# ------------------------------------------------------------------ ModuleDict
def test_module_dict_from_and_update_with_a_module_dict_like_torch(torch):
    ours = nn.ModuleDict(nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()}))
    theirs = torch.nn.ModuleDict(torch.nn.ModuleDict({"a": torch.nn.ReLU(), "b": torch.nn.Tanh()}))
    assert list(ours.keys()) == list(theirs.keys()) == ["a", "b"]
    ours.update(nn.ModuleDict({"x": nn.Sigmoid(), "a": nn.ELU()}))
    theirs.update(torch.nn.ModuleDict({"x": torch.nn.Sigmoid(), "a": torch.nn.ELU()}))
    assert list(ours.keys()) == list(theirs.keys())
    assert _names(ours.values()) == _names(theirs.values())


def test_module_dict_update_rejects_bad_input_clearly():
    md = nn.ModuleDict()
    with pytest.raises(TypeError, match="ModuleDict.update.*got int"):
        md.update(5)
    with pytest.raises(ValueError, match="element #0 has length 3; 2 is required"):
        md.update([("a", nn.ReLU(), 1)])
    with pytest.raises(TypeError, match="element #0"):
        md.update([nn.ReLU()])
    md.update([("a", nn.ReLU()), ["b", nn.Tanh()]])
    assert list(md) == ["a", "b"]


def test_module_list_extend_non_iterable_names_the_problem():
    with pytest.raises(TypeError, match="ModuleList.extend.*iterable.*got int"):
        nn.ModuleList().extend(5)


# ------------------------------------------------------------------ indexing with NumPy integers
def test_containers_accept_numpy_integer_indices_like_torch(torch):
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    tseq = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh())
    for i in (np.int64(1), np.int32(-1)):
        assert type(seq[i]).__name__ == type(ml[i]).__name__ == type(tseq[i]).__name__ == "Tanh"
    ml[np.int64(0)] = nn.ELU()
    assert _names(ml) == ["ELU", "Tanh"]
    with pytest.raises(TypeError, match="Sequential indices must be integers or slices, got str"):
        seq["0"]


# ------------------------------------------------------------------ container arithmetic
def test_sequential_add_mul_iadd_like_torch(torch):
    a, b = nn.ReLU(), nn.Tanh()
    s = nn.Sequential(a) + nn.Sequential(b)
    ts = torch.nn.Sequential(torch.nn.ReLU()) + torch.nn.Sequential(torch.nn.Tanh())
    assert isinstance(s, nn.Sequential) and _names(s) == _names(ts) and s[0] is a and s[1] is b
    m = nn.Sequential(a, b) * 2
    tm = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh()) * 2
    assert list(m._modules) == list(tm._modules) and m[2] is a
    assert list((2 * nn.Sequential(a))._modules) == ["0", "1"]
    s2 = nn.Sequential(a)
    s2 += nn.Sequential(b)
    s2 *= 2
    assert _names(s2) == ["ReLU", "Tanh", "ReLU", "Tanh"] and list(s2._modules) == ["0", "1", "2", "3"]
    with pytest.raises(ValueError, match="non-positive"):
        nn.Sequential(a) * 0
    with pytest.raises(TypeError):
        nn.Sequential(a) + nn.ModuleList([b])


def test_module_list_add_like_torch(torch):
    a, b = nn.ReLU(), nn.Tanh()
    out = nn.ModuleList([a]) + nn.ModuleList([b])
    tout = torch.nn.ModuleList([torch.nn.ReLU()]) + torch.nn.ModuleList([torch.nn.Tanh()])
    assert isinstance(out, nn.ModuleList) and _names(out) == _names(tout) and out[1] is b
    assert list(out._modules) == list(tout._modules)


# ------------------------------------------------------------------ repr
def test_module_list_repr_collapses_repeats_like_torch(torch):
    ours = nn.ModuleList([nn.Linear(2, 3), nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Tanh()),
                          nn.Sequential(nn.Tanh())])
    theirs = torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.Linear(2, 3), torch.nn.ReLU(),
                                  torch.nn.Sequential(torch.nn.Tanh()), torch.nn.Sequential(torch.nn.Tanh())])
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"
    wrapped = nn.Sequential(nn.ModuleList([nn.ReLU(), nn.ReLU()]))
    twrapped = torch.nn.Sequential(torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU()]))
    assert repr(wrapped) == repr(twrapped)


def test_incompatible_keys_repr_like_torch(torch):
    ours = nn.Linear(2, 2).load_state_dict(nn.Linear(2, 2).state_dict())
    theirs = torch.nn.Linear(2, 2).load_state_dict(torch.nn.Linear(2, 2).state_dict())
    assert repr(ours) == repr(theirs) == "<All keys matched successfully>"
    sd = nn.Linear(2, 2).state_dict()
    del sd["bias"]
    res = nn.Linear(2, 2).load_state_dict(sd, strict=False)
    assert repr(res) == "IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])"
    assert res.missing_keys == ["bias"] and res == (["bias"], [])


# ------------------------------------------------------------------ get_parameter / get_buffer / get_submodule
def test_get_parameter_and_get_buffer_like_torch(torch):
    ours = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    assert ours.get_parameter("0.bias") is ours[0].bias
    assert tuple(ours.get_parameter("0.weight").shape) == tuple(theirs.get_parameter("0.weight").shape)
    assert ours.get_buffer("1.running_mean") is ours[1].running_mean
    assert tuple(ours.get_buffer("1.running_var").shape) == tuple(theirs.get_buffer("1.running_var").shape)
    for call, target in ((ours.get_parameter, "0.nope"), (ours.get_parameter, "1.running_mean"),
                         (ours.get_buffer, "0.weight"), (ours.get_parameter, "5.weight")):
        with pytest.raises(AttributeError):
            call(target)
        with pytest.raises(AttributeError):
            getattr(theirs, call.__name__)(target)
    with pytest.raises(AttributeError, match="'0.nope'"):
        ours.get_parameter("0.nope")
    no_bias = nn.Linear(2, 2, bias=False)
    with pytest.raises(AttributeError, match="'bias' is None"):
        no_bias.get_parameter("bias")
    with pytest.raises(AttributeError):
        torch.nn.Linear(2, 2, bias=False).get_parameter("bias")


def test_get_submodule_of_a_none_slot_raises_like_torch(torch):
    ours, theirs = nn.Module(), torch.nn.Module()
    ours.fc, theirs.fc = nn.ReLU(), torch.nn.ReLU()
    ours.fc, theirs.fc = None, None
    with pytest.raises(AttributeError):
        theirs.get_submodule("fc")
    with pytest.raises(AttributeError, match="'fc' is None"):
        ours.get_submodule("fc")


# ------------------------------------------------------------------ hooks
def test_hook_handle_is_a_context_manager_like_torch():
    m = nn.ReLU()
    calls = []
    with m.register_forward_hook(lambda mod, args, out: calls.append(1)) as h:
        m(_x())
    assert isinstance(h, nn.RemovableHandle)
    m(_x())
    assert calls == [1] and not m._forward_hooks


class _Scaled(nn.Module):
    def forward(self, x, scale=1.0):
        return x * scale


def test_hooks_with_kwargs_and_prepend_like_torch(torch):
    class TScaled(torch.nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    results = []
    for m, x in ((_Scaled(), _x()), (TScaled(), torch.ones(2))):
        seen, order = [], []
        m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {**kwargs, "scale": kwargs["scale"] + 1}),
                                    with_kwargs=True)
        m.register_forward_pre_hook(lambda mod, args: order.append("pre-first"), prepend=True)
        m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(dict(kwargs)), with_kwargs=True)
        m.register_forward_hook(lambda mod, args, out: order.append("post-first"), prepend=True)
        out = m(x, scale=2.0)
        results.append((float(out.sum()), seen, order))
    assert results[0] == results[1] == (6.0, [{"scale": 3.0}], ["pre-first", "post-first"])


def test_hook_with_kwargs_bad_return_and_removal():
    m = _Scaled()
    h = m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
    with pytest.raises(TypeError, match="new_args, new_kwargs"):
        m(_x(), scale=2.0)
    h.remove()
    assert not m._forward_pre_hooks and not m._forward_pre_hooks_with_kwargs
    assert float(m(_x(), scale=2.0).sum()) == 4.0
    with pytest.raises(TypeError, match="callable"):
        m.register_forward_hook(5)


def test_hooks_survive_deepcopy_and_plain_hooks_still_work():
    import copy

    m = _Scaled()
    m.register_forward_hook(lambda mod, args, kwargs, out: out * 10, with_kwargs=True)
    m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    d = copy.deepcopy(m)
    assert float(d(_x(), scale=1.0).sum()) == 40.0
    assert float(m(_x()).sum()) == 40.0


def test_sequential_negative_index_slice_and_named_keys_unchanged():
    seq = nn.Sequential(OrderedDict([("a", nn.ReLU()), ("b", nn.Tanh()), ("c", nn.ELU())]))
    part = seq[1:]
    assert isinstance(part, nn.Sequential) and list(part._modules) == ["b", "c"]
    assert type(seq[-1]).__name__ == "ELU" and len(seq) == 3
    with pytest.raises(KeyError, match="'.'"):
        nn.Sequential(OrderedDict([("a.b", nn.ReLU())]))
