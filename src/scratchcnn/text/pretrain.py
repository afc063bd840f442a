"""Token vectors pretrained on the training texts themselves: truncated SVD of the positive pointwise mutual
information (PPMI) matrix of token co-occurrences (Levy & Goldberg 2014: this factorisation is what skip-gram
with negative sampling approximates).

Counts are gathered with one ``bincount`` per window offset (no Python loop over texts); context counts are
smoothed with exponent 0.75 as in word2vec; the vectors are ``U_d * sqrt(S_d)`` of the symmetric PPMI matrix,
rescaled to Kim's range (standard deviation of U(-0.25, 0.25)).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .vocab import PAD_ID

__all__ = ["cooccurrence", "ppmi_svd_vectors"]


def cooccurrence(seqs: Sequence[np.ndarray], vocab_size: int, window: int = 5) -> np.ndarray:
    """Symmetric (V, V) float64 counts of token pairs at most ``window`` apart, weighted 1/distance."""
    if window < 1:
        raise ValueError(f"cooccurrence: window must be >= 1, got {window}")
    flat = np.concatenate([np.append(np.asarray(s, np.int64), PAD_ID) for s in seqs])  # pad separates texts
    counts = np.zeros(vocab_size * vocab_size, dtype=np.float64)
    pads = np.cumsum(flat == PAD_ID)  # a pair (i, i + d) is inside one text iff no pad lies in (i, i + d]
    for d in range(1, window + 1):
        a, b = flat[:-d], flat[d:]
        ok = (a != PAD_ID) & (b != PAD_ID) & (pads[d:] == pads[:-d])
        counts += np.bincount(a[ok] * vocab_size + b[ok], minlength=vocab_size * vocab_size) / d
    m = counts.reshape(vocab_size, vocab_size)
    return m + m.T


def _top_eigh(a: np.ndarray, k: int, rng: np.random.Generator, iters: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenpairs of the symmetric ``a`` by randomised subspace iteration (Halko et al. 2011):
    a few (n, k + 10) GEMMs instead of a full O(n^3) eigendecomposition."""
    n = a.shape[0]
    p = min(n, k + 10)
    q = np.linalg.qr(a @ rng.standard_normal((n, p)))[0]
    for _ in range(iters):
        q = np.linalg.qr(a @ q)[0]
    vals, small = np.linalg.eigh(q.T @ a @ q)
    top = np.argsort(-vals)[:k]
    return vals[top], q @ small[:, top]


def ppmi_svd_vectors(seqs: Sequence[np.ndarray], vocab_size: int, dim: int, window: int = 5,
                     alpha: float = 0.75, scale: float = 0.25, seed: int = 0) -> np.ndarray:
    """(V, dim) float32 vectors from the PPMI of ``seqs``' co-occurrences; rows of tokens never seen are 0."""
    c = cooccurrence(seqs, vocab_size, window)
    total = c.sum()
    if total == 0:
        return np.zeros((vocab_size, dim), dtype=np.float32)
    row = c.sum(axis=1)
    ctx = row ** alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(c * ctx.sum() / (row[:, None] * ctx[None, :]))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    ppmi = (ppmi + ppmi.T) / 2
    vals, vecs = _top_eigh(ppmi, dim, np.random.default_rng(seed))
    out = vecs * np.sqrt(np.clip(vals, 0, None))[None, :]
    if out.shape[1] < dim:
        out = np.pad(out, ((0, 0), (0, dim - out.shape[1])))
    std = out[row > 0].std() if (row > 0).any() else 1.0
    out = out * (scale / np.sqrt(3.0) / (std if std > 0 else 1.0))
    out[PAD_ID] = 0.0
    return out.astype(np.float32)
