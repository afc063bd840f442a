"""Audit of the data API against torch.utils.data / torchvision semantics where the names match.

Each test pins one defect found in the audit (it failed before the fix).
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from scratchcnn.data import (ArrayDataset, Compose, DataLoader, ImageFolder, Normalize, RandomRotation,
                             RandomShift, random_split)


def _toy(n: int = 6) -> ArrayDataset:
    imgs = np.arange(n * 16, dtype=np.uint8).reshape(n, 4, 4)
    return ArrayDataset(imgs, np.arange(n) % 3, ("a", "b", "c"), mean=0.5, std=0.25)


# ---------------------------------------------------------------- DataLoader

def test_batch_size_none_is_a_clear_error():
    """torch's unbatched mode; used to fail inside int() with a message naming nothing."""
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got None.*not supported"):
        DataLoader(_toy(), batch_size=None)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_toy(), batch_size="4")
    assert len(DataLoader(_toy(), batch_size=np.int64(4))) == 2


def test_generator_must_be_a_numpy_generator():
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator, got int"):
        DataLoader(_toy(), generator=3)
    a = [y.data.tolist() for _, y in DataLoader(_toy(), 2, shuffle=True, generator=np.random.default_rng(5))]
    b = [y.data.tolist() for _, y in DataLoader(_toy(), 2, shuffle=True, generator=np.random.default_rng(5))]
    assert a == b


@pytest.mark.parametrize("normalize", [(0.5,), (0.1, 0.2, 0.3), "yes"])
def test_normalize_must_be_a_pair(normalize):
    with pytest.raises(ValueError, match="normalize must be True, False or a \\(mean, std\\) pair"):
        DataLoader(_toy(), normalize=normalize)


@pytest.mark.parametrize("transform", [Normalize(0.5, 0.25), Compose([RandomShift(1), Compose([Normalize(0, 1)])])])
def test_normalize_in_the_transform_and_the_loader_is_an_error(transform):
    """torch users put Normalize in the transform; the loader also applied the dataset's mean/std: twice, silently."""
    with pytest.raises(ValueError, match="normalise twice"):
        DataLoader(_toy(), transform=transform)
    with pytest.raises(ValueError, match="normalise twice"):
        DataLoader((_toy().images, _toy().labels), transform=transform, normalize=(0.5, 0.25))
    x, _ = next(iter(DataLoader(_toy(), batch_size=6, transform=Normalize(0.5, 0.25), normalize=False)))
    ref = (_toy().images[:, None].astype(np.float32) / 255 - 0.5) / 0.25
    np.testing.assert_allclose(x.data, ref, rtol=1e-6, atol=1e-6)


def test_a_list_of_two_samples_is_a_clear_type_error():
    ds = _toy()
    with pytest.raises(TypeError, match="list of \\(image, label\\) samples"):
        DataLoader([(ds.images[0], 0), (ds.images[1], 1)])


def test_len_partial_batch_and_two_epochs():
    loader = DataLoader(_toy(7), batch_size=3, shuffle=True, seed=0)
    e1, e2 = ([y.data.tolist() for _, y in loader] for _ in range(2))
    assert len(loader) == 3 and [len(b) for b in e1] == [3, 3, 1] and e1 != e2
    assert len(DataLoader(_toy(7), batch_size=3, drop_last=True)) == 2
    x, y = next(iter(DataLoader(_toy(7), batch_size=3)))
    assert x.data.dtype == np.float32 and y.data.dtype == np.int64


# ---------------------------------------------------------------- datasets and splits

def test_empty_and_negative_subsets():
    """torch's Subset(ds, []) is an empty dataset; [] (float64 to NumPy) used to raise IndexError."""
    ds = _toy()
    assert len(ds.subset([])) == 0 and ds.subset([]).images.shape == (0, 4, 4)
    assert len(ds[[]]) == 0
    assert ds.subset([-1, 0]).labels.tolist() == [ds.labels[-1], ds.labels[0]]
    with pytest.raises(TypeError, match="indices must be integers or a boolean mask, got dtype float64"):
        ds.subset([1.0])


def test_random_split_fractions_must_sum_to_one_exactly():
    """A sum just above 1 was accepted and over-filled the parts (the last one silently cut short)."""
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(10**6, [0.5, 0.500001])
    assert [len(p) for p in random_split(10, [0.1, 0.2, 0.7])] == [1, 2, 7]


# ---------------------------------------------------------------- transforms

@pytest.mark.parametrize("mean, std", [(np.nan, 1.0), (0.0, np.nan), (0.0, np.inf), (np.inf, 1.0)])
def test_normalize_rejects_non_finite_stats(mean, std):
    with pytest.raises(ValueError, match="finite"):
        Normalize(mean, std)


def test_rotation_degrees_must_be_a_pair():
    with pytest.raises(ValueError, match="degrees must be a number or a \\(min, max\\) pair"):
        RandomRotation((1, 2, 3))


# ---------------------------------------------------------------- ImageFolder

def _save(path, value=100, shape=(5, 5), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path, format=fmt)


def test_image_folder_walks_sub_folders_like_torchvision(tmp_path):
    """torchvision takes the images below nested folders too; they used to be dropped silently."""
    _save(tmp_path / "b" / "x.png", 10)
    _save(tmp_path / "b" / "deep" / "y.jpg", 20)
    _save(tmp_path / "b" / ".hidden" / "z.png", 30)
    _save(tmp_path / "a" / "w.png", 40)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, size=None)
    assert ds.classes == ("a", "b") and ds.labels.tolist() == [0, 1, 1]
    assert [p.split("/")[-1] for p in ds.paths] == ["w.png", "x.png", "y.jpg"]
    assert ds.images[:, 0, 0].tolist() == [40, 10, 20]


def test_image_folder_rejects_duplicate_classes_and_bad_sizes(tmp_path):
    _save(tmp_path / "a" / "x.png")
    with pytest.raises(ValueError, match="classes must be distinct"):
        ImageFolder(tmp_path, classes=["a", "a"])
    for size in (0, True, (4, 4, 4), (4, 2.5)):
        with pytest.raises(ValueError, match="size must be a positive int"):
            ImageFolder(tmp_path, size=size)
    assert ImageFolder(tmp_path, size=np.int64(3)).images.shape == (1, 3, 3)


def test_image_folder_corrupt_file_is_named(tmp_path):
    _save(tmp_path / "a" / "x.png")
    (tmp_path / "a" / "y.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*y.png"):
        ImageFolder(tmp_path)


def test_image_folder_walk_ends_on_a_symlink_loop(tmp_path):
    """Nested class folders are read like torchvision's, and a symlink pointing back up the tree is read once
    instead of looping forever."""
    import os

    from PIL import Image

    from scratchcnn.data.image_folder import ImageFolder
    for cls in ("a", "b"):
        (tmp_path / cls / "sub").mkdir(parents=True)
        Image.new("L", (4, 4), 10).save(tmp_path / cls / "x.png")
        Image.new("L", (4, 4), 20).save(tmp_path / cls / "sub" / "y.png")
    os.symlink(tmp_path / "a", tmp_path / "a" / "sub" / "loop")
    ds = ImageFolder(tmp_path, mode="L")
    assert len(ds) == 4 and sorted(ds.labels.tolist()) == [0, 0, 1, 1]
