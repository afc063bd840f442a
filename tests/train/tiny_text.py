"""A tiny float64 TextCNN (with a bigram table) and a padded batch for it: shared by the FGM and R-Drop tests."""
from __future__ import annotations

import numpy as np

import scratchcnn as sc
from scratchcnn import models


def tiny_textcnn(seed: int = 0, dropout: float = 0.0):
    sc.manual_seed(seed)
    return models.get("textcnn", num_classes=3, vocab_size=40, embed_dim=6, num_filters=4, dropout=dropout,
                      ngram_orders=[2], ngram_buckets=30, ngram_init_std=0.1).double()


def text_batch(n: int = 20, seed: int = 1):
    """n texts of 10 ids (the last two padding) and labels in 0..2, as Tensors."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 40, (n, 10))
    x[:, 8:] = 0
    return sc.Tensor(x), sc.Tensor(rng.integers(0, 3, n))
