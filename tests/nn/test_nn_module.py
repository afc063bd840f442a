"""Module machinery without PyTorch: registration, traversal, modes, freezing, state_dict, repr, containers."""
from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2, bias=False)
        self.register_buffer("steps", sc.Tensor(np.zeros((), dtype=np.int64)))
        self.register_buffer("cache", sc.Tensor(np.zeros(2, dtype=np.float32)), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x * self.scale)))


def test_registration_and_names():
    m = Tiny()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert [n for n, _ in m.named_buffers()] == ["steps", "cache"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["scale"]
    assert m.fc2.bias is None and "bias" in m.fc2._parameters
    assert all(p.dtype == np.float32 for p in m.parameters())
    assert m.num_parameters() == 3 + 12 + 4 + 8
    assert m.get_submodule("fc1") is m.fc1 and m.get_submodule("") is m
    with pytest.raises(AttributeError, match="nope"):
        m.get_submodule("nope")


def test_reassignment_rules():
    m = Tiny()
    m.fc1.bias = None  # a parameter slot may become None
    assert "fc1.bias" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.fc1.weight = sc.Tensor(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="buffer 'steps'"):
        m.steps = np.zeros(())
    m.act = nn.Sigmoid()  # replacing a child keeps its slot
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    m.extra = nn.Parameter(np.zeros(2))
    assert "extra" in dict(m.named_parameters())
    del m.extra
    assert "extra" not in dict(m.named_parameters())
    with pytest.raises(AttributeError):
        _ = m.extra


def test_assign_before_init_is_explained():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_shared_parameters_and_modules_appear_once():
    shared = nn.Linear(3, 3)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.modules())) == 3  # seq, linear, relu
    # state_dict keeps every name, like PyTorch
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    a = nn.Linear(2, 2)
    b = nn.Linear(2, 2)
    b.weight = a.weight  # tied weights
    both = nn.Sequential(a, b)
    assert [n for n, _ in both.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert both.num_parameters() == 4 + 2 + 2


def test_train_eval_apply_zero_grad():
    m = Tiny()
    assert m.training and m.fc1.training
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    with pytest.raises(ValueError):
        m.train("yes")
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Tiny"]
    x = sc.Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m(x).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in m.parameters())


def test_freezing_keeps_grads_none():
    m = Tiny()
    m.fc1.requires_grad_(False)
    x = sc.Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    m(x).sum().backward()
    assert m.fc1.weight.grad is None and m.fc1.bias.grad is None
    assert m.fc2.weight.grad is not None and m.scale.grad is not None
    assert m.num_parameters(trainable_only=True) == 3 + 8
    m.requires_grad_(True)
    assert all(p.requires_grad for p in m.parameters())


def test_state_dict_copies_and_persistent_buffers():
    m = Tiny()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["scale"][:] = 7
    assert np.all(m.scale.data == 1), "state_dict must return copies"
    live = m.state_dict(keep_vars=True)
    assert live["fc1.weight"] is m.fc1.weight and live["steps"] is m.steps
    assert list(m.state_dict(prefix="model.")) == ["model." + k for k in sd]


def test_load_state_dict_in_place_keeps_dtype_and_identity():
    src, dst = Tiny(), Tiny()
    for p in src.parameters():
        p.data[...] = np.random.default_rng(1).standard_normal(p.shape)
    arrays_before = [p.data for p in dst.parameters()]
    sd = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in src.state_dict().items()}
    sd["fc1.bias"] = sc.Tensor(sd["fc1.bias"])     # Tensors are accepted
    sd["scale"] = sd["scale"].tolist()              # ... and anything np.asarray understands
    result = dst.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    src_params = dict(src.named_parameters())
    for (name, p), arr in zip(dst.named_parameters(), arrays_before):
        assert p.data is arr, f"{name} was replaced instead of filled in place"
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.data, src_params[name].data)


def test_load_state_dict_reads_a_one_element_entry_into_a_0d_buffer():
    """PyTorch's rule for older files: num_batches_tracked saved with shape (1,) loads into the 0-d buffer."""
    bn = nn.BatchNorm2d(2)
    sd = bn.state_dict()
    sd["num_batches_tracked"] = np.array([7])
    bn.load_state_dict(sd)
    assert bn.num_batches_tracked.shape == () and int(bn.num_batches_tracked.data) == 7
    sd["num_batches_tracked"] = np.array([7, 8])
    with pytest.raises(ValueError, match=r"size mismatch for num_batches_tracked: expected shape \(\), got \(2,\)"):
        bn.load_state_dict(sd)


def test_load_state_dict_errors_name_key_expected_and_got():
    m = Tiny()
    sd = m.state_dict()
    del sd["fc1.bias"]
    sd["bogus.weight"] = np.zeros(3)
    sd["fc2.weight"] = np.zeros((2, 5))
    before = m.scale.data.copy()
    sd["scale"] = np.full(3, 9.0)
    with pytest.raises(ValueError) as err:
        m.load_state_dict(sd)
    msg = str(err.value)
    assert "Missing key(s)" in msg and "'fc1.bias'" in msg
    assert "Unexpected key(s)" in msg and "'bogus.weight'" in msg
    assert "fc2.weight" in msg and "(2, 4)" in msg and "(2, 5)" in msg
    np.testing.assert_array_equal(m.scale.data, before)  # nothing copied when anything is wrong
    # non-strict: a shape mismatch still raises, missing/unexpected are returned
    with pytest.raises(ValueError, match="size mismatch for fc2.weight"):
        m.load_state_dict(sd, strict=False)
    sd["fc2.weight"] = np.zeros((2, 4))
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["bogus.weight"]
    np.testing.assert_array_equal(m.scale.data, np.full(3, 9.0, dtype=np.float32))
    with pytest.raises(TypeError):
        m.load_state_dict([1, 2, 3])


def test_repr_is_nested_like_pytorch():
    m = Tiny()
    text = repr(m)
    assert text == ("Tiny(\n"
                    "  (fc1): Linear(in_features=3, out_features=4, bias=True)\n"
                    "  (act): ReLU()\n"
                    "  (fc2): Linear(in_features=4, out_features=2, bias=False)\n"
                    ")")
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.Flatten()))
    assert repr(seq) == ("Sequential(\n"
                         "  (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))\n"
                         "  (1): Sequential(\n"
                         "    (0): Flatten(start_dim=1, end_dim=-1)\n"
                         "  )\n"
                         ")")
    p = nn.Parameter(np.array([1.0, 2.0], dtype=np.float32))
    assert repr(p).startswith("Parameter containing:\ntensor(") and "requires_grad=True" in repr(p)


def test_parameter_basics():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    assert p.requires_grad and p.is_leaf and isinstance(p, sc.Tensor)
    q = nn.Parameter(sc.Tensor(np.ones(2)), requires_grad=False)
    assert not q.requires_grad and q.dtype == np.float64
    t = sc.Tensor(np.arange(3.0))
    assert nn.Parameter(t).data is t.data  # shares the array
    p.grad = np.ones_like(p.data)
    r = copy.deepcopy(p)
    assert isinstance(r, nn.Parameter) and r.data is not p.data
    assert r.grad is None and r.requires_grad == p.requires_grad    # PyTorch's deepcopy drops .grad too


def test_sequential_container():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and list(seq) == [a, b, c]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    with pytest.raises(IndexError):
        seq[3]
    named = nn.Sequential(OrderedDict([("conv", nn.Conv1d(1, 2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    assert named[0] is named.conv
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"] and seq[1] is c
    seq.insert(1, nn.Tanh())
    assert isinstance(seq[1], nn.Tanh) and len(seq) == 4
    x = sc.Tensor(np.ones((4, 2), dtype=np.float32))
    assert seq(x).shape == (4, 1)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    layers.append(nn.Linear(2, 1))
    layers += [nn.ReLU()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.ReLU)
    layers[0] = nn.Identity()
    assert isinstance(layers[0], nn.Identity)
    del layers[0]
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    d = nn.ModuleDict({"enc": nn.Linear(2, 2), "dec": nn.Linear(2, 2)})
    assert list(d.keys()) == ["enc", "dec"] and "enc" in d
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]


def test_hooks_see_and_replace_outputs():
    lin = nn.Linear(2, 2)
    seen = []
    h = lin.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    lin(sc.Tensor(np.ones((3, 2), dtype=np.float32)))
    h.remove()
    lin(sc.Tensor(np.ones((3, 2), dtype=np.float32)))
    assert seen == [(3, 2)]
    h2 = lin.register_forward_hook(lambda mod, inp, out: out * 0)
    assert not lin(sc.Tensor(np.ones((1, 2), dtype=np.float32))).data.any()
    h2.remove()


def test_to_double_deepcopy_pickle():
    m = Tiny()
    m2 = copy.deepcopy(m)
    assert m2.fc1.weight is not m.fc1.weight
    np.testing.assert_array_equal(m2.fc1.weight.data, m.fc1.weight.data)
    m3 = pickle.loads(pickle.dumps(m))
    assert isinstance(m3.fc1.weight, nn.Parameter)
    w = m.fc1.weight
    m.double()
    assert m.fc1.weight is w and w.dtype == np.float64 and m.steps.dtype == np.int64
    m.float()
    assert w.dtype == np.float32
