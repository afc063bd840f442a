"""`scratchcnn train-text`'s --out: Ctrl-C leaves no half run (one line saying so; an ensemble keeps its members
for the same command to continue), a non-empty folder is refused unless --overwrite, and an unwritable or full one
is one line naming it."""
from __future__ import annotations

import errno
import json
import shutil

import pytest

from scratchcnn.text import TextTrainConfig, train_text
from scratchcnn.train import Callback
from scratchcnn.train.interrupt import RunInterrupted

from tiny_corpus import make_corpus
from run_failure_helpers import Raise, tree

SMALL = dict(epochs=2, embed_dim=8, num_filters=4, batch_size=50)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "tiny", n=60)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """A finished run."""
    out = tmp_path_factory.mktemp("trained") / "run"
    train_text(TextTrainConfig(data=str(corpus), **SMALL), out, progress=False)
    return out


class RaiseOnNthEpoch(Callback):
    """Raises ``exc`` as the ``n``-th epoch of the whole run begins (counting every ensemble member's)."""

    def __init__(self, exc: BaseException, n: int):
        self.exc, self.n, self.seen = exc, n, 0

    def on_epoch_begin(self, trainer, epoch, num_batches):
        self.seen += 1
        if self.seen == self.n:
            raise self.exc


def test_ctrl_c_leaves_no_half_run(corpus, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match=f"^interrupted; nothing was kept \\({out} removed; a train-text run "
                                             "cannot be resumed\\): run the same command again$"):
        train_text(TextTrainConfig(data=str(corpus), **SMALL), out, progress=False,
                   extra_callbacks=[Raise(KeyboardInterrupt(), epoch=2)])   # after epoch 1's best/ and history
    assert not out.exists()


def test_cli_ctrl_c_is_one_line(corpus, tmp_path, monkeypatch, capsys):
    from cli.helpers import run
    from scratchcnn.text import run as run_mod
    real = run_mod.train_text
    monkeypatch.setattr(run_mod, "train_text",
                        lambda *a, **kw: real(*a, extra_callbacks=[Raise(KeyboardInterrupt(), epoch=2)], **kw))
    out = tmp_path / "run"
    rc, stdout, err = run(capsys, "train-text", "--data", corpus, "--epochs", "2", "--embed-dim", "8",
                          "--num-filters", "4", "--out", out, "--no-progress")
    assert rc == 130 and stdout == "" and not out.exists()
    assert err.strip().splitlines() == [f"error: interrupted; nothing was kept ({out} removed; a train-text run "
                                        "cannot be resumed): run the same command again"]


def test_interrupted_ensemble_keeps_its_members_for_the_same_command(corpus, tmp_path):
    out = tmp_path / "run"
    cfg = TextTrainConfig(data=str(corpus), ensemble=2, **{**SMALL, "epochs": 1})
    with pytest.raises(RunInterrupted, match=f"^interrupted; the ensemble members trained so far are kept in "
                                             f"{out / 'members'}: run the same command again to continue"):
        train_text(cfg, out, progress=False, extra_callbacks=[RaiseOnNthEpoch(KeyboardInterrupt(), 2)])
    assert (out / "members" / "0" / "best").is_dir() and not (out / "best").exists()
    res = train_text(cfg, out, progress=False)              # an ensemble's folder is not refused: it continues
    assert [m.get("reused", False) for m in res["members"]] == [True, False]


def test_non_empty_out_is_refused_unless_overwrite(corpus, trained, tmp_path):
    out = shutil.copytree(trained, tmp_path / "textrun")
    (out / "notes.txt").write_text("mine")
    before = tree(out)
    cfg = TextTrainConfig(data=str(corpus), seed=1, **SMALL)
    for c in (cfg, TextTrainConfig(data=str(corpus), ensemble=2, **SMALL)):   # a single run is no ensemble's
        with pytest.raises(ValueError, match=f"^train-text: output folder {out} already exists and is not empty; "
                                             "choose another --out, or pass --overwrite"):
            train_text(c, out, progress=False)
        assert tree(out) == before
    res = train_text(cfg, out, progress=False, overwrite=True)
    assert res["config"]["seed"] == 1 and not (out / "notes.txt").exists()
    assert json.loads((out / "best" / "meta.json").read_text())["train_config"]["seed"] == 1


def test_unwritable_or_full_out_is_one_line(corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match=f"^train-text: cannot write in the run folder {out}: No space left on "
                                      "device; free some space or choose another --out$"):
        train_text(TextTrainConfig(data=str(corpus), **SMALL), out, progress=False,
                   extra_callbacks=[Raise(full, epoch=2)])
    assert not out.exists()
    import tempfile

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", kw.get("dir"))
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(OSError, match=f"^train-text: cannot write the output folder {out}: Read-only file system; "
                                      "choose another --out$"):
        train_text(TextTrainConfig(data=str(corpus), **SMALL), out, progress=False)
    assert list(tmp_path.iterdir()) == []
