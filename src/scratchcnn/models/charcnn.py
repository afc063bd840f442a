"""CharCNN: a deeper character-level CNN after Zhang, Zhao & LeCun 2015 ("Character-level Convolutional Networks
for Text Classification"), on the engine's conv1d, with a learned character embedding instead of one-hot codes.

    ids (N, seq_len) -> embedding (N, D, seq_len)
    -> conv7-ReLU-pool3 -> conv7-ReLU-pool3 -> conv3-ReLU -> conv3-ReLU -> conv3-ReLU -> conv3-ReLU-pool3
    -> flatten -> fc (fc_dim) -ReLU-dropout -> fc (fc_dim) -ReLU-dropout -> fc (num_classes)

The input length is fixed (``seq_len``, Zhang et al.: 1014): shorter texts are padded with id 0 (a zero vector),
longer ones cut. ``channels=256, fc_dim=1024`` is the paper's "small" model; smaller values train faster.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import nn
from ..tensor import Tensor

__all__ = ["CharCNN"]

PAD_ID = 0


class CharCNN(nn.Module):
    """Input ids (N, L) int64 (cut or padded to ``seq_len``) -> logits (N, num_classes).

    Args:
        num_classes: output classes.
        vocab_size: characters in the vocabulary (including ``<pad>`` = 0 and ``<unk>``).
        seq_len: fixed input length.
        embed_dim: character embedding size.
        channels: feature maps of every convolution.
        kernel_sizes, pools: window width and max-pool size (0: none) of each convolution layer.
        fc_dim: width of the two hidden fully connected layers.
        dropout: dropout before each of the last two fully connected layers.
    """

    input_kind = "tokens"
    """Its input is token ids, not images (image training, `scratchcnn train`, refuses it)."""

    def __init__(self, num_classes: int = 2, vocab_size: int = 5000, seq_len: int = 256, embed_dim: int = 64,
                 channels: int = 256, kernel_sizes: Sequence[int] = (7, 7, 3, 3, 3, 3),
                 pools: Sequence[int] = (3, 3, 0, 0, 0, 3), fc_dim: int = 1024, dropout: float = 0.5):
        super().__init__()
        ks, ps = [int(k) for k in kernel_sizes], [int(p) for p in pools]
        if len(ks) != len(ps) or not ks:
            raise ValueError(f"CharCNN: kernel_sizes {ks} and pools {ps} must be non-empty and of equal length")
        length = int(seq_len)
        for k, p in zip(ks, ps):
            length = length - k + 1
            if p:
                length //= p
            if length < 1:
                need = 1
                for k2, p2 in reversed(list(zip(ks, ps))):
                    need = need * (p2 or 1) + k2 - 1
                raise ValueError(f"CharCNN: seq_len {seq_len} (train-text's --max-len) is too short for "
                                 f"kernel_sizes {ks} and pools {ps}: it needs at least {need}")
        self.seq_len, self.fixed_length = int(seq_len), int(seq_len)
        self.min_length = 1
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        layers: list[nn.Module] = []
        c_in = embed_dim
        for k, p in zip(ks, ps):
            layers += [nn.Conv1d(c_in, channels, k), nn.ReLU()]
            if p:
                layers.append(nn.MaxPool1d(p))
            c_in = channels
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Linear(channels * length, fc_dim), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(fc_dim, fc_dim), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(fc_dim, num_classes))

    def forward(self, ids: Tensor | np.ndarray) -> Tensor:
        x = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        if x.ndim != 2 or x.dtype.kind not in "iu":
            raise ValueError(f"CharCNN: expected token ids (N, L) of an integer type, got shape {x.shape} "
                             f"dtype {x.dtype}")
        if x.shape[1] != self.seq_len:
            fixed = np.full((x.shape[0], self.seq_len), PAD_ID, dtype=x.dtype)
            n = min(self.seq_len, x.shape[1])
            fixed[:, :n] = x[:, :n]
            x = fixed
        h = self.embedding(x).transpose(1, 2)  # (N, D, seq_len)
        return self.classifier(self.flatten(self.features(h)))
