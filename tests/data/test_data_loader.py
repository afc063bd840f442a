"""DataLoader, splits, class subsets and few-shot sampling."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import scratchcnn as sc
from scratchcnn.data import (ArrayDataset, DataLoader, RandomShift, few_shot, load_dataset, random_split,
                             select_classes, train_val_split)


def toy(n=23, c=None, seed=0, classes=5):
    rng = np.random.default_rng(seed)
    shape = (n, 28, 28) if c is None else (n, c, 8, 8)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(n) % 256  # identify samples
    return ArrayDataset(images, np.arange(n) % classes, tuple(f"c{i}" for i in range(classes)), mean=0.5,
                        std=0.25, name="toy")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), bs=st.integers(1, 17), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**32))
def test_every_item_once_per_epoch(n, bs, shuffle, drop_last, seed):
    ds = ArrayDataset(np.zeros((n, 2, 2), np.uint8), np.arange(n) % 3, ("a", "b", "c"))
    ds.images[:, 0, 0] = np.arange(n)  # images carry their index
    if drop_last and n < bs:  # no batch at all: an error, not an epoch that silently trains on nothing
        with pytest.raises(ValueError, match="gives no batches"):
            DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=drop_last, seed=seed, normalize=False)
        return
    loader = DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=drop_last, seed=seed, normalize=False)
    for _ in range(2):
        seen, sizes = [], []
        for x, y in loader:
            assert isinstance(x, sc.Tensor) and x.dtype == np.float32 and x.shape[1:] == (1, 2, 2)
            assert y.dtype == np.int64
            idx = np.rint(x.data[:, 0, 0, 0] * 255).astype(int)
            np.testing.assert_array_equal(y.data, ds.labels[idx])
            seen += idx.tolist()
            sizes.append(len(idx))
        assert len(sizes) == len(loader)
        if drop_last:
            assert all(s == bs for s in sizes) and len(seen) == n - n % bs and len(set(seen)) == len(seen)
        else:
            assert sorted(seen) == list(range(n))
        if not shuffle:
            assert seen == sorted(seen)


def test_normalisation_and_layout():
    ds = toy()
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    expect = (ds.images[:4].astype(np.float32) / 255 - 0.5) / 0.25
    np.testing.assert_allclose(x.data[:, 0], expect, rtol=1e-6, atol=1e-6)
    x2, _ = next(iter(DataLoader(ds, batch_size=4, normalize=(0.1, 0.2))))
    np.testing.assert_allclose(x2.data[:, 0], (ds.images[:4] / 255 - 0.1) / 0.2, rtol=1e-5, atol=1e-5)
    x3, _ = next(iter(DataLoader((ds.images, ds.labels), batch_size=4)))  # tuple: no stats, no normalising
    np.testing.assert_allclose(x3.data[:, 0], ds.images[:4] / 255, rtol=1e-6)
    rgb = toy(c=3)
    rgb.mean, rgb.std = (0.1, 0.2, 0.3), (0.5, 0.5, 0.25)
    x4, _ = next(iter(DataLoader(rgb, batch_size=2)))
    assert x4.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(x4.data[:, 2], (rgb.images[:2, 2] / 255 - 0.3) / 0.25, rtol=1e-5, atol=1e-5)
    assert ds.images.dtype == np.uint8  # the dataset is never modified


def test_shuffle_is_seeded_and_changes_per_epoch():
    ds = toy(50)
    a, b = DataLoader(ds, 7, shuffle=True, seed=3), DataLoader(ds, 7, shuffle=True, seed=3)
    ea = [y.data.copy() for _, y in a]
    eb = [y.data.copy() for _, y in b]
    assert all(np.array_equal(u, v) for u, v in zip(ea, eb))
    assert not np.array_equal(a.order(0), a.order(1))
    assert not np.array_equal(DataLoader(ds, 7, shuffle=True, seed=4).order(0), a.order(0))
    sc.manual_seed(11)
    o1 = DataLoader(ds, 7, shuffle=True).order(0)
    sc.manual_seed(11)
    np.testing.assert_array_equal(o1, DataLoader(ds, 7, shuffle=True).order(0))


def test_resume_gives_identical_batches():
    ds = toy(40)
    tf = RandomShift(2)
    full = DataLoader(ds, 8, shuffle=True, seed=5, transform=tf)
    batches = [[x.data.copy() for x, _ in full] for _ in range(3)]
    part = DataLoader(ds, 8, shuffle=True, seed=5, transform=tf)
    for _ in part:
        pass
    state = part.state_dict()
    assert state == {"seed": 5, "epoch": 1}
    resumed = DataLoader(ds, 8, shuffle=True, seed=999, transform=tf)
    resumed.load_state_dict(state)
    for e in (1, 2):
        for got, want in zip([x.data for x, _ in resumed], batches[e]):
            np.testing.assert_array_equal(got, want)


def test_transform_applies_before_normalising_and_is_seeded():
    ds = toy(16)
    calls = []

    def tf(x, g):
        calls.append((x.min() >= 0, x.max() <= 1, type(g)))
        return x[:, :, ::-1, :]

    x, _ = next(iter(DataLoader(ds, 16, transform=tf, seed=1)))
    assert calls == [(True, True, np.random.Generator)]
    np.testing.assert_allclose(x.data[:, 0], (ds.images[:, ::-1] / 255 - 0.5) / 0.25, rtol=1e-5, atol=1e-5)


def test_loader_errors():
    ds = toy(5)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, 0)
    with pytest.raises(ValueError, match="5 images but labels"):
        DataLoader((ds.images, ds.labels[:4]))
    with pytest.raises(TypeError, match="DataLoader"):
        DataLoader([1, 2, 3])
    with pytest.raises(ValueError, match="normalize"):
        DataLoader(ds, normalize=(0.1, 0.0))


def test_array_dataset_validation():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ArrayDataset(np.zeros((3, 4, 4), np.uint8), np.zeros(2, int), ("a",))
    with pytest.raises(ValueError, match=r"labels must lie in 0..1"):
        ArrayDataset(np.zeros((2, 4, 4), np.uint8), np.array([0, 2]), ("a", "b"))
    with pytest.raises(TypeError, match="integers"):
        ArrayDataset(np.zeros((2, 4, 4), np.uint8), np.array([0.0, 1.0]), ("a", "b"))


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 500), frac=st.floats(0.01, 0.9), seed=st.integers(0, 1000))
def test_train_val_split_disjoint_and_seeded(n, frac, seed):
    tr, va = train_val_split(n, frac, seed=seed)
    assert len(np.intersect1d(tr, va)) == 0 and sorted(np.concatenate([tr, va]).tolist()) == list(range(n))
    assert len(va) == min(max(1, round(n * frac)), n - 1)  # both parts non-empty
    tr2, va2 = train_val_split(n, frac, seed=seed)
    np.testing.assert_array_equal(va, va2)


def test_random_split_lengths_and_fractions():
    parts = random_split(10, [3, 3, 4], seed=1)
    assert [len(p) for p in parts] == [3, 3, 4]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    assert [len(p) for p in random_split(10, [0.5, 0.25, 0.25])] == [6, 2, 2]  # leftovers first, as torch
    assert not np.array_equal(random_split(100, [50, 50], seed=1)[0], random_split(100, [50, 50], seed=2)[0])
    with pytest.raises(ValueError, match="sum to 10"):
        random_split(10, [3, 3])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        train_val_split(10, 1.0)


def test_select_classes_relabels():
    ds = toy(50, classes=10)
    sub = select_classes(ds, [5, 6, 7, 8, 9])
    assert sub.classes == ("c5", "c6", "c7", "c8", "c9") and len(sub) == 25
    np.testing.assert_array_equal(sub.labels, (np.arange(50)[np.arange(50) % 10 >= 5] % 10) - 5)
    same = select_classes(ds, ["c7", "c2"])
    assert same.classes == ("c7", "c2") and set(same.labels.tolist()) == {0, 1}
    assert (same.labels[same.images[:, 0, 0] % 10 == 7] == 0).all()
    kept = select_classes(ds, [1, 3], relabel=False)
    assert set(kept.labels.tolist()) == {1, 3} and kept.classes == ds.classes
    with pytest.raises(ValueError, match="unknown class"):
        select_classes(ds, ["zz"])
    with pytest.raises(ValueError, match="out of range"):
        select_classes(ds, [10])


def test_few_shot():
    labels = np.repeat(np.arange(4), [5, 7, 3, 9])
    idx = few_shot(labels, 3, seed=0)
    assert np.bincount(labels[idx]).tolist() == [3, 3, 3, 3] and len(set(idx.tolist())) == 12
    np.testing.assert_array_equal(idx, few_shot(labels, 3, seed=0))
    assert not np.array_equal(few_shot(labels, 3, seed=1), idx)
    assert np.bincount(labels[few_shot(labels, 2, classes=[1, 3])], minlength=4).tolist() == [0, 2, 0, 2]
    with pytest.raises(ValueError, match=r"classes \[2\] have fewer than 4"):
        few_shot(labels, 4)


def test_loader_over_real_mnist_subset(data_dir):
    ds = load_dataset("mnist", "test", data_dir=data_dir, download=False)
    five_to_nine = select_classes(ds, range(5, 10))
    assert five_to_nine.class_counts().tolist() == [892, 958, 1028, 974, 1009]
    loader = DataLoader(five_to_nine, batch_size=256, shuffle=True, seed=0)
    xs = np.concatenate([x.data for x, _ in loader])
    assert xs.shape == (len(five_to_nine), 1, 28, 28)
    assert abs(float(DataLoader(ds, 10000).__iter__().__next__()[0].data.mean())) < 0.05  # normalised ~ mean 0
