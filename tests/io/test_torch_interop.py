"""``scratchcnn.io.to_torch`` / ``load_torch_state_dict`` against PyTorch (float64): the PyTorch copy computes the
same outputs and the same gradients (input and parameters) in eval and training mode, BatchNorm statistics move
alike, weights come back exactly, and a checkpoint's ``model.safetensors`` loads into the copy strictly."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn
from scratchcnn.finetune.lora import wrap_lora
from scratchcnn.io import CheckpointError, load_torch_state_dict, save_checkpoint, to_torch
from scratchcnn.models.loading import model_meta

RTOL, ATOL = 1e-10, 1e-12


def randomise(model, seed=0):
    """Non-trivial values everywhere (BatchNorm statistics and affine parameters included)."""
    rng = np.random.default_rng(seed)
    state = model.state_dict()
    for k, v in state.items():
        if v.dtype.kind != "f":
            continue
        if k.endswith(("running_var", "weight")) and v.ndim == 1:
            state[k] = rng.random(v.shape) + 0.5
        else:
            state[k] = rng.standard_normal(v.shape) * (0.5 if v.ndim > 1 else 0.2)
    model.load_state_dict(state)
    return model


def compare(torch, model, x, training):
    """Outputs, input gradient, every parameter gradient and (after a training step) the state agree."""
    model.train(training)
    twin = to_torch(model)
    assert isinstance(twin, torch.nn.Module) and twin.training == training
    assert list(twin.state_dict()) == list(model.state_dict())
    rng = np.random.default_rng(9)
    xs = sc.Tensor(x.copy(), requires_grad=True)
    out = model(xs)
    g = rng.standard_normal(out.shape)
    (out * sc.Tensor(g)).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    ref = twin(xt)
    (ref * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    flipped = {f"{n}.weight" for n, m in model.named_modules() if getattr(m, "mode", "") == "convolution"}

    def ours_to_theirs(k, a):               # mode="convolution" kernels are flipped in the PyTorch copy
        return a[(slice(None),) * 2 + (slice(None, None, -1),) * (a.ndim - 2)] if k in flipped else a

    theirs = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(ours_to_theirs(name, p.grad), theirs[name].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=name)
    ts = twin.state_dict()
    for k, v in model.state_dict().items():   # running statistics updated alike in training mode
        np.testing.assert_allclose(ours_to_theirs(k, v), ts[k].numpy(), rtol=RTOL, atol=ATOL, err_msg=k)
        assert ts[k].numpy().dtype == v.dtype, k
    return twin


def image(n=3, c=1, h=28, w=28, seed=1):
    return np.random.default_rng(seed).standard_normal((n, c, h, w))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name, cfg", [("seed000", {}), ("seed001", {"dropout": 0.0}), ("lenet5", {}),
                                       ("lenet5", {"activation": "tanh", "pool": "avg"})])
def test_builtin_models(torch, name, cfg, training):
    sc.manual_seed(3)
    model = randomise(models.get(name, **cfg).double())
    compare(torch, model, image(), training)


def _image_stack():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"), nn.BatchNorm2d(4), nn.PReLU(4),
        nn.Conv2d(4, 4, 3, padding="same", dilation=2, padding_mode="circular", mode="convolution"),
        nn.GroupNorm(2, 4), nn.ELU(0.7),
        nn.InstanceNorm2d(4, affine=True, track_running_stats=True), nn.LocalResponseNorm(3, 1e-2, 0.6, 1.5),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 0), groups=2, bias=False, padding_mode="replicate"),
        nn.LeakyReLU(0.2), nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
        nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1), nn.CELU(1.3),
        nn.Upsample(scale_factor=2, mode="nearest"), nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True),
        nn.AvgPool2d(2, divisor_override=3), nn.AdaptiveAvgPool2d((2, 3)), nn.Dropout2d(0.0),
        nn.LayerNorm([4, 2, 3]), nn.Hardswish(), nn.Flatten(), nn.Dropout(0.0), nn.Linear(24, 16), nn.GELU("tanh"),
        nn.Linear(16, 16, bias=False), nn.SiLU(), nn.Mish(), nn.Softplus(2.0, 5.0), nn.Hardtanh(-0.5, 0.7),
        nn.ReLU6(), nn.Hardsigmoid(), nn.Softsign(), nn.SELU(), nn.GELU(), nn.Sigmoid(), nn.Tanh(), nn.LogSigmoid(),
        nn.Identity(), nn.ReLU(), nn.PReLU(), nn.Softmax(dim=1), nn.LogSoftmax(dim=1))


def _signal_stack():
    return nn.Sequential(
        nn.Conv1d(3, 4, 3, padding=2, dilation=2), nn.BatchNorm1d(4, momentum=None), nn.MaxPool1d(2),
        nn.Conv1d(4, 4, 2, stride=2, mode="convolution", padding_mode="circular", padding=1),
        nn.AvgPool1d(3, stride=1, padding=1), nn.ConvTranspose1d(4, 2, 4, stride=2, dilation=2, groups=2),
        nn.InstanceNorm1d(2, affine=True), nn.AdaptiveAvgPool1d(5), nn.Upsample(scale_factor=3, mode="linear"),
        nn.Dropout1d(0.0), nn.Flatten(), nn.Linear(30, 4))


def _volume_stack():
    return nn.Sequential(nn.Conv3d(2, 3, 2, padding=1, mode="convolution"), nn.InstanceNorm3d(3, affine=True),
                         nn.BatchNorm3d(3), nn.ReLU(), nn.MaxPool3d(2, stride=1, padding=1, ceil_mode=True),   # 5^3
                         nn.AvgPool3d(2, stride=2, padding=1, count_include_pad=False, divisor_override=None),  # 3^3
                         nn.AdaptiveAvgPool3d((2, None, 3)), nn.Flatten(), nn.Linear(3 * 2 * 3 * 3, 4),
                         nn.Unflatten(1, (2, -1)))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("build, shape", [(_image_stack, (2, 2, 9, 9)), (_signal_stack, (2, 3, 12)),
                                          (_volume_stack, (2, 2, 3, 3, 3))])
def test_every_layer_type(torch, build, shape, training):
    sc.manual_seed(5)
    model = randomise(build().double())
    compare(torch, model, np.random.default_rng(2).standard_normal(shape), training)


class Composite(nn.Module):
    """A forward that is not a chain: ModuleList / ModuleDict children, a residual add, a plain setting."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 3, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU()) for _ in range(2)])
        self.heads = nn.ModuleDict({"pool": nn.AdaptiveAvgPool2d(1), "fc": nn.Linear(3, 2)})
        self.scale = 0.5

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x) * self.scale
        return self.heads["fc"](self.heads["pool"](x).flatten(1))


def test_containers_residuals_and_settings(torch):
    sc.manual_seed(6)
    twin = compare(torch, randomise(Composite().double()), image(2, 1, 6, 6), True)
    assert type(twin).__name__ == "TorchComposite" and twin.scale == 0.5
    assert isinstance(twin.blocks, torch.nn.ModuleList) and isinstance(twin.heads, torch.nn.ModuleDict)


def test_lora_layers_are_merged(torch):
    sc.manual_seed(7)
    model = randomise(models.get("seed000").double())
    model.conv1 = wrap_lora(model.conv1, rank=2, alpha=4.0, name="conv1")
    model.fc1 = wrap_lora(model.fc1, rank=3, name="fc1")
    randomise(model, seed=3)                                   # B != 0: a real update to merge
    model.eval()
    twin = to_torch(model)
    assert list(twin.state_dict()) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                                       "fc1.bias", "fc2.weight", "fc2.bias"]
    np.testing.assert_array_equal(twin.conv1.weight.detach().numpy(), model.conv1.merged_weight())
    assert twin.conv1.weight.requires_grad                     # the LoRA branch trained: the merged weight may too
    x = image(2)
    with sc.no_grad():
        ours = model(sc.Tensor(x)).data
    np.testing.assert_allclose(ours, twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-9, atol=1e-12)
    assert all(not lt.merged for lt in (model.conv1, model.fc1))   # the model itself is left as it was


def test_modes_and_requires_grad_mirror_each_layer(torch):
    model = models.get("seed001").double().train()
    model.bn1.eval()                                            # a frozen BatchNorm in a training model
    model.conv1.weight.requires_grad_(False)
    twin = to_torch(model)
    assert twin.training and not twin.bn1.training and twin.bn2.training
    assert not twin.conv1.weight.requires_grad and twin.conv1.bias.requires_grad


@pytest.mark.parametrize("name", ["seed000", "seed001", "lenet5"])
def test_torch_weights_come_back_exactly(torch, tmp_path, name):
    """torch -> scratchcnn: from the module, a dict of tensors, a dict of arrays and a .safetensors file."""
    from safetensors.torch import save_file

    sc.manual_seed(1)
    twin = to_torch(randomise(models.get(name).double(), seed=4).eval())
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(torch.randn_like(p) * 0.1)                  # weights the scratchcnn model never had
    x = image(2)
    ref = twin(torch.from_numpy(x)).detach().numpy()
    save_file(twin.state_dict(), str(tmp_path / "w.safetensors"))
    sources = [twin, twin.state_dict(), {k: v.numpy() for k, v in twin.state_dict().items()},
               tmp_path / "w.safetensors", str(tmp_path / "w.safetensors")]
    for source in sources:
        sc.manual_seed(2)
        fresh = models.get(name).double().eval()
        res = load_torch_state_dict(fresh, source)
        assert res.missing_keys == [] and res.unexpected_keys == []
        for k, v in fresh.state_dict().items():
            assert v.tobytes() == twin.state_dict()[k].numpy().tobytes(), k
        with sc.no_grad():
            np.testing.assert_allclose(fresh(sc.Tensor(x)).data, ref, rtol=RTOL, atol=ATOL)


def test_convolution_mode_kernels_flip_there_and_back(torch):
    sc.manual_seed(8)
    model = randomise(_signal_stack().double()).eval()
    twin = to_torch(model)
    w = model[3].weight.data
    np.testing.assert_array_equal(twin[3].weight.detach().numpy(), w[:, :, ::-1])
    fresh = _signal_stack().double()
    load_torch_state_dict(fresh, twin)
    np.testing.assert_array_equal(fresh[3].weight.data, w)


def test_a_checkpoint_loads_into_the_torch_copy_strictly(torch, tmp_path):
    """The interop claim: model.safetensors of a checkpoint is a PyTorch state_dict for to_torch(model)."""
    from safetensors.torch import load_file

    sc.manual_seed(3)
    model = randomise(models.get("seed001")).eval()            # float32, as trained checkpoints are
    model.train()
    model(sc.Tensor(image().astype(np.float32)))               # num_batches_tracked = 1
    model.eval()
    d = save_checkpoint(tmp_path / "best", model.state_dict(), model_meta(model))
    twin = to_torch(models.get("seed001")).eval()             # a fresh model's copy: other weights
    twin.load_state_dict(load_file(str(d / "model.safetensors")), strict=True)
    assert int(twin.bn1.num_batches_tracked) == 1
    for name, value in twin.state_dict().items():                # every tensor bit-identical, dtype kept
        np.testing.assert_array_equal(value.numpy(), model.state_dict()[name].data, err_msg=name)
    # the same function: compared in float64 (in float32 the two libraries' summation orders differ by a few
    # ulps of the largest terms, which a small output built from large ones turns into a large relative error)
    model.double(), twin.double()
    x = image()
    with sc.no_grad():
        ours = model(sc.Tensor(x)).data
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(), ours, rtol=1e-10, atol=1e-9)


def test_key_mismatches_like_load_state_dict(torch):
    twin = to_torch(models.get("seed000").double())
    state = twin.state_dict()
    state.pop("fc2.bias")
    state["extra"] = torch.zeros(1)
    with pytest.raises(ValueError) as e:
        load_torch_state_dict(models.get("seed000"), state)
    assert str(e.value).startswith("Error(s) in loading state_dict for Seed000:\n  Missing key(s) in state_dict: "
                                   "'fc2.bias'\n  Unexpected key(s) in state_dict: 'extra'")
    m = models.get("seed000")
    res = load_torch_state_dict(m, state, strict=False)
    assert res.missing_keys == ["fc2.bias"] and res.unexpected_keys == ["extra"]
    assert m.fc1.weight.data.dtype == np.float32                 # float64 values cast to the model's float32
    np.testing.assert_array_equal(m.fc1.weight.data, state["fc1.weight"].numpy().astype(np.float32))


def test_bfloat16_and_float16_tensors_are_cast(torch):
    m = models.get("lenet5")
    state = {k: v.to(torch.bfloat16) if k.startswith("fc") else v.half()
             for k, v in to_torch(models.get("lenet5")).state_dict().items()}
    load_torch_state_dict(m, state)
    assert m.fc1.weight.data.dtype == np.float32
    np.testing.assert_array_equal(m.fc1.weight.data, state["fc1.weight"].float().numpy())


@pytest.mark.parametrize("suffix, head, kind", [(".pt", b"PK\x03\x04", "a zip archive (torch.save's format)"),
                                                (".pth", b"\x80\x02}q", "a pickle file"),
                                                (".pt", None, "a .pt file")])
def test_pickle_files_are_refused_with_the_way_out(tmp_path, suffix, head, kind):
    f = tmp_path / f"weights{suffix}"
    if head is not None:
        f.write_bytes(head + b"\x00" * 32)
    with pytest.raises(CheckpointError) as e:
        load_torch_state_dict(models.get("seed000"), f)
    assert str(e.value) == (
        f"{f} is {kind}: scratchcnn loads no pickle-based format (unpickling a file can run arbitrary code). "
        f"Convert it once in PyTorch: safetensors.torch.save_file(torch.load({str(f)!r}, weights_only=True), "
        "'model.safetensors'), then load it with scratchcnn.io.load_torch_state_dict(model, 'model.safetensors')")


def test_bad_sources(tmp_path):
    m = models.get("seed000")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_torch_state_dict(m, tmp_path / "none.safetensors")
    (tmp_path / "bad.safetensors").write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="bad.safetensors declares a 1000000000000-byte header but the file has "
                                              "10 bytes"):
        load_torch_state_dict(m, tmp_path / "bad.safetensors")
    d = save_checkpoint(tmp_path / "ck", m.state_dict(), model_meta(m))
    with pytest.raises(CheckpointError, match="is a folder; load_torch_state_dict reads a .safetensors file"):
        load_torch_state_dict(m, d)
    with pytest.raises(TypeError, match="source is a scratchcnn model"):
        load_torch_state_dict(m, models.get("seed000"))
    with pytest.raises(TypeError, match="'conv1.weight' is a list, expected a torch tensor or a NumPy array"):
        load_torch_state_dict(m, {"conv1.weight": [1.0]})
    with pytest.raises(TypeError, match="got int"):
        load_torch_state_dict(m, 3)


def test_unsupported_layers_and_hooks_are_one_line_errors(torch):
    text = models.get("charcnn", vocab_size=30, seq_len=130, channels=8, fc_dim=16)   # not a chain of torch layers
    with pytest.raises(ValueError) as e:
        to_torch(text)
    assert str(e.value) == "to_torch: no PyTorch equivalent known for layer Embedding ('embedding' in the model)"

    class Scale(nn.Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(ValueError) as e:
        to_torch(nn.Sequential(nn.Linear(2, 2), nn.Sequential(Scale())))
    assert str(e.value) == "to_torch: no PyTorch equivalent known for layer Scale ('1.0' in the model)"
    model = models.get("seed000")
    model.pool1.register_forward_hook(lambda mod, inp, out: out)
    with pytest.raises(ValueError, match=r"^to_torch: layer 'pool1' \(MaxPool2d\) has forward hooks"):
        to_torch(model)


def test_without_torch_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)              # `import torch` raises ImportError
    with pytest.raises(ImportError) as e:
        to_torch(nn.Linear(2, 2))
    assert str(e.value) == ("to_torch needs PyTorch, which is not installed: pip install torch (scratchcnn itself "
                            "runs without it)")


def test_importing_the_library_does_not_import_torch():
    code = "import sys, scratchcnn, scratchcnn.io, scratchcnn.bench; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_the_stacks_cover_every_layer_with_a_torch_equivalent():
    """Every scratchcnn.nn layer is either mirrored (and then in the stacks above) or known to have no mirror."""
    import inspect

    from scratchcnn.io.torch_interop import _ARGS
    used = {type(m).__name__ for build in (_image_stack, _signal_stack, _volume_stack) for m in build().modules()}
    assert set(_ARGS) <= used
    layers = {n for n, c in vars(nn).items() if inspect.isclass(c) and issubclass(c, nn.Module)}
    losses = {n for n in layers if n.endswith("Loss")}
    assert layers - set(_ARGS) - losses == {"Module", "Sequential", "ModuleList", "ModuleDict", "Embedding"}


def test_the_readme_example_runs(torch, tmp_path, capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Checkpoints and PyTorch.**", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "tempfile.mkdtemp()" in code
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)          # a user's session (the fixture makes it float64)
    try:
        exec(compile(code.replace("tempfile.mkdtemp()", repr(str(tmp_path))), "README.md", "exec"), {})
    finally:
        torch.set_default_dtype(default)
    assert capsys.readouterr().out == "True\n"
    assert (tmp_path / "best.safetensors").is_file()
