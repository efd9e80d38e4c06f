"""Recorded runs: frames from the fixed noise, curves, a file that round-trips, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wgan.cli import main
from wgan.config import preset
from wgan.data import load_images
from wgan.modes import eval_mode
from wgan.recording import Recording, RecordingError, load_recording, save_recording
from wgan.sampling import to_uint8
from wgan.train import init_state, train_chunk

SMALL = {"batch_size": 8, "holdout_size": 32}


@pytest.fixture(scope="module")
def recorded(mnist_root):
    state = init_state(preset("quick", **SMALL), load_images("mnist", mnist_root, "train", download=False))
    recording = Recording(state.config, card={"device": "CPU (test)"})
    for _ in range(4):
        if recording.due(state, every=2):
            recording.add_frame(state)
        train_chunk(state, 1)
    recording.add_frame(state)
    recording.finish(state)
    return state, recording


def test_frames_are_the_fixed_noise_samples_at_their_iterations(recorded):
    state, recording = recorded
    assert recording.iterations == [0, 2, 4]
    assert recording.seconds == sorted(recording.seconds) and recording.seconds[0] == 0.0
    with eval_mode(state.sampler):  # batch norm on its running statistics, as the page's snapshots
        now = to_uint8(state.sampler(state.fixed_noise))
    assert np.array_equal(recording.frames[-1], now)  # the last frame is the run as it ended
    assert not np.array_equal(recording.frames[0], now)  # ... and the first is not
    assert recording.curves["iteration"] == [0.0, 1.0, 2.0, 3.0]
    assert len(recording.curves["w_estimate"]) == 4


def test_frame_at_picks_the_last_frame_taken_at_or_before_an_iteration(recorded):
    _, recording = recorded
    assert [recording.frame_at(i) for i in (-5, 0, 1, 2, 3, 4, 1000)] == [0, 0, 0, 1, 1, 2, 2]


def test_a_recording_round_trips_through_its_file(recorded, tmp_path):
    _, recording = recorded
    path = save_recording(recording, tmp_path / "rec" / "quick.pt")
    again = load_recording(path)
    assert again.config == recording.config and again.card == recording.card
    assert again.iterations == recording.iterations and again.seconds == recording.seconds
    assert all(np.array_equal(a, b) for a, b in zip(again.frames, recording.frames, strict=True))
    assert again.curves == recording.curves


def test_bad_files_are_one_line_errors(recorded, tmp_path):
    _, recording = recorded
    (tmp_path / "text.pt").write_text("not a torch file")
    with pytest.raises(RecordingError, match="not a readable recording"):
        load_recording(tmp_path / "text.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(RecordingError, match="not a wgan recording"):
        load_recording(tmp_path / "other.pt")
    payload = recording.to_payload()
    payload["iterations"] = payload["iterations"][:-1]  # one frame without its iteration
    torch.save(payload, tmp_path / "short.pt")
    with pytest.raises(RecordingError, match="do not match"):
        load_recording(tmp_path / "short.pt")


def test_the_train_command_records_a_run_and_carries_it_on_after_resume(mnist_root, tmp_path):
    out, record = tmp_path / "run.pt", tmp_path / "rec.pt"
    common = ["--data-root", str(mnist_root), "--device", "cpu", "--out", str(out), "--record", str(record)]
    small = ["--set", "batch_size=8", "--set", "holdout_size=32", "--record-every", "2"]
    assert main(["train", "--preset", "quick", "--steps", "5", *small, *common]) == 0
    first = load_recording(record)
    assert first.iterations == [0, 2, 4, 5]  # every 2, and the end of the run
    assert first.config.preset == "quick" and "train" in first.card["commands"][0]
    assert first.curves["iteration"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert main(["train", "--resume", "--steps", "3", "--record-every", "2", *common]) == 0
    again = load_recording(record)
    assert again.iterations == [0, 2, 4, 5, 7, 8] and again.frames[3].shape == (64, 28, 28)
    assert len(again.curves["w_estimate"]) == 8 and again.seconds == sorted(again.seconds)


def test_the_fid_against_seconds_chart_draws_each_run_that_kept_its_seconds():
    from ui.quality import fid_seconds_figure

    yours = {"wall_seconds": [10.0, 20.0], "fid_mnist": [300.0, 80.0]}
    older = {"iteration": [0.0], "fid_mnist": [900.0]}  # a checkpoint from before the clock was kept
    recorded = {**yours, "fid_mnist": [90.0, 40.0]}
    figure = fid_seconds_figure({"your run": yours, "old run": older, "recorded run": recorded})
    assert [trace.name for trace in figure.data] == ["your run", "recorded run"]
    assert list(figure.data[0].x) == [10.0, 20.0] and list(figure.data[1].y) == [90.0, 40.0]


def test_beside_a_live_run_the_recording_shows_its_frame_at_the_same_iteration(recorded):
    from ui.recording import frame_beside

    _, recording = recorded
    images, caption = frame_beside(recording, 3)  # frames at 0, 2, 4: iteration 3 shows the one at 2
    assert np.array_equal(images, recording.frames[1])
    assert caption.startswith("Recorded, not yours: iteration 2 after") and "quick" in caption
