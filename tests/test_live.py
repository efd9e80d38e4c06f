"""wgan.live: the Training page's run driver, tested without Streamlit on tiny test-written MNIST files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from wgan import live
from wgan.config import preset
from wgan.data import DataUnavailableError, load_images
from wgan.live import LiveRun, baseline_config, start_run, thin
from wgan.smoothing import centred_median


@pytest.fixture(scope="module")
def small_data(mnist_root: Path):
    return load_images("mnist", root=mnist_root, split="train", download=False)


def small_config(**changes):
    return preset("seed", batch_size=16, holdout_size=100, **changes)


def test_baseline_undoes_the_four_changes_and_keeps_the_rest():
    config = preset("paper")
    baseline = baseline_config(config)
    assert (baseline.objective, baseline.clip_value, baseline.optimizer) == ("gan", 0.0, "adam")
    for name in ("seed", "batch_size", "n_critic", "critic_warmup", "z_dim", "dataset", "critic_batch_norm"):
        assert getattr(baseline, name) == getattr(config, name)


def test_lockstep_baseline_sees_the_same_batches_and_noise(small_data):
    run = start_run(small_config(), small_data, compare=True, snapshot_every=2)
    assert torch.equal(run.state.fixed_noise, run.baseline.fixed_noise)
    for _ in range(3):
        run.tick(0.0, max_iterations=2)
    assert run.iteration == run.baseline.iteration == 6
    # Same streams advanced by the same draws: same data order and the same z from here on.
    assert torch.equal(run.state.data_rng.get_state(), run.baseline.data_rng.get_state())
    assert torch.equal(run.state.noise_rng.get_state(), run.baseline.noise_rng.get_state())
    assert "js_estimate" in run.baseline.history.columns
    assert len(run.state.history) == len(run.baseline.history) == 6


def test_snapshots_and_holdout_checks_follow_the_iterations(small_data):
    run = start_run(small_config(), small_data, snapshot_every=2, target_epochs=100)
    assert [s.iteration for s in run.snapshots] == [0]
    for _ in range(3):
        run.tick(0.0, max_iterations=2)
    assert [s.iteration for s in run.snapshots] == [0, 2, 4, 6]
    assert run.snapshots[-1].images.shape == (64, 28, 28) and run.snapshots[-1].images.dtype == np.uint8
    assert run.holdout["iteration"] == [0.0, 2.0, 4.0, 6.0]
    assert run.snapshot_at(5).iteration == 4
    assert run.seconds_per_epoch() > 0 and run.eta_seconds() > 0


def test_snapshots_stay_bounded(small_data, monkeypatch):
    monkeypatch.setattr(live, "MAX_SNAPSHOTS", 4)
    run = start_run(small_config(), small_data, snapshot_every=1, target_epochs=100)
    for _ in range(8):
        run.tick(0.0, max_iterations=1)
    iterations = [s.iteration for s in run.snapshots]
    assert len(iterations) <= 5 and iterations[0] == 0 and iterations[-1] == 8


def test_run_stops_at_the_target_epochs(small_data):
    config = small_config()
    run: LiveRun = start_run(config, small_data, target_epochs=0.05)
    while run.tick(0.0, max_iterations=1):
        pass
    assert run.done and run.snapshots[-1].iteration == run.iteration
    assert run.epoch >= 0.05


def test_missing_mnist_falls_back_to_the_offline_digits(tmp_path, monkeypatch):
    calls = []

    def fake_load(dataset, root="data", split="train", download=True):
        calls.append(dataset)
        if dataset != "digits-offline":
            raise DataUnavailableError("mnist is not here")
        return load_images(dataset)

    monkeypatch.setattr(live, "load_images", fake_load)
    data, used, note = live.load_training_data("mnist", str(tmp_path))
    assert used == "digits-offline" and len(data) == 5000
    assert "offline" in note and "mnist is not here" in note
    assert calls == ["mnist", "digits-offline"]


def test_median_smooth_and_thin():
    values = [0.0, 0.0, 10.0, 0.0, 0.0, 5.0, 5.0]
    smoothed = centred_median(values, 3)
    assert smoothed.shape == (7,) and smoothed[2] == 0.0  # the spike is gone
    assert centred_median(values, 101).shape == (7,)  # the window shrinks to fit
    assert centred_median([], 101).size == 0
    assert len(range(10_000)[thin(10_000, 2000)]) <= 2000
    assert thin(10, 2000) == slice(None, None, 1)
