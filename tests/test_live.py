"""wgan.live and wgan.controller: the Training page's run driver and its status, tested without Streamlit
on tiny test-written MNIST files."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from wgan import live
from wgan.config import PRESETS, preset, preset_label
from wgan.controller import IllegalTransition, RunController, RunRegistry, RunStatus, changed_fields, settings
from wgan.data import DataUnavailableError, load_images
from wgan.hosting import Hosting, trainer_slots
from wgan.live import LiveRun, baseline_config, start_run
from wgan.smoothing import centred_median
from wgan.storage import FolderRuns


@pytest.fixture(scope="module")
def small_data(mnist_root: Path):
    """The tests' MNIST files, loaded once; `start_run` receives them through its `images` hook."""
    data = load_images("mnist", root=mnist_root, split="train", download=False)
    return lambda dataset, root, split: (data, dataset, None)


def small_config(**changes):
    return preset("seed", batch_size=16, holdout_size=100, **changes)


def begin(config, images, **options) -> LiveRun:
    return start_run(config, "unused", "cpu", images=images, **options)


def test_baseline_undoes_the_four_changes_and_keeps_the_rest():
    config = preset("paper")
    baseline = baseline_config(config)
    assert (baseline.objective, baseline.lipschitz, baseline.optimizer) == ("gan", "none", "adam")
    for name in ("seed", "batch_size", "n_critic", "critic_warmup", "z_dim", "dataset", "critic_batch_norm"):
        assert getattr(baseline, name) == getattr(config, name)


def test_lockstep_baseline_sees_the_same_batches_and_noise(small_data):
    run = begin(small_config(), small_data, compare=True, snapshot_every=2)
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
    run = begin(small_config(), small_data, snapshot_every=2, target_epochs=100)
    assert [s.iteration for s in run.snapshots] == [0]
    for _ in range(3):
        run.tick(0.0, max_iterations=2)
    assert [s.iteration for s in run.snapshots] == [0, 2, 4, 6]
    assert run.snapshots[-1].images.shape == (64, 28, 28) and run.snapshots[-1].images.dtype == np.uint8
    assert run.holdout["iteration"] == [0.0]  # the held-out check comes with every 4th snapshot
    for _ in range(3):
        run.tick(0.0, max_iterations=2)
    assert [s.iteration for s in run.snapshots] == [0, 2, 4, 6, 8, 10, 12]
    assert run.holdout["iteration"] == [0.0, 8.0]
    assert run.snapshot_at(5).iteration == 4
    assert run.seconds_per_epoch() > 0 and run.eta_seconds() > 0


def test_snapshots_stay_bounded(small_data, monkeypatch):
    monkeypatch.setattr(live, "MAX_SNAPSHOTS", 4)
    run = begin(small_config(), small_data, snapshot_every=1, target_epochs=100)
    for _ in range(8):
        run.tick(0.0, max_iterations=1)
    iterations = [s.iteration for s in run.snapshots]
    assert iterations == [0, 6, 7, 8]  # the history's rule (kept_rows): the first, the newest, older ones thinned


def test_run_stops_at_the_target_epochs(small_data):
    config = small_config()
    run: LiveRun = begin(config, small_data, target_epochs=0.05)
    while run.tick(0.0, max_iterations=1):
        pass
    assert run.done and run.snapshots[-1].iteration == run.iteration
    assert run.holdout["iteration"][-1] == run.iteration  # the held-out check comes with the last snapshot
    assert run.epoch >= 0.05 and "target of 0.05 epochs" in run.stop_reason
    # A finished run can train on: extending moves the target past where it stands.
    assert run.can_extend
    stopped_at = run.iteration
    run.extend(1.0)
    assert run.target_epochs == math.ceil(run.epoch) + 1.0 and not run.done and not run.can_extend
    assert run.tick(0.0, max_iterations=2) == 2 and run.iteration == stopped_at + 2


def test_train_for_trains_in_chunks_and_stops_where_the_callback_raises(small_data):
    run = begin(small_config(), small_data, target_epochs=1000)
    between = []
    iterations = run.train_for(0.6, 0.1, lambda: between.append(run.iteration))
    assert len(between) >= 2 and between == sorted(between) and between[0] > 0  # several chunks, each training
    assert iterations == run.iteration > between[-1]  # the last chunk is not followed by a call

    class PausePressed(Exception):  # as Streamlit raises at its next call when a button was pressed
        pass

    def pause_pressed() -> None:
        raise PausePressed

    before = run.iteration
    with pytest.raises(PausePressed):
        run.train_for(60.0, 0.05, pause_pressed)
    assert run.iteration > before  # one chunk trained, and its metrics were recorded before the call
    assert run.state.history.columns["iteration"][-1] == run.iteration - 1  # 0-based: the last step taken
    assert run.train_for(0.0, 1.0, pause_pressed) >= 1  # at least one tick even with no time left; no call


def test_a_tick_waits_for_one_still_training_in_another_thread(small_data, monkeypatch):
    """After a press of Pause, Streamlit runs the page anew while the old run finishes its chunk: a Step
    in the new run must not train the same models at the same time."""
    run = begin(small_config(), small_data, target_epochs=1000)
    inside, most = [0], [0]
    real_train_chunk = live.train_chunk

    def counting_train_chunk(*args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        try:
            return real_train_chunk(*args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(live, "train_chunk", counting_train_chunk)
    old_run = threading.Thread(target=run.tick, args=(0.5,))
    old_run.start()
    while inside[0] == 0:  # the old run is inside its chunk
        time.sleep(0.001)
    assert run.tick(0.0, max_iterations=1) == 1  # the Step: waits for the chunk, then trains one iteration
    old_run.join()
    assert most[0] == 1


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


def test_median_smooth():
    values = [0.0, 0.0, 10.0, 0.0, 0.0, 5.0, 5.0]
    smoothed = centred_median(values, 3)
    assert smoothed.shape == (7,) and smoothed[2] == 0.0  # the spike is gone
    assert centred_median(values, 101).shape == (7,)  # the window shrinks to fit
    assert centred_median([], 101).size == 0


def test_caps_of_a_host_stop_a_run(small_data):
    run = begin(small_config(), small_data, limits=live.RunLimits(max_iterations=3))
    assert run.tick(0.0, max_iterations=10) == 3  # never past the cap
    assert run.done and "3 generator iterations" in run.stop_reason and run.tick(0.0) == 0
    run.target_epochs = run.epoch  # the target reached too: more epochs would still meet the cap
    assert not run.can_extend
    timed = begin(small_config(), small_data, limits=live.RunLimits(max_seconds=1e-9))
    timed.tick(0.0, max_iterations=1)
    assert timed.done and "training minutes" in timed.stop_reason


def test_a_diverging_run_stops_keeps_its_last_finite_state_and_resumes(small_data):
    run = begin(small_config(), small_data, compare=True)
    run.tick(0.0, max_iterations=2)
    good = {k: v.clone() for k, v in run.state.generator.state_dict().items()}
    rows, iteration = len(run.state.history), run.iteration
    # An absurd learning rate and no clipping (a penalty cannot hold it): the next chunk produces NaN or inf.
    live.scale_learning_rates(run.state, 1e30)
    run.state.config = replace(run.state.config, lipschitz="gp")
    assert run.tick(0.0, max_iterations=3) == 0
    assert run.done and "diverged" in run.problem and "lower the learning rates" in run.problem
    assert run.iteration == iteration and len(run.state.history) == rows  # rolled back, history included
    assert run.baseline.iteration == iteration  # still in lockstep
    for key, value in run.state.generator.state_dict().items():
        assert torch.equal(value, good[key]), key
    run.clear_problem(lr_scale=1e-30)  # "resume with lower learning rates": on from the kept state
    assert run.state.config.lr_critic == pytest.approx(2e-4)
    run.state.config = replace(run.state.config, lipschitz="clip")
    assert not run.done and run.tick(0.0, max_iterations=2) == 2 and run.problem is None


def test_the_baseline_diverging_rolls_back_the_wgan_too(small_data):
    run = begin(small_config(), small_data, compare=True)
    run.tick(0.0, max_iterations=1)
    for group in run.baseline.critic_optimizer.param_groups + run.baseline.generator_optimizer.param_groups:
        group["lr"] = 1e30
    assert run.tick(0.0, max_iterations=3) == 0
    assert run.problem.startswith("The GAN baseline: training diverged")
    assert run.iteration == run.baseline.iteration == 1


def test_scaling_learning_rates_reaches_the_optimisers_and_the_config(small_data):
    run = begin(small_config(), small_data)
    live.scale_learning_rates(run.state, 0.5)
    assert run.state.config.lr_critic == pytest.approx(1e-4) and run.state.config.lr_generator == pytest.approx(1e-4)
    assert all(g["lr"] == pytest.approx(1e-4) for g in run.state.critic_optimizer.param_groups)


def test_whole_run_rate_counts_wall_time_between_ticks(small_data, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    run = begin(small_config(), small_data)
    run.start_clock()
    run.tick(0.0, max_iterations=2)
    clock[0] += 10.0  # ten seconds of ticks, drawing and waiting
    assert run.overall_rate() == pytest.approx(2 * 16 / 10.0)
    run.stop_clock()
    clock[0] += 1000.0  # paused time does not count
    assert run.overall_rate() == pytest.approx(2 * 16 / 10.0)


def test_the_registry_releases_only_runs_paused_for_too_long(small_data, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    registry = RunRegistry()
    idle, busy, kept = RunController(), RunController(), RunController()
    for controller in (idle, busy, kept):
        controller.start(begin(small_config(), small_data))
        registry.register(controller)
    idle.pause()
    kept.pause()
    clock[0] = 100.0
    kept.run.touch()  # used a moment ago
    clock[0] = 130.0
    assert registry.sweep(idle_seconds=60.0) == 1
    assert idle.run is None and "released after 1 minutes paused" in idle.released_note
    assert idle.status is RunStatus.RELEASED and busy.training and kept.status is RunStatus.PAUSED
    assert busy.run is not None and kept.run is not None and len(registry) == 2
    assert registry.sweep(idle_seconds=0.0) == 0  # 0 = never
    idle.start(begin(small_config(), small_data))  # a released visitor starts afresh
    assert idle.training and idle.released_note is None


def test_the_controller_moves_only_along_legal_transitions(small_data):
    controller = RunController()
    assert controller.status is RunStatus.IDLE and not controller.can("pause") and controller.can("start")
    arguments = {"train": (0.0, lambda: None), "release": ("note",)}
    for action in ("pause", "resume", "retry", "extend", "step", "train", "release"):
        with pytest.raises(IllegalTransition, match=f"cannot {action} a run that is idle"):
            getattr(controller, action)(*arguments.get(action, ()))
    run = begin(small_config(), small_data, target_epochs=1000)
    controller.start(run)
    assert controller.training and run.running_since is not None
    with pytest.raises(IllegalTransition):
        controller.start(run)  # one run at a time: Reset or Load replaces it
    with pytest.raises(IllegalTransition):
        controller.resume()
    controller.pause()
    assert controller.status is RunStatus.PAUSED and run.running_since is None and not controller.can("extend")
    controller.step()
    assert controller.status is RunStatus.PAUSED and run.iteration == 1
    controller.resume()
    assert controller.train(0.05, lambda: None) and controller.training and run.iteration > 1
    controller.reset()
    assert controller.status is RunStatus.IDLE and controller.run is None


def test_a_run_that_stops_by_itself_names_why(small_data):
    finished = RunController()
    finished.start(begin(small_config(), small_data, target_epochs=0.05))
    while finished.training:
        finished.train(0.0, lambda: None)
    assert finished.status is RunStatus.FINISHED and finished.can("extend") and not finished.can("resume")
    assert finished.stopped and not RunController().stopped
    assert finished.run.running_since is None  # the whole-run clock stopped with it
    finished.extend()
    assert finished.training and not finished.run.done

    capped = RunController(Hosting(max_run_iterations=2))
    capped.start(begin(small_config(), small_data, limits=capped.limits))
    capped.pause()
    capped.step()
    assert capped.status is RunStatus.PAUSED
    capped.step()  # the cap reached by a Step
    assert capped.status is RunStatus.CAPPED and not capped.can("extend") and not capped.can("step")

    diverged = RunController()
    diverged.start(begin(small_config(), small_data))
    live.scale_learning_rates(diverged.run.state, 1e30)
    diverged.run.state.config = replace(diverged.run.state.config, lipschitz="gp")  # unclipped, so it blows up
    diverged.train(1.0, lambda: None)
    assert diverged.status is RunStatus.DIVERGED and not diverged.can("resume") and diverged.can("retry")
    diverged.retry(lr_scale=1e-30)
    assert diverged.training and diverged.run.problem is None


def test_a_loaded_run_replaces_the_current_one_paused(small_data):
    controller = RunController()
    controller.start(begin(small_config(), small_data))
    loaded = begin(small_config(), small_data)
    controller.load(loaded)
    assert controller.run is loaded and controller.status is RunStatus.PAUSED
    done = begin(small_config(), small_data, target_epochs=0.0)
    controller.load(done)  # already at its target: loaded as stopped, so Resume stays off
    assert controller.status is RunStatus.FINISHED


def test_a_run_waits_while_every_trainer_slot_is_taken(small_data):
    controller = RunController(Hosting(max_trainers=1))
    controller.start(begin(small_config(), small_data, target_epochs=1000))
    slots = trainer_slots(1)
    assert slots.acquire(blocking=False)  # another visitor's run trains
    try:
        assert not controller.train(0.01, lambda: None) and controller.run.iteration == 0
    finally:
        slots.release()
    assert controller.train(0.01, lambda: None) and controller.run.iteration > 0


def test_saving_writes_the_run_and_its_baseline(small_data, tmp_path):
    controller = RunController()
    controller.start(begin(small_config(), small_data, compare=True))
    runs = FolderRuns(tmp_path)
    assert controller.save(runs, "my run", "tests") == "my-run"
    assert runs.names() == ["my-run", "my-run-gan-baseline"]
    assert runs.load("my-run").card["made_by"] == "tests"


def test_the_settings_form_model():
    base = preset("gp")
    fields = {setting.name: setting for setting in settings(base, {"batch_size": 32})}
    assert "preset" not in fields and "dataset" not in fields
    assert fields["batch_size"].start == 32 and fields["batch_size"].default == base.batch_size
    assert fields["optimizer"].choices and fields["gp_weight"].choices is None
    assert fields["lr_critic"].text == "0.0001"
    # Text that reads as the preset's number is no change; other values are, as key=value strings.
    assert changed_fields(base, {"lr_critic": "1e-4", "n_critic": "5", "batch_size": "32"}) == ["batch_size=32"]
    assert changed_fields(base, {"optimizer": "rmsprop", "critic_batch_norm": False}) == ["optimizer=rmsprop"]


def test_every_preset_has_a_label_of_its_own():
    labels = [preset_label(name) for name in PRESETS]
    assert all(label.startswith(f"{name}: ") for name, label in zip(PRESETS, labels, strict=True))
    assert len(set(labels)) == len(labels) and preset_label("nonexistent") == "nonexistent"


def test_a_resumed_run_that_falls_back_to_the_offline_digits_says_so_in_its_config(small_data, tmp_path):
    from wgan.checkpoint import load_checkpoint, save_checkpoint

    run = begin(small_config(dataset="mnist"), small_data)
    path = save_checkpoint(run.state, tmp_path / "run.pt")
    data = small_data("x", "y", "z")[0]
    resumed = live.resume_run(load_checkpoint(path), "nowhere", images=lambda d, r, s: (data, "digits-offline", "note"))
    assert resumed.state.config.dataset == "digits-offline" and resumed.data_note == "note"


def test_page_defaults_on_a_cpu(monkeypatch):
    monkeypatch.setattr(live, "cpu_has_fast_bf16", lambda: True)
    assert live.page_defaults(preset("seed"), torch.device("cpu")) == {"precision": "bf16", "batch_size": 64}
    monkeypatch.setattr(live, "cpu_has_fast_bf16", lambda: False)
    assert live.page_defaults(preset("gp"), torch.device("cpu")) == {}


def test_quality_points_of_a_live_run_are_saved_and_come_back_with_the_loaded_run(small_data, tmp_path):
    from ui.quality import latest_point, quality_figure
    from wgan.classifier import MnistClassifier
    from wgan.metrics import QualityTracker
    from wgan.storage import FolderRuns

    run = begin(small_config(), small_data, compare=True, target_epochs=100)
    torch.manual_seed(0)
    classifier = MnistClassifier().eval()
    tracker = QualityTracker.for_run(run.state, classifier, n_samples=20, every=2)
    baseline_tracker = QualityTracker(classifier, tracker.reference, n_samples=20, every=2)
    wall = []
    for _ in range(3):  # as the Training page does: evaluate when due, between ticks
        wall.append(run.state.wall_seconds)
        assert tracker.maybe_update(run.state) is not None and baseline_tracker.maybe_update(run.baseline)
        assert tracker.maybe_update(run.state) is None  # not due again before training on
        run.tick(0.0, max_iterations=2)
    points = {name: list(values) for name, values in run.state.quality.items()}
    assert points["iteration"] == [0.0, 2.0, 4.0] and points["wall_seconds"] == wall and wall[0] == 0 < wall[1]
    assert all(len(values) == 3 for values in points.values()) and len(points["histogram"][-1]) == 10
    assert run.baseline.quality["iteration"] == [0.0, 2.0, 4.0]

    runs = FolderRuns(tmp_path)
    runs.save("run", run.state, live.run_card(run, "test"))
    loaded = live.resume_run(runs.load("run"), "unused", images=small_data)
    np.testing.assert_equal(loaded.state.quality, points)  # nan (no W estimate before training) included
    # What the Training page draws from a loaded run: the same FID-MNIST curve and latest histogram.
    figure = quality_figure(loaded.state.quality)
    fid = next(trace for trace in figure.data if trace.name == "FID-MNIST (WGAN)")
    assert list(fid.x) == points["iteration"] and list(fid.y) == points["fid_mnist"]
    assert latest_point(loaded.state.quality)["histogram"] == points["histogram"][-1]
    # A tracker for the loaded run carries on from its last point.
    again = QualityTracker.for_run(loaded.state, classifier, n_samples=20, every=2)
    assert again.maybe_update(loaded.state).iteration == 6 and loaded.state.quality["iteration"][-1] == 6.0
