"""Ensembles of text classifiers: the probability averaging (against PyTorch and finite differences), the
``Ensemble`` module, and ``train_text(ensemble=K)`` end to end on a tiny synthetic corpus (members, checkpoint
round trip, evaluation, prediction)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import functional as F
from scratchcnn import models
from scratchcnn.io import load_checkpoint, read_meta
from scratchcnn.models.ensemble import Ensemble, log_mean_softmax
from scratchcnn.text import TextTrainConfig, evaluate_text_checkpoint, load_text_model, predict_texts, train_text

from oracle.helpers import finite_difference_check
from tiny_corpus import make_corpus

SMALL = {"vocab_size": 30, "embed_dim": 6, "kernel_sizes": [2, 3], "num_filters": 4}


def test_log_mean_softmax_matches_torch(torch):
    rng = np.random.default_rng(0)
    zs = [rng.standard_normal((4, 3)) * 5 for _ in range(3)]
    xs = [sc.Tensor(z, requires_grad=True) for z in zs]
    out = log_mean_softmax(xs)
    g = rng.standard_normal(out.shape)
    (out * sc.Tensor(g)).sum().backward()
    ts = [torch.tensor(z, requires_grad=True) for z in zs]
    ref = torch.logsumexp(torch.stack([torch.log_softmax(t, 1) for t in ts]), 0) - np.log(3)
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    finite_difference_check(lambda a, b: log_mean_softmax([a, b]), zs[:2])


def test_log_mean_softmax_is_the_mean_probability_and_stable():
    zs = [np.array([[1000.0, 0.0], [0.0, -1000.0]]), np.array([[0.0, 1000.0], [0.0, -1000.0]])]
    out = log_mean_softmax([sc.Tensor(z) for z in zs]).data
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.exp(out), [[0.5, 0.5], [1.0, 0.0]], atol=1e-12)
    one = log_mean_softmax([sc.Tensor(zs[0])]).data
    np.testing.assert_allclose(one, F.log_softmax(sc.Tensor(zs[0]), 1).data)
    with pytest.raises(ValueError, match="at least one"):
        log_mean_softmax([])


def test_ensemble_module_names_outputs_and_constraints():
    sc.manual_seed(0)
    ens = models.get("ensemble", num_classes=3, member="textcnn", member_config={**SMALL, "num_classes": 3}, size=3)
    assert isinstance(ens, Ensemble) and len(ens.members) == 3 and ens.min_length == 3
    names = list(ens.state_dict())
    assert names[0] == "members.0.embedding.weight" and "members.2.fc.bias" in names
    assert len(names) == 3 * len(ens.members[0].state_dict())
    ens.eval()
    x = np.random.default_rng(1).integers(1, 30, size=(5, 7))
    probs = F.softmax(ens(sc.Tensor(x)), 1).data
    members = ens.member_probabilities(sc.Tensor(x)).data
    assert members.shape == (3, 5, 3)
    np.testing.assert_allclose(probs, members.mean(axis=0), rtol=1e-5, atol=1e-6)
    for m in ens.members:
        m.fc.weight.data[...] = 10.0
    ens.apply_constraints()
    for m in ens.members:
        assert np.linalg.norm(m.fc.weight.data, axis=1).max() <= 3.0 + 1e-5
    with pytest.raises(ValueError, match="size"):
        models.get("ensemble", member="textcnn", member_config=SMALL, size=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("ens") / "corpus")


def tiny_config(corpus, **kw) -> TextTrainConfig:
    base = dict(embed_dim=8, num_filters=6, kernel_sizes=[2, 3], epochs=3, lr=0.01, batch_size=16, ngram_orders=[2],
                ngram_buckets=64, ema=0.9)
    return TextTrainConfig(data=str(corpus), **{**base, **kw})


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ens") / "run"
    return train_text(tiny_config(corpus, ensemble=3, seed=0), out_dir=out, progress=False), out


def test_ensemble_trains_members_and_saves_all(trained):
    res, out = trained
    assert res["ensemble"] == 3 and len(res["members"]) == 3 and len(res["best_epoch"]) == 3
    assert [m["seed"] for m in res["members"]] == [0, 1, 2]
    assert res["val_accuracy"] > 0.8 and res["test_accuracy"] > 0.8
    for k, m in enumerate(res["members"]):
        assert (out / "members" / str(k) / "best" / "model.safetensors").is_file()
        assert read_meta(out / "members" / str(k) / "best")["member"] == {"index": k, "seed": k}
        assert m["best_epoch"] == read_meta(m["checkpoint"])["epoch"] and 0 <= m["test_accuracy"] <= 1
        hist = json.loads((out / "members" / str(k) / "history.json").read_text())
        assert [h["epoch"] for h in hist] == [1, 2, 3]
    state, meta = load_checkpoint(out / "best")
    assert meta["model"]["name"] == "ensemble" and meta["model"]["config"]["size"] == 3
    assert meta["model"]["config"]["member"] == "textcnn" and meta["task"] == "text-classification"
    assert meta["metrics"]["test_accuracy"] == res["test_accuracy"]
    assert meta["data"]["seed"] == 0 and meta["train_config"]["ensemble"] == 3
    for k, m in enumerate(res["members"]):  # the ensemble holds each member's best epoch, unchanged
        member_state, _ = load_checkpoint(m["checkpoint"])
        for name, arr in member_state.items():
            np.testing.assert_array_equal(state[f"members.{k}.{name}"], arr)


def test_ensemble_checkpoint_round_trip_evaluate_and_predict(trained):
    res, out = trained
    model, meta, tokenizer, vocab = load_text_model(out)
    assert isinstance(model, Ensemble) and not model.training and len(model.members) == 3
    ev = evaluate_text_checkpoint(out / "best")
    assert ev["accuracy"] == pytest.approx(res["test_accuracy"]) and ev["model"] == "ensemble"
    assert evaluate_text_checkpoint(out, split="val")["accuracy"] == pytest.approx(res["val_accuracy"])
    texts = ["the film was good great love", "awful plot and it was bad hate"]
    preds, _ = predict_texts(out, texts)
    assert [p["label"] for p in preds] == ["pos", "neg"]
    ids = np.stack([vocab.encode(tokenizer(t))[:5] for t in texts])
    members = model.member_probabilities(sc.Tensor(ids)).data.mean(axis=0)
    whole, _ = predict_texts(out, [" ".join(tokenizer(t)[:5]) for t in texts])
    np.testing.assert_allclose([p["top_k"][0]["probability"] for p in whole], members.max(axis=1), rtol=1e-5)


def test_finished_members_are_reused(trained, corpus, tmp_path):
    res, out = trained
    import shutil
    shutil.copytree(out / "members", tmp_path / "more" / "members")
    (tmp_path / "more" / "members" / "1" / "history.json").write_text("[]")  # as if interrupted: retrained
    meta_path = tmp_path / "more" / "members" / "2" / "best" / "meta.json"    # trained before a setting existed
    meta = json.loads(meta_path.read_text())
    del meta["train_config"]["rdrop"]
    meta_path.write_text(json.dumps(meta))
    more = train_text(tiny_config(corpus, ensemble=4, seed=0), out_dir=tmp_path / "more", progress=False)
    assert [m.get("reused", False) for m in more["members"]] == [True, False, True, False]
    for k in range(3):
        for key in ("best_epoch", "val_accuracy", "test_accuracy"):
            assert more["members"][k][key] == res["members"][k][key]
    other = train_text(tiny_config(corpus, ensemble=2, seed=0, lr=0.02), out_dir=tmp_path / "more", progress=False)
    assert not any(m.get("reused") for m in other["members"])  # other settings: trained again


def test_member_zero_is_the_single_run(trained, corpus, tmp_path):
    res, _ = trained
    single = train_text(tiny_config(corpus, seed=0), out_dir=tmp_path / "single", progress=False)
    assert "ensemble" not in single and single["best_epoch"] == res["members"][0]["best_epoch"]
    assert single["val_accuracy"] == res["members"][0]["val_accuracy"]
    assert single["test_accuracy"] == res["members"][0]["test_accuracy"]


def test_ensemble_config_validation():
    with pytest.raises(ValueError, match="ensemble"):
        TextTrainConfig(data="x", ensemble=0)
