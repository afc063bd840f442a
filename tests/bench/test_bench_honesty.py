"""What ``scratchcnn bench`` measures is what it says (no timed test: clocks are faked or not read at all).

* the PyTorch twins of the four benchmarked models are the same networks: the same parameter count, the same
  layers with the same settings, the same output of every layer (float64, weights copied), and the bench's own
  training steps (zero_grad, forward, cross-entropy, backward, Adam, TextCNN's max-norm) keep the two models'
  parameters equal step after step, with every parameter updated (the first layer's weight gradient included);
* FLOPs per sample: ``scratchcnn summary``'s forward count, and training = forward + weight gradients + the
  input gradients actually computed (none for an image model's first layer);
* throughput = batch x steps / time with the blocks' order alternating; ratio = scratchcnn / PyTorch, best over
  best, and the paired median of the rounds; the JSON rows' keys;
* the thread limit reaches NumPy's BLAS, scratchcnn's own loops and PyTorch;
* without PyTorch the rows are scratchcnn's alone, with a note;
* peak memory excludes memory freed before the steps (it used to hide most of seed001's inference memory).
"""
from __future__ import annotations

import statistics
import sys

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.bench import measure, run, workloads
from scratchcnn.bench.twins import torch_textcnn, torch_twin

ISSUE_KEYS = {"model", "phase", "scratchcnn_per_s", "torch_per_s", "ratio", "scratchcnn_peak_mb", "torch_peak_mb",
              "gflops", "sgemm_peak_gflops"}


@pytest.fixture
def threads_restored():
    """The bench limits threads process-wide: put scratchcnn's, the BLAS' and PyTorch's counts back after."""
    from threadpoolctl import threadpool_limits

    from scratchcnn.parallel import get_num_threads, set_num_threads
    torch = sys.modules.get("torch")
    ours, theirs = get_num_threads(), torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=None):   # restores the BLAS/OpenMP limits on exit
        yield
    set_num_threads(ours)
    if theirs is not None:
        torch.set_num_threads(theirs)


def twin_of(name: str, model):
    return torch_textcnn(model) if name == "textcnn" else torch_twin(model)


def bench_model64(name: str, dropout: bool = False):
    """The bench's model in float64; dropout off unless asked (the libraries' masks differ)."""
    m = workloads._scratch_model(name).double()
    if not dropout:
        for mod in m.modules():
            if type(mod).__name__ == "Dropout":
                mod.p = 0.0
    return m


def bench_inputs64(name: str, batch: int):
    x, y = workloads._inputs(name, batch)
    return (x.astype(np.float64) if x.dtype == np.float32 else x), y


# -- the twins are the same networks ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", workloads.MODELS)
def test_twin_has_the_same_parameters(torch, name):
    m = workloads._scratch_model(name)
    twin = twin_of(name, m)
    ours = {k: v.data.shape for k, v in m.named_parameters()}
    theirs = {k: tuple(v.shape) for k, v in twin.named_parameters()}
    assert ours == theirs
    assert sum(v.data.size for v in m.parameters()) == sum(v.numel() for v in twin.parameters())
    assert [k for k, v in m.named_parameters() if v.requires_grad] == \
        [k for k, v in twin.named_parameters() if v.requires_grad]
    for k, v in twin.state_dict().items():     # weights copied, float32 as in the bench
        assert v.dtype == (torch.int64 if k.endswith("num_batches_tracked") else torch.float32), k
        np.testing.assert_array_equal(v.numpy(), np.asarray(m.state_dict()[k]), err_msg=k)


EXPECTED_PARAMETERS = {"seed000": 206_922, "seed001": 6_508_682, "lenet5": 61_706,
                       "textcnn": 4000 * 128 + 3 * 100 * 128 * 4 + 3 * 100 + 300 * 2 + 2}


@pytest.mark.parametrize("name", workloads.MODELS)
def test_parameter_counts(torch, name):
    m = workloads._scratch_model(name)
    assert sum(p.numel() for p in twin_of(name, m).parameters()) == EXPECTED_PARAMETERS[name]


SETTINGS = {"Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups"),
            "Conv1d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups"),
            "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
            "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
            "Linear": ("in_features", "out_features"), "Dropout": ("p",), "Embedding": ("num_embeddings",
                                                                                       "embedding_dim",
                                                                                       "padding_idx")}


def _norm(v):
    return tuple(v) if isinstance(v, (list, tuple)) else v


@pytest.mark.parametrize("name", workloads.MODELS)
def test_twin_layers_have_the_same_settings(torch, name):
    m = workloads._scratch_model(name)
    twin = twin_of(name, m)
    ours = dict(m.named_modules())
    theirs = {k: v for k, v in twin.named_modules() if k}
    assert set(theirs) <= set(ours)
    assert {k for k, v in ours.items() if k and type(v).__name__ in SETTINGS} == \
        {k for k, v in theirs.items() if type(v).__name__ in SETTINGS}
    for k, t in theirs.items():
        kind = type(t).__name__
        assert type(ours[k]).__name__ == kind, k
        for attr in SETTINGS.get(kind, ()):
            a, b = _norm(getattr(ours[k], attr)), _norm(getattr(t, attr))
            if attr in ("kernel_size", "stride", "padding", "dilation") and kind.startswith("MaxPool"):
                a, b = (a if isinstance(a, tuple) else (a, a)), (b if isinstance(b, tuple) else (b, b))
            assert a == b, (k, attr, a, b)
        if kind == "Linear" or kind.startswith("Conv"):
            assert (ours[k].bias is None) == (t.bias is None), k


@pytest.mark.parametrize("name", ["seed000", "seed001", "lenet5"])
def test_every_layer_of_the_twin_computes_the_same(torch, name):
    """Layer by layer (forward hooks on both; the hooks also turn scratchcnn's fusions off, so each layer runs
    alone in the model's order): the same output shape and values after every layer, in float64."""
    m = bench_model64(name)
    state = m.state_dict()
    if name == "seed001":   # non-trivial batch-norm statistics (inference uses them)
        rng = np.random.default_rng(0)
        for k in state:
            if k.startswith("bn") and k.endswith(("running_mean", "bias")):
                state[k] = rng.standard_normal(state[k].shape)
            elif k.startswith("bn") and k.endswith(("running_var", "weight")):
                state[k] = rng.random(state[k].shape) + 0.5
        m.load_state_dict(state)
    m.eval()
    twin = torch_twin(m)
    assert twin.training is False
    ours, theirs = [], []
    for k, mod in m.named_children():
        mod.register_forward_hook(lambda _m, _i, o, _k=k: ours.append((_k, o.data.copy())))
    for k, mod in twin.named_children():
        mod.register_forward_hook(lambda _m, _i, o, _k=k: theirs.append((_k, o.detach().numpy().copy())))
    x, _ = bench_inputs64(name, 4)
    with sc.no_grad():
        m(sc.Tensor(x))
    with torch.no_grad():
        twin(torch.from_numpy(x))
    assert [k for k, _ in ours] == [k for k, _ in theirs] == [k for k, _ in m.named_children()]
    for (k, a), (_, b) in zip(ours, theirs):
        assert a.shape == b.shape, k
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name,adam", [(n, "default") for n in workloads.MODELS] + [("seed000", "fused"),
                                                                                     ("textcnn", "fused")])
def test_bench_training_steps_stay_equal(torch, threads_restored, name, adam):
    """The bench's own step callables, float64, 3 steps from the same weights: the same parameters (and
    batch-norm statistics) after each step, every parameter moved. Two scratchcnn threads: seed000, LeNet-5
    and TextCNN take the split-batch path of the Trainer, as in the bench."""
    from scratchcnn.parallel import set_num_threads
    from scratchcnn.train.split_batch import split_parts
    set_num_threads(2)
    m = bench_model64(name)
    twin = twin_of(name, m)
    x, y = bench_inputs64(name, 16)
    assert split_parts(m.train(), 16) == (1 if name == "seed001" else 2)
    if name == "textcnn":
        assert (x != 0).all()                      # the bench's sentences are not padded
        m.fc.weight.data *= 40.0                   # norms above 3: the max-norm constraint acts
        twin.fc.weight.data.mul_(40.0)
    start = {k: np.array(v) for k, v in m.state_dict().items()}
    ours = workloads._scratch_steps(m, x, y)("train")
    theirs = workloads._torch_steps(torch, twin, x, y, getattr(m, "max_norm", None) if name == "textcnn"
                                    else None, adam)("train")
    assert m.training and twin.training
    for _ in range(3):
        ours()
        theirs()
        ts = twin.state_dict()
        for k, v in m.state_dict().items():
            np.testing.assert_allclose(np.asarray(v), ts[k].numpy(), rtol=1e-7, atol=1e-10, err_msg=k)
    for k, p in m.named_parameters():
        assert not np.array_equal(p.data, start[k]), f"{k} was not updated"
    if name == "textcnn":
        norms = np.linalg.norm(m.fc.weight.data, axis=1)
        assert np.all(norms <= 3.0 + 1e-6) and np.any(norms > 2.9)


@pytest.mark.parametrize("name", workloads.MODELS)
def test_bench_inference_steps(torch, name):
    """Inference: eval mode and no autograd in both libraries."""
    m = workloads._scratch_model(name)
    twin = twin_of(name, m)
    x, y = workloads._inputs(name, 4)
    workloads._scratch_steps(m, x, y)("infer")()
    workloads._torch_steps(torch, twin, x, y)("infer")
    assert not m.training and not twin.training


def test_textcnn_twin_masks_only_padded_batches(torch):
    """The bench's sentences have no padding: the twin then skips the mask, as the scratchcnn model does (it
    used to mask every batch); padded batches, and batches shorter than the widest window, still match."""
    sc.manual_seed(1)
    from scratchcnn import models
    m = models.get("textcnn", num_classes=2, vocab_size=30, embed_dim=6, num_filters=4).double().eval()
    twin = torch_textcnn(m)
    calls = []
    orig = torch.Tensor.masked_fill
    rng = np.random.default_rng(0)
    full = rng.integers(1, 30, (3, 9)).astype(np.int64)
    padded = full.copy()
    padded[1, 6:] = 0
    short = rng.integers(1, 30, (2, 3)).astype(np.int64)      # narrower than the widest window (5)
    try:
        torch.Tensor.masked_fill = lambda self, *a: calls.append(1) or orig(self, *a)
        for ids, masked in ((full, False), (padded, True), (short, True)):   # short: padded to 5
            calls.clear()
            with sc.no_grad():
                a = m(sc.Tensor(ids)).data
            with torch.no_grad():
                b = twin(torch.from_numpy(ids)).numpy()
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
            assert bool(calls) == masked
    finally:
        torch.Tensor.masked_fill = orig


# -- FLOPs ------------------------------------------------------------------------------------------------------

def test_flops_per_sample():
    from scratchcnn.models import summary
    seed000_macs = 28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 128 + 128 * 10
    lenet_macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    text_macs = sum((96 - k + 1) * 100 * k * 128 for k in (3, 4, 5)) + 300 * 2
    expected = {"seed000": (2 * seed000_macs, 2 * (3 * seed000_macs - 28 * 28 * 16 * 9)),
                "lenet5": (2 * lenet_macs, 2 * (3 * lenet_macs - 28 * 28 * 6 * 25)),
                "textcnn": (2 * text_macs, 2 * 3 * text_macs)}
    for name, (fwd, train) in expected.items():
        w = workloads.make_workload(name, "scratchcnn", 2)
        assert (w.flops("infer"), w.flops("train")) == (fwd, train), name
    w = workloads.make_workload("seed001", "scratchcnn", 2)
    total = summary(workloads._scratch_model("seed001")).total_flops
    assert w.flops("infer") == total
    assert w.flops("train") == 3 * total - 2 * (28 * 28 * 64 * 9)
    assert workloads.TEXT_LENGTH == 96


# -- throughput arithmetic, ratio, statistics, JSON ---------------------------------------------------------------

def test_round_rates_arithmetic_and_order(monkeypatch):
    """rate = batch x steps / seconds of the block (a fake clock: 1/64 s per scratchcnn step, 1/16 s per PyTorch
    step); warm-up and sizing calls are not timed; the order within a round alternates."""
    clock = [0.0]
    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock[0])
    calls = []

    def stepper(name, dt):
        def step():
            calls.append(name)
            clock[0] += dt
        return step
    rates = measure.round_rates({"s": stepper("s", 1 / 64), "t": stepper("t", 1 / 16)},
                                batch=64, seconds=0.25, rounds=4, warmup=3)
    assert rates == {"s": [64 * 64.0] * 4, "t": [64 * 16.0] * 4}
    s, t = ["s"] * 16, ["t"] * 4                  # blocks of 0.25 s
    assert calls == ["s"] * 5 + ["t"] * 5 + s + t + t + s + s + t + t + s    # 3 warm-up + 2 sizing calls each


def test_row_arithmetic_and_schema(monkeypatch):
    """ratio = best scratchcnn block / best PyTorch block; paired statistics from the rounds' ratios; gflops =
    FLOPs per sample x scratchcnn's samples per second; the issue's keys."""
    per_round = {"scratchcnn": [100.0, 300.0, 200.0], "torch": [200.0, 150.0, 400.0]}
    monkeypatch.setattr(run, "round_rates", lambda steps, *a, **k: {lib: per_round[lib] for lib in steps})
    monkeypatch.setattr(run, "sgemm_peak_gflops", lambda: 123.4)
    monkeypatch.setattr(run, "peak_memory_mb", lambda lib, *a: {"scratchcnn": 1.5, "torch": 2.5}[lib])
    monkeypatch.setattr(run, "limit_threads", lambda n: None)
    monkeypatch.setattr(run, "torch_available", lambda: "2.13.0")

    class FakeWorkload:
        unit = "images"

        def make_step(self, phase):
            return lambda: None

        def flops(self, phase):
            return {"train": 3000, "infer": 1000}[phase]
    monkeypatch.setattr(run, "make_workload", lambda *a: FakeWorkload())
    res = run.run_bench(["seed000"], threads=2)
    assert [(r["model"], r["phase"]) for r in res["rows"]] == [("seed000", "train"), ("seed000", "infer")]
    for r in res["rows"]:
        assert ISSUE_KEYS <= set(r)
        assert r["scratchcnn_per_s"] == 300.0 and r["torch_per_s"] == 400.0
        assert r["ratio"] == 0.75                          # scratchcnn / PyTorch: < 1 means PyTorch is faster
        assert r["ratio_median"] == pytest.approx(statistics.median([0.5, 2.0, 0.5]))
        assert (r["ratio_min"], r["ratio_max"]) == (0.5, 2.0)
        assert r["gflops"] == pytest.approx({"train": 3000, "infer": 1000}[r["phase"]] * 300 / 1e9, abs=0.01)
        assert (r["scratchcnn_peak_mb"], r["torch_peak_mb"], r["sgemm_peak_gflops"]) == (1.5, 2.5, 123.4)
    assert res["threads"] == 2 and "3 x forward - 2 x MACs" in res["flops_convention"]


# -- threads, environment, PyTorch missing ---------------------------------------------------------------------

def test_limit_threads_reaches_every_library(torch, threads_restored):
    from threadpoolctl import threadpool_info

    from scratchcnn.parallel import get_num_threads
    from scratchcnn.train.split_batch import split_parts
    measure.limit_threads(1)
    assert get_num_threads() == 1 and torch.get_num_threads() == 1
    assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert measure.thread_counts() == {"numpy_blas": 1, "scratchcnn": 1, "torch": 1}
    assert split_parts(workloads._scratch_model("seed000"), 64) == 1     # one thread: no batch split
    measure.limit_threads(2)
    assert measure.thread_counts() == {"numpy_blas": 2, "scratchcnn": 2, "torch": 2}


def test_openblas_variables_are_reported(monkeypatch, threads_restored):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    lines = []
    res = run.run_bench(["lenet5"], batch_size=8, threads=1, seconds=0.05, rounds=1, memory=False,
                        with_torch=False, log=lines.append)
    assert res["openblas_env"] == {"OPENBLAS_CORETYPE": "Haswell"}
    assert any(line.startswith("warning: OPENBLAS_CORETYPE=Haswell is set") for line in lines)


def test_without_torch(monkeypatch, threads_restored):
    monkeypatch.setitem(sys.modules, "torch", None)            # import torch raises ImportError
    assert run.torch_available() is None
    lines = []
    res = run.run_bench(["lenet5"], batch_size=8, threads=1, seconds=0.05, rounds=1, memory=False,
                        log=lines.append)
    assert res["torch_version"] is None and "PyTorch is not installed" in res["note"]
    assert any(line.startswith("note: PyTorch is not installed") for line in lines)
    for r in res["rows"]:
        assert r["scratchcnn_per_s"] > 0
        assert r["torch_per_s"] is r["ratio"] is r["ratio_median"] is r["torch_peak_mb"] is None


# -- peak memory -------------------------------------------------------------------------------------------------

def test_peak_memory_is_not_hidden_by_freed_memory():
    """seed001's inference keeps at least bn1's output (64 x 64 x 14 x 14 float32 = 3.2 MB) alive during a
    step; the old measurement reported ~2 MB because the steps reused heap memory freed while the model was built
    (glibc keeps it, see ``tune_malloc``), which the child now hands back before the baseline."""
    if not measure.os.path.exists("/proc/self/clear_refs"):
        pytest.skip("no /proc/self/clear_refs")
    mb = measure.peak_memory_mb("scratchcnn", "seed001", "infer", 64, 1)
    assert mb is not None and mb >= 3.2
