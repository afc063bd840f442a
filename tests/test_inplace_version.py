"""Version counters (``Tensor._version``): the library's in-place updates bump them as torch's do, and a backward
pass that would read values changed in place since its forward raises torch's RuntimeError instead of computing
silently wrong gradients; the library's own training loops never trip it."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn, optim
from scratchcnn.nn import init
from scratchcnn.train import Trainer

torch = pytest.importorskip("torch")

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)),
    ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.1, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.1)),
    ("AdamW", dict(lr=0.1, weight_decay=0.0)),
    ("RMSprop", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.1, momentum=0.9, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("NAdam", dict(lr=0.1)),
    ("NAdam", dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adamax", dict(lr=0.1, weight_decay=0.1)),
]


def _mlp_pair(seed: int = 0):
    """The same Linear-ReLU-Linear in scratchcnn and torch (float64)."""
    rng = np.random.default_rng(seed)
    w1, b1, w2, b2 = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=(2, 5)), rng.normal(size=2)
    ours = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).double()
    ours[0].weight.data[...], ours[0].bias.data[...] = w1, b1
    ours[2].weight.data[...], ours[2].bias.data[...] = w2, b2
    with torch.no_grad():
        theirs[0].weight.copy_(torch.from_numpy(w1)), theirs[0].bias.copy_(torch.from_numpy(b1))
        theirs[2].weight.copy_(torch.from_numpy(w2)), theirs[2].bias.copy_(torch.from_numpy(b2))
    return ours, theirs, rng.normal(size=(4, 3))


@pytest.mark.parametrize("name,kw", OPTIMIZERS)
def test_step_between_forward_and_backward_raises_like_torch(name, kw):
    ours, theirs, x = _mlp_pair()
    v0, tv0 = ours[2].weight._version, theirs[2].weight._version   # what construction left (init, copies)
    loss = (ours(sc.Tensor(x)) ** 2).sum()
    opt = getattr(optim, name)(ours.parameters(), **kw)
    for p in ours.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as ours_err:
        loss.backward()

    tloss = (theirs(torch.from_numpy(x)) ** 2).sum()
    topt = getattr(torch.optim, name)(theirs.parameters(), **kw)
    for p in theirs.parameters():
        p.grad = torch.ones_like(p)
    topt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as torch_err:
        tloss.backward()
    # both name the second layer's weight (2, 5) at the version the step left it at
    v, tv = ours[2].weight._version, theirs[2].weight._version
    assert v - v0 == tv - tv0 > 0
    assert f"is at version {v}; expected version {v0} instead" in str(ours_err.value)
    assert f"is at version {tv}; expected version {tv0} instead" in str(torch_err.value)


def test_error_names_dtype_shape_and_versions():
    w = nn.Parameter(np.arange(6.0).reshape(2, 3))
    x = sc.Tensor(np.ones((4, 3)), requires_grad=True)
    loss = (x @ w.T).sum()                     # matmul saves w for x's gradient
    opt = optim.SGD([w], lr=0.1)
    for _ in range(2):
        w.grad = np.ones_like(w.data)
        opt.step()
    assert w._version == 2
    with pytest.raises(RuntimeError) as err:
        loss.backward()
    msg = str(err.value)
    # the saved input is w.T, a view sharing w's version (as in torch)
    assert "float64" in msg and "(3, 2)" in msg and "is at version 2; expected version 0 instead" in msg
    assert x.grad is None


@pytest.mark.parametrize("name,kw", OPTIMIZERS)
def test_optimizer_steps_move_versions_as_torch_does(name, kw):
    ours = [nn.Parameter(np.ones((3, 4))), nn.Parameter(np.ones(2))]
    theirs = [torch.nn.Parameter(torch.ones(3, 4, dtype=torch.float64)), torch.nn.Parameter(torch.ones(2))]
    opt, topt = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    ours[0].grad, theirs[0].grad = np.full((3, 4), 0.5), torch.full((3, 4), 0.5, dtype=torch.float64)
    seen, expected = [], []
    for _ in range(3):                          # the second parameter has no gradient: skipped, no bump
        opt.step()
        topt.step()
        seen.append((ours[0]._version, ours[1]._version))
        expected.append((theirs[0]._version, theirs[1]._version))
    assert seen == expected
    assert ours[0]._version > 0 and ours[1]._version == 0


@pytest.mark.parametrize("fn,args", [("uniform_", ()), ("normal_", ()), ("trunc_normal_", (0.0, 1.0, -10.0, 10.0)), ("constant_", (0.5,)),
                                     ("zeros_", ()), ("ones_", ()), ("xavier_uniform_", ()),
                                     ("xavier_normal_", ()), ("kaiming_uniform_", ()), ("kaiming_normal_", ())])
def test_init_functions_move_versions_as_torch_does(fn, args):
    t = sc.Tensor(np.zeros((3, 4)), requires_grad=True)
    tt = torch.zeros(3, 4, requires_grad=True)
    getattr(init, fn)(t, *args)
    getattr(torch.nn.init, fn)(tt, *args)
    assert t._version == tt._version
    getattr(init, fn)(np.zeros((3, 4)), *args)   # a bare ndarray has no counter, and that is fine


def test_embedding_max_norm_renorm_moves_the_version_like_torch_but_its_own_backward_does_not_need_it():
    w = nn.Parameter(np.full((5, 3), 4.0))
    tw = torch.nn.Parameter(torch.full((5, 3), 4.0, dtype=torch.float64))
    idx = np.array([0, 1, 1])
    first = sc.functional.embedding(sc.Tensor(idx), w, max_norm=1.0)
    tfirst = torch.nn.functional.embedding(torch.from_numpy(idx), tw, max_norm=1.0)
    second = sc.functional.embedding(sc.Tensor(idx), w, max_norm=1.0)   # R-Drop: the batch twice in one graph
    tsecond = torch.nn.functional.embedding(torch.from_numpy(idx), tw, max_norm=1.0)
    assert w._version == tw._version == 2
    (first + second).sum().backward()           # the lookup saves indices only: no error in either
    (tfirst + tsecond).sum().backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy())


def test_changes_backward_does_not_read_pass_as_in_torch():
    w = nn.Parameter(np.ones(3))
    tw = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    y, ty = w + 1.0, tw + 1.0                  # add saves nothing
    init.constant_(w, 2.0)
    with torch.no_grad():
        torch.nn.init.constant_(tw, 2.0)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(w.grad, np.ones(3))


def test_rebinding_data_keeps_the_saved_values():
    """``t.data = new_array`` does not move the version: the graph still holds the old array, so backward is
    still right (for the values the forward used)."""
    w = nn.Parameter(np.array([1.0, 2.0]))
    x = sc.Tensor(np.array([3.0, 4.0]), requires_grad=True)
    loss = (w * x).sum()
    w.data = np.array([10.0, 20.0])
    assert w._version == 0
    loss.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_raw_ndarray_writes_are_invisible():
    """The documented limit: writes through ``t.data[...]`` bypass the counter (as torch's ``.data`` does)."""
    w = nn.Parameter(np.ones(2))
    w.data[...] = 5.0
    w.data += 1.0
    assert w._version == 0


def test_retain_graph_second_backward_after_step_raises_like_torch():
    ours, theirs, x = _mlp_pair()
    loss = (ours(sc.Tensor(x)) ** 2).sum()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)           # twice without a change: fine
    optim.SGD(ours.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    tloss = (theirs(torch.from_numpy(x)) ** 2).sum()
    tloss.backward(retain_graph=True)
    torch.optim.SGD(theirs.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()


# ---------------------------------------------------------------- the library's loops never trip the check
def _data(n: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    return sc.Tensor(rng.normal(size=(n, 3))), sc.Tensor(rng.integers(0, 2, n))


def test_plain_loop_and_gradient_accumulation_do_not_raise():
    model, _, _ = _mlp_pair()
    v0 = model[0].weight._version
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, y = _data()
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):                          # zero_grad, forward, backward, step
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    for _ in range(2):                          # accumulation: several forward/backward pairs per step
        opt.zero_grad()
        for part in range(4):
            sl = slice(4 * part, 4 * part + 4)
            loss_fn(model(x[sl]), y[sl]).backward()
        opt.step()
    assert model[0].weight._version - v0 == 5


def test_closure_step_does_not_raise():
    model, _, _ = _mlp_pair()
    x, y = _data()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)


@pytest.mark.parametrize("split", [False, True])
def test_trainer_with_ema_does_not_raise(split):
    from scratchcnn.text.callbacks import WeightEMA
    model, _, _ = _mlp_pair()
    v0 = model[0].weight._version
    batches = [_data(8, s) for s in range(3)]
    Trainer(model, optim.AdamW(model.parameters(), lr=0.01), loss_fn=nn.CrossEntropyLoss(), epochs=2,
            callbacks=[WeightEMA(0.9)], split_batch=split).fit(batches)
    # AdamW with weight decay: two bumps a step; the EMA swaps the averaged weights in after each epoch and
    # the raw ones back before the next: 2 epochs -> in, out, in
    assert model[0].weight._version - v0 == 2 * 3 * 2 + 3


def _tiny_textcnn(dropout: float = 0.0):
    sc.manual_seed(0)
    return models.get("textcnn", num_classes=3, vocab_size=40, embed_dim=6, num_filters=4, dropout=dropout,
                      ngram_orders=[2], ngram_buckets=30, ngram_init_std=0.1).double()


def _text_batches():
    rng = np.random.default_rng(1)
    out = []
    for _ in range(2):
        x = rng.integers(1, 40, (12, 10))
        x[:, 8:] = 0
        out.append((sc.Tensor(x), sc.Tensor(rng.integers(0, 3, 12))))
    return out


@pytest.mark.parametrize("split", [False, True])
def test_fgm_and_rdrop_training_do_not_raise(split):
    from scratchcnn.train.adversarial import FGM, embedding_tables
    from scratchcnn.train.rdrop import RDrop
    model = _tiny_textcnn(dropout=0.3)
    tables = embedding_tables(model)
    v0 = tables[0]._version
    fgm = FGM(tables, eps=0.5)
    Trainer(model, optim.Adam(model.parameters(), lr=0.01), loss_fn=nn.CrossEntropyLoss(), epochs=2,
            split_batch=split, adversary=fgm, rdrop=RDrop(1.0)).fit(_text_batches())
    # per step: attack + restore + Adam's update
    assert tables[0]._version - v0 == 2 * 2 * 3


def test_fgm_attack_and_restore_move_the_version():
    from scratchcnn.train.adversarial import FGM
    e = nn.Embedding(5, 3)
    e.weight.grad = np.ones_like(e.weight.data)
    v0 = e.weight._version
    fgm = FGM([e.weight], eps=1.0)
    fgm.attack()
    assert e.weight._version == v0 + 1
    fgm.restore()
    assert e.weight._version == v0 + 2


def test_lora_training_merge_and_unmerge_do_not_raise():
    from scratchcnn.finetune.lora import merge_lora, unmerge_lora, wrap_lora
    model, _, _ = _mlp_pair()
    model = nn.Sequential(wrap_lora(model[0], rank=2), nn.ReLU(), wrap_lora(model[2], rank=2))
    for p in model.parameters():
        p.requires_grad = False
    params = [p for layer in (model[0], model[2]) for p in layer.lora_parameters()]
    for p in params:
        p.requires_grad = True
    v0 = [p._version for p in params]
    opt = optim.SGD(params, lr=0.1)
    x, y = _data()
    for _ in range(2):
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(x), y).backward()
        opt.step()
        merge_lora(model)
        with sc.no_grad():
            model(x)
        unmerge_lora(model)
    assert [p._version - v for p, v in zip(params, v0)] == [2] * len(params)


def test_views_share_the_version_of_their_base_like_torch():
    w = nn.Parameter(np.ones((2, 3)))
    tw = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64))
    x = sc.Tensor(np.ones((4, 3)), requires_grad=True)
    with sc.no_grad():
        view = w.T                              # made without a graph, used in one later
    loss = (x @ view).sum()
    w.grad = np.ones_like(w.data)
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        loss.backward()
    d = w.detach()
    loss = (sc.Tensor(np.ones((4, 2)), requires_grad=True) @ d).sum()
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="is at version 2; expected version 1"):
        loss.backward()
    td = tw.detach()
    tloss = (torch.ones(4, 2, dtype=torch.float64, requires_grad=True) @ td).sum()
    tw.grad = torch.ones_like(tw)
    torch.optim.SGD([tw], lr=0.1).step()
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        tloss.backward()


# ---------------------------------------------------------------- the library's other in-place writes of .data
def test_load_state_dict_between_forward_and_backward_raises_like_torch():
    ours, theirs, x = _mlp_pair()
    v0 = ours[0].weight._version
    loss = (ours(sc.Tensor(x)) ** 2).sum()
    ours.load_state_dict(ours.state_dict())
    assert ours[0].weight._version == v0 + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    tloss = (theirs(torch.from_numpy(x)) ** 2).sum()
    theirs.load_state_dict(theirs.state_dict())
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()


def test_lora_merge_between_forward_and_backward_raises():
    """Merging changes the base weight the forward saved: backward must refuse, not use the merged values."""
    from scratchcnn.finetune.lora import wrap_lora
    sc.manual_seed(0)
    layer = wrap_lora(nn.Linear(3, 4).double(), rank=2)
    layer.lora_B.weight.data[...] = 0.5                 # a non-zero delta
    x = sc.Tensor(np.random.default_rng(0).normal(size=(5, 3)), requires_grad=True)
    loss = (layer(x) ** 2).sum()
    v0 = layer.weight._version
    layer.merge()
    assert layer.weight._version == v0 + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    layer.unmerge()
    assert layer.weight._version == v0 + 2


def test_max_norm_and_prelu_reset_move_the_version_like_torch():
    w = nn.Parameter(np.full((2, 3), 4.0))
    x = sc.Tensor(np.ones((5, 3)), requires_grad=True)
    loss = (x @ w.T).sum()
    nn.utils.max_norm_(w, 3.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    tw = torch.nn.Parameter(torch.full((2, 3), 4.0, dtype=torch.float64))
    tloss = (torch.ones(5, 3, dtype=torch.float64, requires_grad=True) @ tw.T).sum()
    with torch.no_grad():
        tw.renorm_(2, 0, 3.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()
    prelu = nn.PReLU()
    v0 = prelu.weight._version
    prelu.reset_parameters()
    assert prelu.weight._version == v0 + 1


def test_weight_ema_swaps_move_the_version():
    from scratchcnn.text.callbacks import WeightEMA
    model, _, _ = _mlp_pair()
    ema = WeightEMA(0.9)

    class _T:
        pass
    trainer = _T()
    trainer.model = model
    ema.on_train_begin(trainer)
    ema.on_epoch_begin(trainer, 0, 1)
    v0 = model[0].weight._version
    ema.on_batch_end(trainer, {"step": 1})              # the epoch's last batch: the averaged weights go in
    assert model[0].weight._version == v0 + 1
    ema.on_epoch_begin(trainer, 1, 1)                   # and the raw ones come back
    assert model[0].weight._version == v0 + 2
