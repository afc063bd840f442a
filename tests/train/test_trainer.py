"""Trainer: exact resume, NaN guard, evaluation mode handling, callbacks, checkpoint validation."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn, optim
from scratchcnn.io import load_checkpoint, save_checkpoint
from scratchcnn.models import CheckpointMismatchError, load_model
from scratchcnn.train import (Callback, EarlyStopping, TrainConfig, Trainer, TrainingDivergedError,
                              TrainingStateError, evaluate_model, train)
from scratchcnn.train.callbacks import history_to_csv


class StopAfter(Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] == self.epoch:
            trainer.stop_training = True


def _cfg(name, **kw):
    base = dict(model=name, epochs=2, batch_size=32, limit_train=192, limit_test=100, val_split=0.2,
                eval_batch_size=100, augment=True, seed=5)
    base.update(kw)
    return TrainConfig(**base)


def _run(cfg, out, **kw):
    return train(cfg, out, progress=False, tensorboard=False, plots=False, **kw)


def _same_weights(a, b):
    sa, _ = load_checkpoint(a)
    sb, _ = load_checkpoint(b)
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


@pytest.mark.parametrize("scheduler,optimizer", [("onecycle", "adam"), ("step", "sgd")])
def test_resume_gives_identical_weights(data_dir, tmp_path, tiny_model_name, scheduler, optimizer):
    cfg = dict(scheduler=scheduler, optimizer=optimizer, data_dir=str(data_dir))
    straight = _run(_cfg(tiny_model_name, **cfg), tmp_path / "a")
    first = _run(_cfg(tiny_model_name, **cfg), tmp_path / "b", extra_callbacks=[StopAfter(1)])
    assert first["epochs"] == 1
    resumed = train(resume=tmp_path / "b", progress=False, tensorboard=False, plots=False)
    assert resumed["epochs"] == straight["epochs"] == 2
    _same_weights(tmp_path / "a" / "last", tmp_path / "b" / "last")
    _same_weights(tmp_path / "a" / "best", tmp_path / "b" / "best")
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    ha = json.loads((tmp_path / "a" / "history.json").read_text())
    hb = json.loads((tmp_path / "b" / "history.json").read_text())
    for ra, rb in zip(ha, hb, strict=True):
        assert {k: v for k, v in ra.items() if k != "seconds"} == {k: v for k, v in rb.items() if k != "seconds"}


def test_resume_extends_epochs_and_refuses_other_changes(data_dir, tmp_path, tiny_model_name):
    cfg = _cfg(tiny_model_name, epochs=1, scheduler="none", data_dir=str(data_dir), augment=False)
    _run(cfg, tmp_path / "r")
    with pytest.raises(TrainingStateError, match="lr"):
        train(resume=tmp_path / "r", overrides={"lr": 0.5}, progress=False, tensorboard=False, plots=False)
    with pytest.raises(ValueError, match="already holds a training run"):
        _run(cfg, tmp_path / "r")
    res = train(resume=tmp_path / "r" / "last", overrides={"epochs": 2}, progress=False, tensorboard=False,
                plots=False)
    assert res["epochs"] == 2
    # the same as training 2 epochs straight (constant LR, so the schedule does not depend on the total)
    _run(_cfg(tiny_model_name, epochs=2, scheduler="none", data_dir=str(data_dir), augment=False), tmp_path / "s")
    _same_weights(tmp_path / "r" / "last", tmp_path / "s" / "last")


def test_resume_errors(tmp_path, tiny_model_name):
    with pytest.raises(TrainingStateError, match="no training state"):
        train(resume=tmp_path, progress=False)
    (tmp_path / "last").mkdir()
    (tmp_path / "last" / "trainer_state.json").write_text("{not json")
    with pytest.raises(TrainingStateError, match="damaged"):
        train(resume=tmp_path, progress=False)


def _toy_data(n=64, nan_at=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    if nan_at is not None:
        x[nan_at] = np.nan
    return [(sc.Tensor(x[i:i + 16]), sc.Tensor(y[i:i + 16])) for i in range(0, n, 16)]


def test_nan_loss_stops_with_epoch_and_step(tiny_model_name):
    model = models.get(tiny_model_name)
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=0.1), epochs=2)
    with pytest.raises(TrainingDivergedError) as exc:
        trainer.fit([_toy_data()[0], _toy_data(nan_at=40)[2]])
    msg = str(exc.value)
    assert "epoch 1, step 2" in msg and "lower learning rate" in msg and "\n" not in msg


def test_evaluate_model_restores_mode_and_counts():
    sc.manual_seed(0)
    model = models.get("seed000")
    model.train()
    data = _toy_data(48)
    res = evaluate_model(model, data, nn.CrossEntropyLoss(), return_predictions=True)
    assert model.training
    assert res["num_samples"] == 48 and res["y_pred"].shape == (48,) and res["probs"].shape == (48, 10)
    np.testing.assert_allclose(res["probs"].sum(1), 1.0, rtol=1e-5)
    assert res["accuracy"] == pytest.approx(float((res["y_pred"] == res["y_true"]).mean()))
    assert np.isfinite(res["loss"])


def test_trainer_fit_history_callbacks_and_early_stopping():
    sc.manual_seed(0)
    model = models.get("seed000")
    seen = []

    class Spy(Callback):
        def on_batch_end(self, trainer, logs):
            seen.append(logs["step"])

    stopper = EarlyStopping(patience=1, monitor="val_loss", mode="min")
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-3), epochs=6, callbacks=[Spy(), stopper])
    data = _toy_data(32)  # random labels: validation loss on other random data stops improving quickly
    hist = trainer.fit(data, _toy_data(32, seed=1))
    assert 2 <= len(hist) <= 6 and trainer.global_step == 2 * len(hist)
    assert seen[:2] == [1, 2]
    assert set(hist[0]) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    if len(hist) < 6:
        assert stopper.stopped_epoch == len(hist)
    csv_text = history_to_csv(hist)
    assert csv_text.splitlines()[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds")
    assert len(csv_text.splitlines()) == len(hist) + 1


def test_early_stopping_logic():
    class T:
        stop_training = False
    es, t = EarlyStopping(patience=2), T()
    for epoch, acc in enumerate([0.5, 0.6, 0.6, 0.59], 1):
        es.on_epoch_end(t, {"epoch": epoch, "val_accuracy": acc})
    assert t.stop_training and es.stopped_epoch == 4
    es2 = EarlyStopping(patience=2)
    es2.load_state_dict(json.loads(json.dumps(es.state_dict())))
    assert es2.wait == 2 and es2.best == 0.6
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_config_validation():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="val_split"):
        TrainConfig(val_split=1.0)
    with pytest.raises(ValueError, match="unknown setting"):
        TrainConfig.from_dict({"colour": 1})
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_load_model_validates_checkpoints(tmp_path):
    sc.manual_seed(0)
    m = models.get("seed000")
    meta = models.model_meta(m, class_names=list("0123456789"), normalization=None)
    save_checkpoint(tmp_path / "ok", m.state_dict(), meta)
    loaded, got = load_model(tmp_path / "ok")
    assert not loaded.training and got["model"]["name"] == "seed000"
    np.testing.assert_array_equal(loaded.fc2.weight.data, m.fc2.weight.data)
    with pytest.raises(CheckpointMismatchError, match="holds model 'seed000', not 'lenet5'"):
        load_model(tmp_path / "ok", expect="lenet5")
    # weights of another model under seed000's name
    save_checkpoint(tmp_path / "other", models.get("lenet5").state_dict(), meta)
    with pytest.raises(CheckpointMismatchError, match="does not fit model seed000.*shape mismatch"):
        load_model(tmp_path / "other")
    # no model entry
    save_checkpoint(tmp_path / "anon", m.state_dict(), {"hello": 1})
    with pytest.raises(CheckpointMismatchError, match="names no model"):
        load_model(tmp_path / "anon")
    # unknown model name
    save_checkpoint(tmp_path / "unk", m.state_dict(), {"model": {"name": "resnet999", "config": {}}})
    with pytest.raises(CheckpointMismatchError, match="unknown model 'resnet999'"):
        load_model(tmp_path / "unk")
    # damaged weights file: truncated
    shutil.copytree(tmp_path / "ok", tmp_path / "bad")
    w = tmp_path / "bad" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(ValueError, match="damaged"):
        load_model(tmp_path / "bad")


class _Recorder(Callback):
    def __init__(self, log, name, fail_begin=False, fail_end=False):
        self.log, self.name, self.fail_begin, self.fail_end = log, name, fail_begin, fail_end

    def on_train_begin(self, trainer):
        self.log.append(f"{self.name}.begin")
        if self.fail_begin:
            raise RuntimeError(f"{self.name} cannot start")

    def on_train_end(self, trainer, logs):
        self.log.append(f"{self.name}.end")
        if self.fail_end:
            raise OSError(f"{self.name} cannot finish")


def _tiny_trainer(callbacks):
    model = nn.Sequential(nn.Linear(3, 2))
    return Trainer(model, optim.SGD(model.parameters(), lr=0.1), loss_fn=nn.CrossEntropyLoss(), epochs=1,
                   callbacks=callbacks)


def test_a_callback_failing_to_start_ends_the_ones_already_started(tmp_path):
    """E.g. a TensorBoard writer opened by an earlier callback is closed, not left open."""
    from scratchcnn.train.callbacks import TensorBoardLogger
    log = []
    batches = [(sc.Tensor(np.ones((4, 3))), sc.Tensor(np.zeros(4, dtype=np.int64)))]
    tb = TensorBoardLogger(tmp_path / "tb")
    trainer = _tiny_trainer([tb, _Recorder(log, "a"), _Recorder(log, "b", fail_begin=True), _Recorder(log, "c")])
    with pytest.raises(RuntimeError, match="b cannot start"):
        trainer.fit(batches)
    assert log == ["a.begin", "b.begin", "a.end"]
    assert tb._writer is None                          # closed


def test_every_callback_ends_even_if_one_fails_to_end():
    log = []
    batches = [(sc.Tensor(np.ones((4, 3))), sc.Tensor(np.zeros(4, dtype=np.int64)))]
    trainer = _tiny_trainer([_Recorder(log, "a", fail_end=True), _Recorder(log, "b")])
    with pytest.raises(OSError, match="a cannot finish"):
        trainer.fit(batches)
    assert log == ["a.begin", "b.begin", "a.end", "b.end"]
