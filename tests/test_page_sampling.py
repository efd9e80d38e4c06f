"""AppTest of pages/3_Sampling.py: renders, explorer sliders, interpolation, shareable link, bad links."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from wgan.checkpoint import export_generator, load_checkpoint, save_checkpoint
from wgan.config import preset
from wgan.data import load_images
from wgan.share import PageState, encode
from wgan.train import init_state, train_chunk

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "3_Sampling.py")
SHIPPED = sorted((ROOT / "checkpoints").glob("*.pt"))


@pytest.fixture(scope="module")
def checkpoint_dir(mnist_root, tmp_path_factory) -> Path:
    """A folder like checkpoints/: one generator-only 'shipped' file and one full run in runs/."""
    folder = tmp_path_factory.mktemp("checkpoints")
    digits = load_images("mnist", mnist_root, "train", download=False)
    state = init_state(preset("gp", batch_size=8, holdout_size=32), digits, "cpu")
    train_chunk(state, 2)
    full = save_checkpoint(state, folder / "runs" / "mine.pt", card={"note": "test run"})
    export_generator(load_checkpoint(full), folder / "tiny.pt", card={"data": "fake bars"}, half=True)
    return folder


def page(monkeypatch, folder: Path | str, params: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("WGAN_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file(PAGE, default_timeout=120)
    if params:
        at.query_params.update(params)
    return at.run()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def images(at: AppTest) -> list[str]:
    """[grid, explored pair, interpolation strip], each named by its content.

    The grid is a plotly figure (clickable) carrying the picture as a PNG data URI; st.image pictures are
    named by Streamlit's media files, which are named by a hash of their bytes: equal names, equal pictures.
    """
    (grid,) = [spec for spec in charts(at) if spec["layout"].get("images")]
    uri = grid["layout"]["images"][0]["source"]
    assert uri.startswith("data:image/png;base64,")
    return [hashlib.sha1(uri.encode()).hexdigest()] + [url for element in at.image for url in element.value]


def norms_chart(at: AppTest) -> dict:
    (chart,) = [spec for spec in charts(at) if any(trace.get("name") == "lerp" for trace in spec["data"])]
    return chart


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_without_checkpoints_says_how_to_get_one(monkeypatch, tmp_path):
    at = page(monkeypatch, tmp_path)
    assert_clean(at)
    assert "python -m wgan train" in at.info[0].value


def test_renders_explores_and_interpolates(monkeypatch, checkpoint_dir):
    at = page(monkeypatch, checkpoint_dir)
    assert_clean(at)
    assert not at.warning
    labels = at.selectbox(key="sample.checkpoint").options  # as shown: "tiny.pt  (shipped)"
    assert any("shipped" in text for text in labels) and any("your run" in text for text in labels)
    grid_url, explored_url, strip_url = images(at)
    assert at.session_state["sample.state"].checkpoint == "tiny.pt"

    # |z| along the path: lerp sags to about sqrt(1/2) of the endpoints' norm midway, slerp does not.
    traces = {trace["name"]: trace["y"] for trace in norms_chart(at)["data"]}
    lerp, slerp = traces["lerp"], traces["slerp"]
    assert min(lerp) < 0.8 * min(lerp[0], lerp[-1])
    assert min(slerp) >= 0.99 * min(slerp[0], slerp[-1])

    at.slider(key="sample.dir0").set_value(2.0).run()
    assert_clean(at)
    grid_after, explored_after, strip_after = images(at)
    assert (grid_after, strip_after) == (grid_url, strip_url) and explored_after != explored_url
    assert at.session_state["sample.state"].amounts[0] == 2.0

    at.slider(key="sample.raw_value").set_value(3.5).run()
    assert_clean(at)
    assert dict(at.session_state["sample.state"].overrides) == {0: 3.5}

    at.selectbox(key="sample.raw_dim").set_value(7).run()
    at.button(key="sample.randomise").click().run()
    assert_clean(at)
    assert set(dict(at.session_state["sample.state"].overrides)) == {0, 7}

    at.slider(key="sample.frames").set_value(5).run()
    at.radio(key="sample.method").set_value("lerp").run()
    at.number_input(key="sample.end_seed").set_value(42).run()
    assert_clean(at)
    state = at.session_state["sample.state"]
    assert (state.frames, state.method, state.end) == (5, "lerp", (42, 0))
    assert images(at)[2] != strip_url
    assert at.image[1].captions[0].startswith("lerp")

    at.button(key="sample.reset").click().run()
    assert_clean(at)
    state = at.session_state["sample.state"]
    assert state.overrides == () and not any(state.amounts)
    assert images(at)[1] == explored_url


def test_link_reproduces_the_same_images(monkeypatch, checkpoint_dir):
    wanted = PageState(
        checkpoint="runs/mine.pt",
        seed=123,
        index=9,
        amounts=(1.5, 0.0, -0.7, 0.0, 0.2),
        overrides=((3, 1.25), (50, -2.0)),
        start=(5, 1),
        end=(123, 9),
        frames=7,
        method="lerp",
    )
    first = page(monkeypatch, checkpoint_dir, encode(wanted))
    assert_clean(first)
    assert not first.warning
    assert first.session_state["sample.state"] == wanted
    assert first.query_params == encode(wanted) or dict(first.session_state["sample.state"].__dict__) == wanted.__dict__
    second = page(monkeypatch, checkpoint_dir, encode(first.session_state["sample.state"]))
    assert_clean(second)
    assert images(second) == images(first)
    # A different seed gives different pictures (the comparison above is not vacuous).
    third = page(monkeypatch, checkpoint_dir, {**encode(wanted), "seed": "124"})
    assert images(third)[0] != images(first)[0]


@pytest.mark.parametrize(
    "params",
    [
        {"ckpt": "gone.pt", "seed": "-1", "sample": "64", "frames": "1000", "interp": "cubic"},
        {"dirs": "1,2,nan", "z": "999:1", "from": "x", "to": "1:2:3", "bogus": "1"},
        {"seed": "9" * 500, "z": "1:1,1:2", "dirs": ",,,,,,"},
    ],
)
def test_malformed_link_warns_and_falls_back(monkeypatch, checkpoint_dir, params):
    at = page(monkeypatch, checkpoint_dir, params)
    assert_clean(at)
    assert len(at.warning) >= 2
    state = at.session_state["sample.state"]
    assert state.checkpoint == "tiny.pt" and state.seed == 0 and state.overrides == ()
    assert len(images(at)) == 3


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints in checkpoints/ yet")
def test_renders_with_the_shipped_checkpoints(monkeypatch):
    at = page(monkeypatch, ROOT / "checkpoints")
    assert_clean(at)
    labels = at.selectbox(key="sample.checkpoint").options
    assert {f"{path.name}  (shipped)" for path in SHIPPED} <= set(labels)
    for name in [path.name for path in SHIPPED]:
        at.selectbox(key="sample.checkpoint").set_value(name).run()
        assert_clean(at)
        at.slider(key="sample.dir1").set_value(-1.0).run()
        at.slider(key="sample.frames").set_value(8).run()
        assert_clean(at)
        assert len(images(at)) == 3


def test_files_that_are_not_generators_are_listed_aside(monkeypatch, checkpoint_dir, tmp_path):
    (tmp_path / "tiny.pt").write_bytes((checkpoint_dir / "tiny.pt").read_bytes())
    (tmp_path / "a-classifier.pt").write_bytes(b"\x80\x04not torch")
    at = page(monkeypatch, tmp_path)
    assert_clean(at)
    assert at.session_state["sample.state"].checkpoint == "tiny.pt"
    assert at.selectbox(key="sample.checkpoint").options == ["tiny.pt  (shipped)"]
    assert any("not generator checkpoints" in expander.label for expander in at.expander)


@pytest.mark.browser
def test_click_a_digit_and_reopen_the_link_in_chromium(chromium, streamlit_server, checkpoint_dir):
    served_page = streamlit_server(WGAN_CHECKPOINT_DIR=str(checkpoint_dir))

    def settle(page) -> None:
        page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=90_000)
        time.sleep(1.0)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
        time.sleep(0.5)

    def pictures(page) -> list[str]:
        return [image.get_attribute("src") for image in page.query_selector_all('[data-testid="stImage"] img')]

    page = chromium.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{served_page}/Sampling?seed=7&dirs=1.5&z=3:-2.0&interp=lerp&frames=6", timeout=90_000)
    settle(page)
    assert not page.query_selector_all('[data-testid="stException"]')
    # Click the digit in row 2, column 5 of the 8x8 grid (242 px picture: 2 px border, 30 px per tile).
    box = page.query_selector('[data-testid="stPlotlyChart"] .nsewdrag').bounding_box()
    page.mouse.click(box["x"] + box["width"] * 166 / 242, box["y"] + box["height"] * 76 / 242)
    time.sleep(1.0)
    settle(page)
    assert "sample=21" in page.url and "dirs=1.5" in page.url
    assert "Explore sample 21" in [heading.inner_text() for heading in page.query_selector_all("h3")]
    link, seen = page.url, pictures(page)
    assert len(seen) == 2

    fresh = chromium.new_context().new_page()  # another visitor opening the shared link
    fresh.goto(link, timeout=90_000)
    settle(fresh)
    assert pictures(fresh) == seen  # media names are hashes of the PNG bytes: same pixels
