"""The dataset registry's numbers (MNIST, Fashion-MNIST): files, checksums, shapes, splits, normalisation.

Numeric code (digest.NUMERIC_MODULES): a config's dataset entry counts in its code digest as the values of
these facts. The words about a dataset (title, class names, the report's target) are in dataset_words.py,
outside the digest; a Dataset reads them from there for messages. No torch here: the reading side imports it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dataset_words import words

# MNIST_DATA_DIR points the suite at another copy (tests use it to corrupt a private one).
DATA_ROOT = Path(os.environ.get("MNIST_DATA_DIR") or Path(__file__).resolve().parent / "data")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class Dataset:
    """Everything the suite computes with about a dataset; every other module asks this, none names one."""

    name: str  # the --dataset value, and the config's "dataset"
    folder: str  # data/<folder>/raw holds its files (also torchvision's class name, for bench.py)
    md5: dict[str, str]  # MD5 of each decompressed file
    n_classes: int  # labels are 0 to n_classes - 1
    mean: float  # pixel mean and std (pixels in [0, 1]) over the official training set's 60,000 images
    std: float
    hflip: bool  # a horizontally mirrored image keeps its label (clothing), so augmentation may flip it (not digits)
    image_shape: tuple[int, int, int] = (1, 28, 28)
    n_train: int = 55_000  # the official training set, split into train and val by dataloader.SPLIT_SEED
    n_val: int = 5_000
    n_test: int = 10_000

    @property
    def background(self) -> float:
        """A black pixel (0) after normalization: what augmentation fills in where it shifts or rotates."""
        return -self.mean / self.std

    def raw(self, root: Path = DATA_ROOT) -> Path:
        """The folder of its files under data root `root`."""
        return Path(root) / self.folder / "raw"

    # Its words, from dataset_words (outside the code digest): for messages, headings and figures.
    @property
    def title(self) -> str:
        return words(self.name).title

    @property
    def classes(self) -> tuple[str, ...]:
        return words(self.name).classes

    @property
    def item_word(self) -> str:
        return words(self.name).item_word

    @property
    def target_val_acc(self) -> float:
        return words(self.name).target_val_acc


# Normalization: mean and std of the official training images' pixels (in [0, 1]), computed once with
# numpy over the decompressed train-images file: MNIST 0.13066 and 0.30811 (the customary 0.1307 and
# 0.3081, kept), Fashion-MNIST 0.28604 and 0.35302.
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset(
        name="mnist", folder="MNIST", n_classes=10, mean=0.1307, std=0.3081,
        # as published with MNIST (and in torchvision)
        md5=dict(zip(IDX_FILES, ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
                                 "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"))),
        hflip=False),  # a mirrored 2, 3, 4, 5, 7 or 9 is no digit
    Dataset(
        name="fashion-mnist", folder="FashionMNIST", n_classes=10, mean=0.2860, std=0.3530,
        # data/FashionMNIST/raw's .gz files are Debian's wrappers (not upstream's bytes); their contents
        # are upstream's, so these are the decompressed files' sums (the source's MD5SUMS.decompressed)
        md5=dict(zip(IDX_FILES, ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                                 "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"))),
        hflip=True),  # a mirrored shirt, shoe or bag is still one
)}


def get_dataset(name: str) -> Dataset:
    """The registry's entry `name`; ValueError naming the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; valid: {', '.join(DATASETS)}")
    return DATASETS[name]
