"""The dataset registry: what each named dataset is, where it comes from and how to check it.

Every entry uses the MNIST IDX layout: four files, ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``.

Checksums, per file:
- ``md5``: MD5 of the ``.gz`` file exactly as the official servers publish it (the values torchvision uses);
  downloads are verified against it.
- ``content_md5`` / ``content_sha256``: checksums of the *decompressed* IDX bytes. They identify the data
  whatever the compression, so copies re-compressed by a distribution (Debian/Ubuntu's dataset packages) or
  stored uncompressed verify too. The MD5s are the published ones; the SHA-256s were computed from files whose
  content MD5 matched.
- ``content_crc32`` / ``content_size``: the CRC-32 and length of the decompressed IDX bytes, a cheap fingerprint
  that tells every file of the registered datasets apart (a gzip file's last 8 bytes hold both, so identifying a
  ``.gz`` file reads 8 bytes; an uncompressed one costs one CRC pass, about 12 ms for MNIST's 47 MB of training
  images). ``identify.identify_file`` uses it on every lookup so that a folder mixing datasets is refused; it is
  an identification, not an integrity check (``verify`` compares the full checksums). Computed from files whose
  content MD5 matched; unknown (``None``) for kmnist, whose official ``.gz`` MD5 identifies its files instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FileSpec", "DatasetInfo", "REGISTRY", "get_info", "available_datasets", "IDX_FILES"]

IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
"""Split -> (images file, labels file); the same names for every registered dataset."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset and its checksums (hex digests; ``None`` where not known)."""

    name: str
    md5: str | None
    content_md5: str | None = None
    content_sha256: str | None = None
    content_crc32: int | None = None
    content_size: int | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: sources, files, classes and the normalisation its training uses."""

    name: str
    title: str
    mirrors: tuple[str, ...]
    files: tuple[FileSpec, ...]
    classes: tuple[str, ...]
    mean: float
    std: float
    sizes: dict[str, int] = field(default_factory=dict)
    image_shape: tuple[int, int] = (28, 28)
    image_fit: str = "digit"
    """How its images were made from pictures, for ``load_image_for_mnist(fit=...)``: ``digit`` (MNIST: the
    ink's box scaled to 20 px, centre of mass at the centre) or ``fill`` (Fashion-MNIST: the longest edge scaled
    to the full size, centred)."""
    homepage: str = ""
    license: str = ""

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def file(self, name: str) -> FileSpec:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)

    def split_files(self, split: str) -> tuple[str, str]:
        """(images file, labels file) of ``split`` ("train" or "test")."""
        if split not in IDX_FILES:
            raise ValueError(f"dataset {self.name}: unknown split {split!r} (expected 'train' or 'test')")
        return IDX_FILES[split]


_SIZES = (47040016, 60008, 7840016, 10008)
"""Decompressed sizes of the four files of a 60,000 + 10,000 image, 28x28 dataset (in ``IDX_FILES`` order)."""


def _files(gz_md5: tuple[str, ...], content_md5: tuple[str | None, ...],
           content_sha256: tuple[str | None, ...], content_crc32: tuple[int | None, ...] = (None,) * 4,
           content_size: tuple[int | None, ...] = (None,) * 4) -> tuple[FileSpec, ...]:
    names = IDX_FILES["train"] + IDX_FILES["test"]
    return tuple(FileSpec(*row) for row in zip(names, gz_md5, content_md5, content_sha256, content_crc32,
                                               content_size))


_NONE4 = (None, None, None, None)

REGISTRY: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        files=_files(
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
            ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
             "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
            ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
             "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
             "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
            (0xE9F4D8B3, 0xE0CB4AD2, 0x91373BDF, 0x4AB9EFF9),
            _SIZES,
        ),
        classes=tuple(str(i) for i in range(10)),
        mean=0.1307,
        std=0.3081,
        sizes={"train": 60000, "test": 10000},
        homepage="http://yann.lecun.com/exdb/mnist/",
        license="CC BY-SA 3.0",
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando clothing images)",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        files=_files(
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
             "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
            ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
            (0xB4F29F28, 0x741A4657, 0x678FE0B1, 0x80142C1F),
            _SIZES,
        ),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=0.2860,
        std=0.3530,
        sizes={"train": 60000, "test": 10000},
        image_fit="fill",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        license="MIT",
    ),
    "kmnist": DatasetInfo(
        name="kmnist",
        title="Kuzushiji-MNIST (cursive Japanese hiragana)",
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        files=_files(
            ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
             "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
            _NONE4,
            _NONE4,
            _NONE4,
            _SIZES,
        ),
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        mean=0.1918,
        std=0.3483,
        sizes={"train": 60000, "test": 10000},
        homepage="https://github.com/rois-codh/kmnist",
        license="CC BY-SA 4.0",
    ),
}


def available_datasets() -> list[str]:
    """Names of the registered datasets."""
    return sorted(REGISTRY)


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (case-insensitive; ``fashion_mnist`` works too)."""
    key = str(name).lower().replace("_", "-")
    if key not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(available_datasets())}")
    return REGISTRY[key]
