"""The Training page under Streamlit's AppTest (one at.run() = one tick of the training fragment)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from wgan.checkpoint import load_checkpoint, save_checkpoint
from wgan.config import PAGE_DEFAULT_PRESET, preset
from wgan.controller import RunStatus
from wgan.data import load_images
from wgan.paths import SHIPPED_RECORDING
from wgan.recording import load_recording
from wgan.train import init_state, train_chunk

ROOT = Path(__file__).resolve().parent.parent
TRAIN_PAGE = "pages/1_Train.py"
PRESET = PAGE_DEFAULT_PRESET


def messages(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


def chart(at: AppTest, title_start: str) -> dict:
    """The plotly spec (JSON) of the chart whose title starts with `title_start`."""
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = spec["layout"].get("title", {}).get("text", "")
        if title.startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


def page(mnist_root: Path, tmp_path: Path, *, home_first: bool = False, **env: str) -> AppTest:
    """The Training page pointed at the tests' MNIST files and a temporary runs folder, small batches."""
    at = AppTest.from_file(str(ROOT / ("app.py" if home_first else TRAIN_PAGE)), default_timeout=180)
    at.session_state["train.data_root"] = str(mnist_root)
    at.session_state["train.runs_dir"] = str(tmp_path / "runs")
    at.session_state["train.chunk_seconds"] = 0.05  # one or two tiny iterations per tick
    at.run()
    if home_first:
        at.switch_page(TRAIN_PAGE).run()
    assert not messages(at)
    at.text_input(key=f"train.adv.{PRESET}.batch_size").set_value("16").run()
    return at


def current_run(at: AppTest):
    return at.session_state["train.controller"].run


def test_train_pause_step_survive_a_page_switch_and_save(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path, home_first=True)
    at.toggle(key="train.compare").set_value(True).run()
    at.button(key="train.start").click().run()
    assert not messages(at)
    run = current_run(at)
    first = run.iteration
    for _ in range(3):
        at.run()
    assert not messages(at) and run.iteration > first >= 1
    assert run.baseline is not None and run.baseline.iteration == run.iteration
    # Each tick draws the run as it stands, then trains: the page shows the iteration before this tick's chunk.
    shown = {m.label: m.value for m in at.metric}
    drawn_at = int(shown["Generator iteration"].replace(",", ""))
    assert first <= drawn_at < run.iteration
    assert len(chart(at, "W estimate")["data"][0]["x"]) == drawn_at  # one point per iteration
    assert chart(at, "GAN baseline: JS estimate")["layout"]["shapes"]  # the log 2 line
    assert len(at.get("image")) >= 2  # WGAN and GAN sample grids
    assert float(shown["Images/s, whole run"].replace(",", "")) > 0  # the rate over the whole run, not a chunk

    for choice, title in (("held-out check", "W estimate on training"), ("generator loss", "Generator loss")):
        at.selectbox(key="train.more").set_value(choice).run()
        assert not at.exception and chart(at, title)
    at.selectbox(key="train.more").set_value("quality (FID-MNIST)").run()
    assert not at.exception and any("quality" in str(h.value).lower() for h in at.subheader)

    at.button(key="train.pause").click().run()
    paused_at = run.iteration
    at.run()
    assert run.iteration == paused_at and at.button(key="train.resume") is not None
    assert {m.label: m.value for m in at.metric}["Generator iteration"] == f"{paused_at:,}"  # drawn as it stands
    at.button(key="train.step").click().run()
    assert run.iteration == paused_at + 1

    at.switch_page("pages/0_Home.py").run()
    at.switch_page(TRAIN_PAGE).run()
    assert current_run(at) is run and not messages(at)

    at.text_input(key="train.save_name").set_value("my run").run()
    at.button(key="train.save").click().run()
    assert not messages(at)
    checkpoint = load_checkpoint(tmp_path / "runs" / "my-run.pt")
    assert checkpoint.full and checkpoint.iteration == run.iteration and checkpoint.config.arch == "repaired"
    assert load_checkpoint(tmp_path / "runs" / "my-run-gan-baseline.pt").config.objective == "gan"
    assert at.get("download_button")


def test_the_scrubber_shows_older_snapshots_while_paused(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path)
    at.number_input(key="train.snapshot_every").set_value(1).run()
    at.button(key="train.start").click().run()
    for _ in range(3):
        at.run()
    at.button(key="train.pause").click().run()
    run = current_run(at)
    scrubber = at.select_slider(key="train.scrub")
    assert scrubber.value == run.snapshots[-1].iteration > 0
    scrubber.set_value(0).run()
    assert any("at iteration 0" in str(c.value) for c in at.caption)


def status_widget_hidden(at: AppTest) -> bool:
    return any('[data-testid="stStatusWidget"]' in str(html.proto.body) for html in at.html)


def test_streamlits_running_indicator_is_hidden_only_while_training(mnist_root, tmp_path):
    # Every tick reruns the fragment, so Streamlit's cycling "Running..." icon would be on all the time.
    at = page(mnist_root, tmp_path)
    assert not status_widget_hidden(at)
    at.button(key="train.start").click().run()
    assert status_widget_hidden(at)
    at.button(key="train.pause").click().run()
    assert not status_widget_hidden(at) and at.button(key="train.resume") is not None
    at.button(key="train.resume").click().run()
    assert status_widget_hidden(at)


def test_reset_discards_the_run(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path)
    at.button(key="train.start").click().run()
    assert current_run(at) is not None
    at.button(key="train.reset").click().run()
    assert current_run(at) is None and at.button(key="train.start") is not None


def test_a_run_stops_by_itself_at_its_target(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path)
    at.number_input(key="train.epochs").set_value(0.1).run()
    at.button(key="train.start").click().run()
    for _ in range(40):
        if not at.session_state["train.controller"].training:
            break
        at.run()
    assert at.session_state["train.controller"].status is RunStatus.FINISHED and current_run(at).done
    assert any("target of 0.1 epochs" in str(i.value) for i in at.info)
    assert at.button(key="train.resume").disabled
    run = current_run(at)
    stopped_at = run.iteration
    at.button(key="train.extend").click().run()  # "Train 30 more epochs": the same run goes on
    assert at.session_state["train.controller"].training and run.iteration > stopped_at and not run.done
    assert run.target_epochs == math.ceil(0.1) + 30


def test_divergence_pauses_keeps_the_last_finite_state_and_resumes(mnist_root, tmp_path, monkeypatch):
    from wgan import objectives

    real_loss, poisoned = objectives.wgan_critic_loss, {"calls": 0}

    def nan_once(real_scores, fake_scores):  # the fourth critic step returns NaN, once
        poisoned["calls"] += 1
        loss = real_loss(real_scores, fake_scores)
        return loss * float("nan") if poisoned["calls"] == 4 else loss

    monkeypatch.setattr(objectives, "wgan_critic_loss", nan_once)
    at = page(mnist_root, tmp_path)
    at.session_state["train.chunk_seconds"] = 1e-9  # exactly one iteration per tick (n_critic is 1)
    at.button(key="train.start").click().run()
    for _ in range(5):
        at.run()
    run, controller = current_run(at), at.session_state["train.controller"]
    assert not at.exception and run.problem and "diverged" in run.problem
    assert controller.status is RunStatus.DIVERGED
    assert any("diverged" in str(e.value) and "lower the learning rates" in str(e.value) for e in at.error)
    assert run.iteration == 3  # iterations 0-2 were fine; the fourth was undone
    assert all(torch.isfinite(p).all() for p in run.state.generator.parameters())
    assert len(run.state.history) == 3 and all(v == v for v in run.state.history.columns["w_estimate"])
    lr = run.state.config.lr_critic
    at.button(key="train.retry_half").click().run()
    at.run()
    assert run.state.config.lr_critic == pytest.approx(lr / 2) and run.problem is None and controller.training
    assert run.iteration > 3  # trains on from the kept state


def test_history_stays_bounded_however_long_it_trains(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path)
    at.button(key="train.start").click().run()
    run = current_run(at)
    run.state.history.max_rows = 6
    for _ in range(12):
        at.run()
    iterations = run.state.history.columns["iteration"]
    assert run.iteration > 6 and len(iterations) <= 6
    assert iterations[0] == 0.0 and iterations[-1] == run.iteration - 1  # still spans the whole run
    assert not messages(at)


def test_a_busy_server_makes_the_run_wait_its_turn(mnist_root, tmp_path):
    from wgan.hosting import Hosting, trainer_slots

    at = page(mnist_root, tmp_path)
    at.button(key="train.start").click().run()
    run = current_run(at)
    slots = trainer_slots(Hosting.from_environment().max_trainers)
    held = 0
    while slots.acquire(blocking=False):  # every slot taken, as other visitors' runs would
        held += 1
    try:
        before = run.iteration
        at.run()
        assert run.iteration == before and any("waits its turn" in str(c.value) for c in at.caption)
    finally:
        for _ in range(held):
            slots.release()
    at.run()
    assert run.iteration > before


@pytest.fixture()
def saved_run(mnist_root, tmp_path) -> Path:
    data = load_images("mnist", mnist_root, "train", download=False)
    state = init_state(preset("gp", batch_size=8, holdout_size=32), data, "cpu")
    train_chunk(state, 2)
    return save_checkpoint(state, tmp_path / "runs" / "resume-me.pt")


def test_loading_saved_and_uploaded_runs_and_refusing_bad_files(mnist_root, tmp_path, saved_run):
    (tmp_path / "runs" / "broken.pt").write_bytes(b"not a checkpoint at all")
    at = page(mnist_root, tmp_path)
    at.selectbox(key="train.load_choice").set_value("broken").run()
    at.button(key="train.load").click().run()
    assert not at.exception and any("broken.pt" in str(e.value) for e in at.error)
    assert current_run(at) is None

    at.selectbox(key="train.load_choice").set_value("resume-me").run()
    at.button(key="train.load").click().run()
    assert not messages(at)
    run = current_run(at)
    assert run.iteration == 2 and run.state.config.arch == "repaired"
    at.button(key="train.resume").click().run()
    at.run()
    assert run.iteration > 2


def test_a_bad_device_setting_warns_and_trains_anyway(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("WGAN_DEVICE", "cuda:7")
    at = page(mnist_root, tmp_path)
    assert any("cuda" in str(w.value) for w in at.warning)
    at.button(key="train.start").click().run()
    assert not messages(at) and current_run(at).state.device.type == "cpu"


@pytest.mark.parametrize("bad_value", ["abc", "-1"])
def test_a_bad_hyperparameter_is_a_one_line_error(mnist_root, tmp_path, bad_value):
    at = page(mnist_root, tmp_path)
    at.text_input(key=f"train.adv.{PRESET}.n_critic").set_value(bad_value).run()
    assert not at.exception and any("n_critic" in str(e.value) for e in at.error)
    assert at.button(key="train.start").disabled


def test_every_architecture_is_one_choice_away(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path)
    at.selectbox(key=f"train.adv.{PRESET}.arch").set_value("seed").run()
    assert any("arch=seed" in str(c.value) for c in at.caption)  # named as a change from the preset
    at.button(key="train.start").click().run()
    config = current_run(at).state.config
    assert not messages(at) and config.arch == "seed" and config.critic_hidden == 0  # the seed's critic, as written


def test_the_lipschitz_control_is_one_choice_and_a_gan_with_one_is_refused(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path)
    at.selectbox(key=f"train.adv.{PRESET}.objective").set_value("gan").run()  # still clipping: said, not trained
    assert not at.exception and any("lipschitz='none', not 'clip'" in str(e.value) for e in at.error)
    assert at.button(key="train.start").disabled
    at.selectbox(key=f"train.adv.{PRESET}.objective").set_value("wgan").run()
    at.selectbox(key=f"train.adv.{PRESET}.lipschitz").set_value("gp").run()
    assert any("lipschitz=gp" in str(c.value) for c in at.caption)
    at.button(key="train.start").click().run()
    config = current_run(at).state.config
    assert not messages(at) and (config.lipschitz, config.gp_weight) == ("gp", 10.0)


def test_without_mnist_or_internet_the_page_falls_back_to_the_offline_digits(tmp_path, monkeypatch):
    def no_network(dataset, root, split):
        raise OSError("no network in tests")

    monkeypatch.setattr("wgan.data._download", no_network)
    at = page(tmp_path / "empty", tmp_path)  # no MNIST files there
    at.button(key="train.start").click().run()
    assert not messages(at)
    run = current_run(at)
    assert run.state.config.dataset == "digits-offline" and len(run.state.data) == 4500
    assert any("offline MNIST digits" in str(info.value) and "no network" in str(info.value) for info in at.info)


def test_the_shipped_recording_plays_before_start_and_stands_beside_the_live_run(mnist_root, tmp_path):
    at = page(mnist_root, tmp_path)
    recording = load_recording(SHIPPED_RECORDING)  # the shipped file itself: the page reads it as it is
    assert at.select_slider(key="train.recorded").value == recording.iterations[-1]
    shown = " ".join(str(element.proto) for element in at.get("image"))
    assert "Recorded, not yours" in shown and "iteration 0 (" in shown  # the filmstrip starts at noise
    at.select_slider(key="train.recorded").set_value(recording.iterations[3]).run()
    assert f"iteration {recording.iterations[3]:,} after" in " ".join(str(e.proto) for e in at.get("image"))
    at.button(key="train.start").click().run()
    assert not messages(at)
    live = current_run(at)
    beside = " ".join(str(element.proto) for element in at.get("image"))
    assert "Your run (WGAN)" in beside
    index = recording.frame_at(live.snapshots[-1].iteration)
    assert f"Recorded, not yours: iteration {recording.iterations[index]:,} after" in beside
