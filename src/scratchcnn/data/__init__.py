"""scratchcnn.data: datasets (IDX files, registry, download/cache, image folders), transforms, DataLoader.

Importing this package needs only NumPy; Pillow and pooch load when an image is opened or a file downloaded.
(Where datasets come from lives in ``sources.py``, not ``download.py``, so the ``download`` function exported
here cannot shadow a module of the same name.)
"""
from .dataset import ArrayDataset, load_dataset, select_classes, subset
from .idx import read_idx, write_idx
from .image_folder import ImageFolder, load_image_for_mnist, load_images_for_mnist, open_image
from .loader import DataLoader
from .registry import DatasetInfo, available_datasets, get_info
from .sources import (DatasetNotFoundError, cache_dir, download, find_local, list_datasets, locate, search_paths,
                      verify)
from .splits import few_shot, random_split, train_val_split
from .transforms import Compose, Normalize, RandomCrop, RandomRotation, RandomShift

download_dataset = download  # an unambiguous alias

__all__ = ["ArrayDataset", "load_dataset", "select_classes", "subset", "read_idx", "write_idx", "ImageFolder",
           "load_image_for_mnist", "load_images_for_mnist", "open_image", "DataLoader", "DatasetInfo",
           "available_datasets", "get_info", "DatasetNotFoundError", "cache_dir", "download", "download_dataset",
           "find_local", "list_datasets", "locate", "search_paths", "verify", "few_shot", "random_split",
           "train_val_split", "Compose", "Normalize", "RandomCrop", "RandomRotation", "RandomShift"]
