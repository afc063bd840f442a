"""A `train-text` run that fails takes back what it wrote (a folder it created is removed, an empty one stays
empty, a non-empty one keeps what it held), and settings the model refuses (charcnn's --max-len) are one error
before any warning about the corpus."""
from __future__ import annotations

import pytest

from scratchcnn.text import TextTrainConfig, train_text

from tiny_corpus import make_corpus
from run_failure_helpers import out_folder, tree

SMALL = dict(epochs=1, embed_dim=8, num_filters=4, batch_size=50)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "tiny")


@pytest.mark.parametrize("given", ["missing", "empty", "full"])
@pytest.mark.parametrize("ensemble", [1, 2])
def test_diverged_run_leaves_nothing(corpus, tmp_path, given, ensemble):
    out = out_folder(tmp_path, given)
    before = tree(tmp_path)
    cfg = TextTrainConfig(data=str(corpus), lr=1e30, ensemble=ensemble, **SMALL)
    with pytest.raises((RuntimeError, ValueError), match="(?i)nan|non-finite|diverged"):
        train_text(cfg, out, progress=False, tensorboard=True)
    assert tree(tmp_path) == before


def test_charcnn_max_len_is_checked_before_any_warning(corpus, tmp_path, capsys):
    cfg = TextTrainConfig(data=str(corpus), model="charcnn", max_len=2, epochs=1)
    with pytest.raises(ValueError, match=r"--max-len\) is too short .* it needs at least \d+"):
        train_text(cfg, tmp_path / "run", progress=False)
    assert "warning" not in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_bad_kernel_sizes_are_a_config_error(corpus):
    with pytest.raises(ValueError, match="kernel_sizes must be a non-empty list of positive window widths"):
        TextTrainConfig(data=str(corpus), kernel_sizes=[3, 0])


def test_a_file_in_the_way_of_out_is_refused_before_any_work(corpus, tmp_path):
    """train, train-text and finetune refuse an --out under a file at once (train used to load the data first
    and end with '[Errno 20] Not a directory'), and write nothing."""
    import time

    from scratchcnn.finetune import FinetuneConfig, finetune
    from scratchcnn.train import TrainConfig, train
    (tmp_path / "X").write_text("a file")
    before = tree(tmp_path)
    runs = [lambda out: train_text(TextTrainConfig(data=str(corpus), **SMALL), out, progress=False),
            lambda out: train(TrainConfig(model="seed000", epochs=1, data_dir="/nonexistent"), out, progress=False),
            lambda out: finetune(FinetuneConfig(model="seed000", strategy="scratch", epochs=1), out, progress=False)]
    for run in runs:
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match=r"cannot create the output folder .*X is a file, not a folder"):
            run(tmp_path / "X" / "run")
        assert time.perf_counter() - t0 < 5
        assert tree(tmp_path) == before
