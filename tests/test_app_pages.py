"""The home page and the Training page under Streamlit's AppTest (one at.run() = one tick of the fragment)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from wgan.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TRAIN_PAGE = "pages/1_Train.py"


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


def images_shown(at: AppTest) -> int:
    return len(at.get("image"))


def training_app(mnist_root: Path, tmp_path: Path) -> AppTest:
    """The whole app opened on the home page, its Training page pointed at test data and a temp runs folder."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.session_state["train.data_root"] = str(mnist_root)
    at.session_state["train.runs_dir"] = str(tmp_path / "runs")
    at.session_state["train.chunk_seconds"] = 0.1  # one or two tiny iterations per tick
    at.run()
    at.switch_page(TRAIN_PAGE).run()
    assert not messages(at)
    # A small batch keeps the test quick; the value is typed into the advanced field, as a user would.
    at.text_input(key="train.adv.seed.batch_size").set_value("32").run()
    return at


def test_home_page_renders():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not messages(at)
    text = " ".join(str(m.value) for m in at.markdown)
    assert "Wasserstein" in text and "RMSprop" in text and "PyTorch" in text
    # Two explanatory charts, plus the Figure 3 reproduction's two charts when its results file is shipped.
    figure3_shipped = (ROOT / "checkpoints" / "figure3.json").exists()
    assert len(at.get("plotly_chart")) == (4 if figure3_shipped else 2)
    if figure3_shipped:
        assert [m.label for m in at.metric if "Spearman" in m.label] and all(m.value != "n/a" for m in at.metric)
    links = [element.proto.page for element in at.get("page_link")]
    assert "Train" in links
    at.slider(key="home.theta").set_value(0.0).run()
    assert not messages(at)


def test_training_page_runs_pauses_survives_page_switch_and_saves(mnist_root, tmp_path):
    at = training_app(mnist_root, tmp_path)
    at.toggle(key="train.compare").set_value(True).run()
    at.button(key="train.start").click().run()
    assert not messages(at)
    run = at.session_state["train.run"]
    first = run.iteration
    for _ in range(3):
        at.run()
    assert not messages(at)
    assert run.iteration > first >= 1
    assert run.baseline is not None and run.baseline.iteration == run.iteration

    w_chart = chart(at, "W estimate")
    assert len(w_chart["data"][0]["x"]) == run.iteration  # raw curve: one point per generator iteration
    assert chart(at, "GAN baseline: JS estimate")["layout"]["shapes"]  # the log 2 reference line
    assert images_shown(at) >= 2  # WGAN and GAN sample grids
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Generator iteration"] == f"{run.iteration:,}"

    # The quality section (ui.quality) draws inside the same fragment without breaking the tick.
    at.toggle(key="train.quality_on").set_value(True).run()
    assert not at.exception
    assert any("quality" in str(h.value).lower() for h in at.subheader)

    at.button(key="train.pause").click().run()
    paused_at = run.iteration
    at.run()
    at.run()
    assert run.iteration == paused_at
    assert at.button(key="train.resume") is not None

    at.button(key="train.step").click().run()
    assert run.iteration == paused_at + 1

    at.switch_page("app.py").run()
    assert not messages(at)
    at.switch_page(TRAIN_PAGE).run()
    assert at.session_state["train.run"] is run and run.iteration == paused_at + 1
    assert {m.label: m.value for m in at.metric}["Generator iteration"] == f"{run.iteration:,}"

    at.text_input(key="train.save_name").set_value("my run").run()
    at.button(key="train.save").click().run()
    assert not messages(at)
    saved = tmp_path / "runs" / "my-run.pt"
    checkpoint = load_checkpoint(saved)
    assert checkpoint.full and checkpoint.iteration == run.iteration
    assert load_checkpoint(tmp_path / "runs" / "my-run-gan-baseline.pt").config.objective == "gan"
    assert at.get("download_button")


def test_training_page_loads_a_saved_run_and_rejects_a_bad_file(mnist_root, tmp_path):
    at = training_app(mnist_root, tmp_path)
    at.button(key="train.start").click().run()
    at.run()
    run = at.session_state["train.run"]
    at.button(key="train.pause").click().run()
    at.text_input(key="train.save_name").set_value("resume-me").run()
    at.button(key="train.save").click().run()
    saved_iteration = run.iteration

    bad = tmp_path / "runs" / "broken.pt"
    bad.write_bytes(b"not a checkpoint at all")
    at.run()
    at.selectbox(key="train.load_choice").set_value(bad).run()
    at.button(key="train.load").click().run()
    assert not at.exception
    assert any("broken.pt" in str(e.value) for e in at.error)
    assert at.session_state["train.run"] is run  # the current run is untouched

    at.selectbox(key="train.load_choice").set_value(tmp_path / "runs" / "resume-me.pt").run()
    at.button(key="train.load").click().run()
    assert not messages(at)
    loaded = at.session_state["train.run"]
    assert loaded is not run and loaded.iteration == saved_iteration
    at.button(key="train.resume").click().run()
    at.run()
    assert loaded.iteration > saved_iteration


@pytest.mark.parametrize("bad_value", ["abc", "-1"])
def test_bad_hyperparameter_shows_one_line_error(mnist_root, tmp_path, bad_value):
    at = training_app(mnist_root, tmp_path)
    at.text_input(key="train.adv.seed.n_critic").set_value(bad_value).run()
    assert not at.exception
    assert any("n_critic" in str(e.value) for e in at.error)
    assert at.button(key="train.start").disabled


def test_without_mnist_or_internet_the_page_falls_back_to_the_offline_digits(tmp_path, monkeypatch):
    def no_network(dataset, root, split):
        raise OSError("no network in tests")

    monkeypatch.setattr("wgan.data._download", no_network)
    at = AppTest.from_file(str(ROOT / TRAIN_PAGE), default_timeout=180)
    at.session_state["train.data_root"] = str(tmp_path / "empty")  # no MNIST files here
    at.session_state["train.chunk_seconds"] = 0.1
    at.run()
    at.text_input(key="train.adv.seed.batch_size").set_value("16").run()
    at.button(key="train.start").click().run()
    assert not messages(at)
    run = at.session_state["train.run"]
    assert run.state.config.dataset == "digits-offline" and len(run.state.data) == 4500
    assert any("offline MNIST digits" in str(info.value) and "no network" in str(info.value) for info in at.info)
