"""explain_receptive_field: r, j and start equal the EMPIRICAL receptive field (the input positions that a
gradient of 1 from one output unit reaches, with nothing masked or cancelled), known values by hand, the
equations' numbers, JSON, and one-line errors."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from scratchcnn import Tensor, models, nn
from scratchcnn.viz.explain_receptive import explain_receptive_field


# ------------------------------------------------------------------------------------------- empirical field
def _without_masking(model: nn.Module) -> nn.Module:
    """``model`` changed in place so that every path through it carries gradient: float64, every parameter in
    [0.5, 1] (nothing cancels), ReLU -> Identity, max pooling -> average pooling over the same windows (it sends
    gradient to every position of a window, not only to the maximum), eval mode (BatchNorm: a positive scale)."""
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(mod, name, nn.Identity())
            elif isinstance(child, (nn.MaxPool1d, nn.MaxPool2d)):
                assert child.dilation in (1, (1,), (1, 1)), "average pooling has no dilation"
                avg = nn.AvgPool1d if isinstance(child, nn.MaxPool1d) else nn.AvgPool2d
                setattr(mod, name, avg(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode))
    model.double()
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.data[...] = rng.uniform(0.5, 1.0, p.data.shape)
    return model.eval()


def _empirical(model: nn.Module, layer: str, input_shape: tuple, unit: tuple) -> list[tuple[int, int]]:
    """Per spatial axis, the first and last input position with a nonzero gradient when d(out)/d(out) = 1 flows
    back from position ``unit`` of channel 0 of ``layer``'s output (a batch of one input of ones)."""
    x = Tensor(np.ones((1, *input_shape)), requires_grad=True)
    outs = []
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: outs.append(o))
    try:
        model(x)
    finally:
        handle.remove()
    out = outs[0]
    g = np.zeros(out.shape)
    g[(0, 0, *unit)] = 1.0
    out.backward(g)
    hit = np.abs(x.grad[0]).sum(axis=0) > 0          # over the input channels
    return [(int(idx.min()), int(idx.max())) for idx in np.nonzero(hit)]


def _predicted(step, unit: tuple, spatial: tuple) -> list[tuple[int, int]]:
    """Output i sees start + i*j -/+ (r - 1)/2, clipped to the input (the rest is zero padding)."""
    out = []
    for i, c0, j, r, n in zip(unit, step.start, step.j, step.r, spatial):
        c = c0 + i * j
        lo, hi = c - (r - 1) / 2, c + (r - 1) / 2
        assert lo == int(lo) and hi == int(hi)
        out.append((max(0, int(lo)), min(n - 1, int(hi))))
    return out


def _check_against_gradients(res, model, input_shape) -> int:
    """Every conv/pool step, its first, middle and last output on each axis (all combinations)."""
    checked = 0
    for step in res.steps:
        sizes = step.output_shape[1:]
        for unit in itertools.product(*[sorted({0, n // 2, n - 1}) for n in sizes]):
            assert _empirical(model, step.name, input_shape, unit) == _predicted(step, unit, res.spatial), \
                (step.name, unit)
            checked += 1
    return checked


STACKS = {
    "two 3x3": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 1, 3)), (1, 9, 9)),
    "conv pool conv": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, 2), nn.Conv2d(2, 1, 3)),
                       (1, 12, 12)),
    "stride, padding, dilation": (lambda: nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, dilation=2, padding=2),
        nn.AvgPool2d(2)), (1, 21, 21)),
    "anisotropic, 'same' with an even kernel": (lambda: nn.Sequential(
        nn.Conv2d(1, 1, (3, 5), stride=(1, 2), padding=(0, 2), dilation=(2, 1)), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(1, 1, 4, padding="same")), (1, 20, 23)),
    "1-d, ceil_mode, batch norm": (lambda: nn.Sequential(
        nn.Conv1d(1, 2, 5, stride=2, padding=2), nn.MaxPool1d(3, 2, ceil_mode=True), nn.BatchNorm1d(2),
        nn.Conv1d(2, 1, 3, dilation=3)), (1, 40)),
    "kernel smaller than stride": (lambda: nn.Sequential(nn.Conv2d(1, 1, 1, stride=3), nn.Conv2d(1, 1, 3, stride=2)),
                                   (1, 17, 17)),
    "padded average pooling, strided conv": (lambda: nn.Sequential(
        nn.AvgPool2d(3, stride=2, padding=1), nn.Conv2d(1, 1, 3, padding=1, stride=2)), (1, 11, 11)),
    "adaptive pooling, dropout, head": (lambda: nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Dropout(0.5), nn.AdaptiveAvgPool2d(4),
        nn.Conv2d(2, 2, 2), nn.Flatten(), nn.Linear(18, 3)), (1, 16, 16)),
}


@pytest.mark.parametrize("name", list(STACKS))
def test_hand_made_stacks_equal_the_gradient_field(name):
    build, shape = STACKS[name]
    res = explain_receptive_field(build(), input_shape=shape)
    assert _check_against_gradients(res, _without_masking(build()), shape) >= 3 * len(res.steps)


@pytest.mark.parametrize("name", ["seed000", "seed001", "lenet5"])
def test_builtin_models_equal_the_gradient_field(name):
    res = explain_receptive_field(name)
    assert [s.type for s in res.steps] == ["Conv2d", "MaxPool2d", "Conv2d", "MaxPool2d"]
    assert _check_against_gradients(res, _without_masking(models.get(name)), (1, 28, 28)) > 0


def test_charcnn_equals_the_gradient_field_of_its_conv_stack():
    small = models.get("charcnn", vocab_size=20, embed_dim=3, channels=2, fc_dim=4)
    res = explain_receptive_field(small)
    assert res.spatial == (256,) and [s.name for s in res.steps][0] == "features.0"
    assert res.r == (123,) and res.j == (27,) and res.start == (61,)
    full = explain_receptive_field("charcnn")                  # the geometry does not depend on the widths
    assert [(s.name, s.r, s.j, s.start) for s in full.steps] == [(s.name, s.r, s.j, s.start) for s in res.steps]
    features = _without_masking(small).features               # (N, embed_dim, L) -> the conv/pool chain
    plain = explain_receptive_field(small.features, input_shape=(3, 256))
    assert [(s.r, s.j, s.start) for s in plain.steps] == [(s.r, s.j, s.start) for s in res.steps]
    assert _check_against_gradients(plain, features, (3, 256)) > 0


# ------------------------------------------------------------------------------------------- known values
@pytest.mark.parametrize("name, r, j, start", [
    ("two 3x3", (5, 5), (1, 1), (2, 2)),
    ("conv pool conv", (8, 8), (2, 2), (3.5, 3.5)),
    ("anisotropic, 'same' with an even kernel", (13, 21), (2, 4), (3, 2)),
])
def test_known_values_by_hand(name, r, j, start):
    build, shape = STACKS[name]
    res = explain_receptive_field(build(), input_shape=shape)
    assert (res.r, res.j, res.start) == (r, j, start)


def test_dilated_convs_and_dilated_max_pool():
    seq = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3, dilation=2))
    assert explain_receptive_field(seq, (1, 12, 12)).r == (9, 9)            # 1 + 2*2 + 2*2
    pool = explain_receptive_field(nn.Sequential(nn.MaxPool2d(2, stride=1, dilation=2)), (1, 6, 6))
    assert pool.r == (3, 3) and pool.j == (1, 1) and pool.start == (1, 1)


@pytest.mark.parametrize("name, rows", [
    ("seed000", [(3, 1, 0), (4, 2, 0.5), (8, 2, 0.5), (10, 4, 1.5)]),
    ("seed001", [(3, 1, 0), (4, 2, 0.5), (8, 2, 0.5), (10, 4, 1.5)]),
    ("lenet5", [(5, 1, 0), (6, 2, 0.5), (14, 2, 4.5), (16, 4, 5.5)]),
])
def test_builtin_values(name, rows):
    res = explain_receptive_field(name)
    assert [(s.r[0], s.j[0], s.start[0]) for s in res.steps] == rows
    assert all(len(set(s.r)) == 1 and len(set(s.start)) == 1 for s in res.steps)
    assert res.whole_input_from == ("flatten", "Flatten")
    assert res.steps[-1].field_of_first() == [(rows[-1][2] - (rows[-1][0] - 1) / 2,
                                               rows[-1][2] + (rows[-1][0] - 1) / 2)] * 2


def test_equations_hold_and_chain():
    """Every equation's left side evaluates to its right side, and each layer starts where the last ended."""
    for model, shape in [("seed001", None), ("lenet5", None), STACKS["anisotropic, 'same' with an even kernel"]]:
        res = explain_receptive_field(model() if callable(model) else model, shape)
        prev = ((1,) * len(res.spatial), (1,) * len(res.spatial), (0,) * len(res.spatial))
        for s in res.steps:
            assert (s.r_in, s.j_in, s.start_in) == prev
            for a in range(len(res.spatial)):
                for key, eq in s.equations(a).items():
                    left, right = eq.rsplit(" = ", 1)
                    assert eval(left, {}) == float(right) == getattr(s, key)[a], eq
            prev = (s.r, s.j, s.start)


# ------------------------------------------------------------------------------------------- output
def test_text_seed001():
    text = explain_receptive_field("seed001").to_text()
    for line in ["  pool2    MaxPool2d  128x7x7    2  2  0  1  10  4    1.5",
                 "  conv1    Conv2d     64x28x28   3  1  1  1   3  1      0",
                 "    r     = 8 + (2 - 1) * 1 * 2 = 10",
                 "    start = 0.5 + ((3 - 1) * 1 / 2 - 1) * 2 = 0.5",
                 "  flatten (Flatten): from here on every output sees the whole 28x28 input"]:
        assert line + "\n" in text, line
    assert "j_out = j_in * s" in text and "r_out = r_in + (k - 1) * d * j_in" in text
    assert "start_out = start_in + ((k - 1) * d / 2 - p) * j_in" in text
    assert "Dumoulin & Visin 2016" in text and "Araujo" in text
    flat = " ".join(text.split())
    assert "Not listed: relu1, bn1, relu2, bn2" in flat and "spans rows -3..6, columns -3..6" in flat


def test_text_per_axis_when_axes_differ():
    build, shape = STACKS["anisotropic, 'same' with an even kernel"]
    text = explain_receptive_field(build(), shape).to_text()
    assert "\nrows:\n" in text and "\ncolumns:\n" in text
    assert "    columns: r     = 9 + (4 - 1) * 1 * 4 = 21" in text
    assert "pads 1x1 before and 2x2 after" in text


def test_json():
    d = json.loads(json.dumps(explain_receptive_field("seed001").to_dict(), allow_nan=False))
    assert d["operation"] == "receptive_field" and d["model"] == "seed001" and d["input_shape"] == [1, 28, 28]
    assert [layer["name"] for layer in d["layers"]] == ["conv1", "pool1", "conv2", "pool2"]
    assert (d["r"], d["j"], d["start"]) == ([10, 10], [4, 4], [1.5, 1.5])
    assert d["layers"][-1]["field_of_first_output"] == [[-3, 6], [-3, 6]]
    assert d["whole_input_from"] == {"name": "flatten", "type": "Flatten"}
    assert d["pointwise"] == ["relu1", "bn1", "relu2", "bn2"] and len(d["references"]) == 2
    assert d["layers"][1]["equations"][0] == {"j": "1 * 2 = 2", "r": "3 + (2 - 1) * 1 * 1 = 4",
                                              "start": "0 + ((2 - 1) * 1 / 2 - 0) * 1 = 0.5"}


def test_checkpoint_and_modes_kept(ckpt):
    res = explain_receptive_field(str(ckpt))
    assert res.r == (10, 10) and str(ckpt) in res.model
    seq = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Dropout(0.5)).train()
    explain_receptive_field(seq, (1, 5, 5))
    assert all(m.training for m in seq.modules())


# ------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("model, shape, fragment", [
    ("bogus", None, "'bogus' is neither a built-in model (charcnn"),
    ("textcnn", None, "not one chain of layers"),
    (nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2)), (1, 8, 8), "changes the grid from 6x6 to 12x12"),
    (nn.Sequential(nn.AdaptiveAvgPool2d(3)), (1, 8, 8), "pools 8 positions into 3"),
    (nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), (1, 8, 8), "no convolution or pooling layer"),
    ("seed000", (1, 5, 5), "seed000 cannot run on one sample of shape (1, 5, 5)"),
])
def test_errors_are_one_line(model, shape, fragment):
    with pytest.raises(ValueError) as e:
        explain_receptive_field(model, shape)
    msg = str(e.value)
    assert msg.startswith("explain receptive-field: ") and "\n" not in msg and fragment in msg, msg
