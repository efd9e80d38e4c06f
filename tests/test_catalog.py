"""wgan.catalog: the one listing and summary of checkpoints that Home and Sampling both show."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from wgan import catalog
from wgan.checkpoint import export_generator, load_checkpoint, save_checkpoint
from wgan.config import preset
from wgan.data import load_images
from wgan.train import init_state


@pytest.fixture(scope="module")
def folder(mnist_root, tmp_path_factory) -> Path:
    """Shipped generators (one named like the default file), a full run in runs/, a foreign and a broken file."""
    folder = tmp_path_factory.mktemp("checkpoints")
    digits = load_images("mnist", mnist_root, "train", download=False)
    state = init_state(preset("gan", arch="repaired", batch_size=8, holdout_size=32), digits, "cpu")
    full = save_checkpoint(state, folder / "runs" / "mine.pt")
    export_generator(load_checkpoint(full), folder / catalog.DEFAULT_FILE, card={"data": "bars", "fid_mnist": 12.345})
    export_generator(load_checkpoint(full), folder / "a-first.pt")
    torch.save({"weights": torch.zeros(3)}, folder / "classifier.pt")
    (folder / "broken.pt").write_bytes(b"not a checkpoint")
    return folder


def test_listing_puts_the_default_first_and_hides_runs_when_hosted(folder):
    names = [catalog.name_in(path, folder) for path in catalog.listed(folder, hosted=False)]
    assert names == [catalog.DEFAULT_FILE, "a-first.pt", "broken.pt", "classifier.pt", "runs/mine.pt"]
    assert "runs/mine.pt" not in [catalog.name_in(path, folder) for path in catalog.listed(folder, hosted=True)]
    assert catalog.label(folder / "runs" / "mine.pt", folder) == "runs/mine.pt  (your run)"


def test_entries_and_rows(folder):
    good = catalog.read_entry(folder / catalog.DEFAULT_FILE)
    assert good.problem is None and good.facts.arch == "repaired" and good.facts.fid_mnist == pytest.approx(12.345)
    assert catalog.table_row(good) | {"iteration": 0} == {
        "file": catalog.DEFAULT_FILE,
        "FID-MNIST": 12.3,
        "iteration": 0,
        "kind": "generator only (sampling)",
        "note": "gan, repaired architecture, bars",
    }
    run = catalog.read_entry(folder / "runs" / "mine.pt")
    assert run.facts.full and catalog.table_row(run)["kind"] == "full run (resumable)"
    assert run.facts.fid_mnist is None
    foreign = catalog.read_entry(folder / "classifier.pt")
    assert foreign.foreign and "another program's file" in foreign.problem and catalog.table_row(foreign) is None
    broken = catalog.read_entry(folder / "broken.pt")
    assert broken.facts is None and not broken.foreign and catalog.table_row(broken)["kind"] == "unreadable"
    assert catalog.modified_ns(folder / "gone.pt") == -1
