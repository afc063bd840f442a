"""`scratchcnn evaluate` of a text checkpoint splits its corpus again by the fixed rule: it refuses a corpus that
no longer splits as it did for training (texts added, removed or edited), whose test split could hold training
texts; ``meta.json`` records the split's SHA-256, and older checkpoints are compared by their split sizes."""
from __future__ import annotations

import json
import shutil

import pytest

from scratchcnn.text import TextTrainConfig, train_text
from scratchcnn.text.run import evaluate_text_checkpoint

from tiny_corpus import make_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run on its own corpus (the tests edit it, and put it back)."""
    root = tmp_path_factory.mktemp("trained")
    data = make_corpus(root / "corpus", n=60)
    train_text(TextTrainConfig(data=str(data), epochs=1, embed_dim=8, num_filters=4, batch_size=50), root / "run",
               progress=False)
    return root / "run", data


def _meta(run_dir):
    return json.loads((run_dir / "best" / "meta.json").read_text())


def test_evaluate_refuses_a_corpus_that_changed_since_training(trained, tmp_path):
    run_dir, data = trained
    assert _meta(run_dir)["data"]["split_sha256"]
    evaluate_text_checkpoint(run_dir)                       # unchanged: fine
    pos = data / "pos.txt"
    original = pos.read_text()
    try:
        pos.write_text(original + "".join(f"an added text {i}\n" for i in range(20)))
        with pytest.raises(ValueError, match=f"^evaluate: the corpus {data} changed since .* was trained on it "
                                             r"\(split sizes 96/12/12 then, 112/14/14 now\), so the split saved"):
            evaluate_text_checkpoint(run_dir)
        with pytest.raises(ValueError, match="changed since"):
            evaluate_text_checkpoint(run_dir, data=data)      # the same corpus named again
        pos.write_text(original.replace("pos0\n", "pos0 edited\n"))   # same sizes, another text
        with pytest.raises(ValueError, match=r"\(the same split sizes, but other texts or labels\)"):
            evaluate_text_checkpoint(run_dir)
        other = shutil.copytree(data, tmp_path / "other")    # another corpus, asked for by name: evaluated
        assert evaluate_text_checkpoint(run_dir, data=other)["num_samples"] == 12
    finally:
        pos.write_text(original)


def test_evaluate_of_an_old_checkpoint_compares_the_split_sizes(trained, tmp_path):
    run_dir, data = trained
    old = shutil.copytree(run_dir, tmp_path / "old")
    meta = _meta(old)
    del meta["data"]["split_sha256"]                        # written before the fingerprint existed
    (old / "best" / "meta.json").write_text(json.dumps(meta))
    evaluate_text_checkpoint(old)
    pos = data / "pos.txt"
    original = pos.read_text()
    try:
        pos.write_text(original + "one more text\nand another\n")
        with pytest.raises(ValueError, match=r"changed since .* \(split sizes 96/12/12 then, 97/12/13 now\)"):
            evaluate_text_checkpoint(old)
    finally:
        pos.write_text(original)
