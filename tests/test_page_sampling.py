"""AppTest of pages/3_Sampling.py: renders, explorer sliders, interpolation, shareable link, bad links, the
lesson on the seed's blind border, both architectures, and a working folder other than the project's."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from wgan.checkpoint import export_generator, find_checkpoints, load_checkpoint, load_generator, save_checkpoint
from wgan.config import preset
from wgan.data import load_images, load_offline_digits
from wgan.paths import SHIPPED_DIR
from wgan.sampling import generate, noise_from_seed
from wgan.share import PageState, encode
from wgan.train import init_state, train_chunk, train_step

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


def tiny_generator(data_root: Path, arch: str, path: Path, card: dict | None = None) -> Path:
    """A generator-only checkpoint of the `arch` models after one training step (the "gan" preset)."""
    digits = load_images("mnist", data_root, "train", download=False)
    state = init_state(preset("gan", arch=arch, batch_size=8, holdout_size=32), digits, "cpu")
    train_step(state)
    full = save_checkpoint(state, path.with_name(f".{path.stem}-full.pt"))
    exported = export_generator(load_checkpoint(full), path, card=card)
    full.unlink()
    return exported


@pytest.fixture(scope="module")
def both_archs(mnist_root, tmp_path_factory) -> Path:
    """A folder with the lesson's two files: the seed's models (FID on its card) and the repaired ones (none)."""
    folder = tmp_path_factory.mktemp("lesson")
    tiny_generator(mnist_root, "seed", folder / "wgan-clip-seed-arch.pt", card={"fid_mnist": 87.64})
    tiny_generator(mnist_root, "repaired", folder / "wgan-clip.pt", card={"data": "fake bars"})
    return folder


def page(monkeypatch, folder: Path | str | None, params: dict[str, str] | None = None) -> AppTest:
    """The page on `folder` (None: the default folder, WGAN_CHECKPOINT_DIR unset)."""
    if folder is None:
        monkeypatch.delenv("WGAN_CHECKPOINT_DIR", raising=False)
    else:
        monkeypatch.setenv("WGAN_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file(PAGE, default_timeout=120)
    if params:
        at.query_params.update(params)
    return at.run()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def is_lesson(element) -> bool:
    return "critic never sees" in (list(element.captions) or [""])[-1]


def lesson(at: AppTest):
    """The lesson's row of pictures (the one st.image whose last caption names the seed critic's blind pixels)."""
    (element,) = [element for element in at.image if is_lesson(element)]
    return element


def tool_images(at: AppTest) -> list:
    """The st.image elements below the lesson: [explored pair, interpolation strip]."""
    return [element for element in at.image if not is_lesson(element)]


def images(at: AppTest) -> list[str]:
    """[grid, explored pair, interpolation strip], each named by its content.

    The grid is a plotly figure (clickable) carrying the picture as a PNG data URI; st.image pictures are
    named by Streamlit's media files, which are named by a hash of their bytes: equal names, equal pictures.
    """
    (grid,) = [spec for spec in charts(at) if spec["layout"].get("images")]
    uri = grid["layout"]["images"][0]["source"]
    assert uri.startswith("data:image/png;base64,")
    return [hashlib.sha1(uri.encode()).hexdigest()] + [url for element in tool_images(at) for url in element.value]


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
    assert tool_images(at)[1].captions[0].startswith("lerp")

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
    assert dict(first.query_params.items()) == encode(wanted)  # the link the page shows is the one it opened
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


def test_lesson_compares_the_two_architectures_with_their_fid(monkeypatch, both_archs):
    at = page(monkeypatch, both_archs)
    assert_clean(at)
    assert "Why the seed's generator draws along the bottom and right edges" in [h.value for h in at.subheader]
    pictures = lesson(at)
    assert len(pictures.value) == 3  # seed grid, repaired grid, blind pixels
    seed_caption, repaired_caption, mask_caption = pictures.captions
    assert "wgan-clip-seed-arch.pt" in seed_caption and "FID-MNIST 87.6" in seed_caption
    assert f"lights {edge_ink(both_archs / 'wgan-clip-seed-arch.pt'):.2%} of the red pixels" in seed_caption
    assert "wgan-clip.pt" in repaired_caption and "FID-MNIST not measured" in repaired_caption
    assert f"lights {edge_ink(both_archs / 'wgan-clip.pt'):.2%} of the red pixels" in repaired_caption
    assert "the 55 pixels" in mask_caption  # row 27 and column 27 of visible_pixels(SeedCritic()): 28 + 28 - 1
    text = " ".join(str(m.value) for m in at.markdown)
    assert "never reads the last row and column" in text and "784 of 784" in text
    assert not [c for c in at.caption if "comparison needs" in str(c.value)]
    real = (load_offline_digits().images[:, 0] > 127).float()  # lit: brighter than mid-grey (uint8)
    real_share = (real[:, 27, :].sum() + real[:, :27, 27].sum()) / (len(real) * 55)
    (reference,) = [str(c.value) for c in at.caption if "Real MNIST digits light" in str(c.value)]
    assert f"light {real_share:.2%} of the red pixels (5,000 digits)" in reference
    # The lesson sits above the tool: its picture row comes before the explorer's and the strip's.
    assert is_lesson(at.image[0])


def test_a_new_visitor_starts_from_wgan_clip_when_it_is_there(monkeypatch, both_archs):
    at = page(monkeypatch, both_archs)
    assert_clean(at)
    assert at.session_state["sample.state"].checkpoint == "wgan-clip.pt"
    options = at.selectbox(key="sample.checkpoint").options
    assert options == ["wgan-clip.pt  (shipped)", "wgan-clip-seed-arch.pt  (shipped)"]


def edge_ink(path: Path) -> float:
    """Share of the last row and column (the seed critic's 55 blind pixels) lit in samples 0-1023 of seed 0."""
    images = generate(load_generator(load_checkpoint(path)), noise_from_seed(0, 1024, 100))[:, 0]
    lit = (images > 0).float()
    return float((lit[:, 27, :].sum() + lit[:, :27, 27].sum()) / (1024 * 55))


def test_lesson_without_the_two_files_shows_the_mask_and_says_what_is_missing(monkeypatch, checkpoint_dir):
    at = page(monkeypatch, checkpoint_dir)
    assert_clean(at)
    assert len(lesson(at).value) == 1
    (missing,) = [str(c.value) for c in at.caption if "comparison needs" in str(c.value)]
    assert "`wgan-clip-seed-arch.pt` (seed architecture)" in missing
    assert "`wgan-clip.pt` (repaired architecture)" in missing


def test_lesson_ignores_a_wgan_clip_file_with_the_seed_architecture(monkeypatch, both_archs, tmp_path):
    """Today's shipped wgan-clip.pt holds the seed's models: it is not the repaired side of the comparison."""
    (tmp_path / "wgan-clip-seed-arch.pt").write_bytes((both_archs / "wgan-clip-seed-arch.pt").read_bytes())
    (tmp_path / "wgan-clip.pt").write_bytes((both_archs / "wgan-clip-seed-arch.pt").read_bytes())
    at = page(monkeypatch, tmp_path)
    assert_clean(at)
    assert len(lesson(at).value) == 2 and "wgan-clip-seed-arch.pt" in lesson(at).captions[0]
    (missing,) = [str(c.value) for c in at.caption if "comparison needs" in str(c.value)]
    assert "`wgan-clip.pt` (repaired architecture)" in missing and "seed-arch" not in missing


def test_lesson_without_any_checkpoint_still_shows_the_blind_pixels(monkeypatch, tmp_path):
    at = page(monkeypatch, tmp_path)
    assert_clean(at)
    assert len(lesson(at).value) == 1 and "python -m wgan train" in at.info[0].value


@pytest.mark.parametrize("name", ["wgan-clip-seed-arch.pt", "wgan-clip.pt"])
def test_each_architecture_samples_explores_and_interpolates(monkeypatch, both_archs, name):
    at = page(monkeypatch, both_archs)
    at.selectbox(key="sample.checkpoint").set_value(name).run()
    assert_clean(at)
    arch = "seed" if "seed-arch" in name else "repaired"
    assert any(f"{arch} architecture" in expander.label for expander in at.expander)
    grid_before, explored_before, strip_before = images(at)
    at.slider(key="sample.dir0").set_value(1.5).run()
    at.number_input(key="sample.end_seed").set_value(3).run()
    assert_clean(at)
    grid_after, explored_after, strip_after = images(at)
    assert grid_after == grid_before and explored_after != explored_before and strip_after != strip_before
    assert at.session_state["sample.state"].checkpoint == name


def test_architectures_draw_different_grids(monkeypatch, both_archs):
    at = page(monkeypatch, both_archs, {"ckpt": "wgan-clip-seed-arch.pt"})
    seed_grid = images(at)[0]
    other = page(monkeypatch, both_archs, {"ckpt": "wgan-clip.pt"})
    assert_clean(other)
    assert images(other)[0] != seed_grid


def test_works_from_another_working_folder(monkeypatch, checkpoint_dir, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing of the project here: every path must be absolute
    at = page(monkeypatch, checkpoint_dir)
    assert_clean(at)
    assert len(images(at)) == 3


def test_default_folder_is_the_projects_checkpoints_from_anywhere(monkeypatch, tmp_path):
    """Without WGAN_CHECKPOINT_DIR the page reads wgan.paths.SHIPPED_DIR, whatever the working folder."""
    monkeypatch.chdir(tmp_path)
    at = page(monkeypatch, None)
    assert_clean(at)
    loadable = []
    for path in find_checkpoints(SHIPPED_DIR):
        try:
            load_checkpoint(path)
        except Exception:
            continue
        loadable.append(path)
    if loadable:
        options = at.selectbox(key="sample.checkpoint").options
        names = [path.relative_to(SHIPPED_DIR).as_posix() for path in loadable]
        if "wgan-clip.pt" in names:  # the default view comes first
            names.remove("wgan-clip.pt")
            names.insert(0, "wgan-clip.pt")
        assert [option.split("  (")[0] for option in options] == names
    else:
        assert str(SHIPPED_DIR) in at.info[0].value


def test_hosted_lists_only_the_shipped_files(monkeypatch, checkpoint_dir):
    monkeypatch.setenv("WGAN_HOSTED", "1")
    at = page(monkeypatch, checkpoint_dir, {"ckpt": "runs/mine.pt"})
    assert not at.exception
    assert at.selectbox(key="sample.checkpoint").options == ["tiny.pt  (shipped)"]
    assert at.session_state["sample.state"].checkpoint == "tiny.pt"
    assert any("runs/mine.pt" in str(w.value) for w in at.warning)  # the link's file is not offered: said so


@pytest.mark.parametrize(
    "params",
    [
        {"ckpt": "../../etc/passwd", "seed": "1e9999", "frames": "-3", "interp": ""},
        {"dirs": "inf,-inf", "z": "-1:2,abc", "from": "9:99", "sample": "0x10"},
    ],
)
def test_nonsense_link_with_both_architectures_warns_and_falls_back(monkeypatch, both_archs, params):
    at = page(monkeypatch, both_archs, params)
    assert_clean(at)
    assert at.warning
    state = at.session_state["sample.state"]
    assert state.checkpoint in ("wgan-clip-seed-arch.pt", "wgan-clip.pt") and state.overrides == ()
    assert len(images(at)) == 3


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
    assert len(seen) == 3  # the lesson's blind-pixel picture, the explored pair, the interpolation strip

    fresh = chromium.new_context().new_page()  # another visitor opening the shared link
    fresh.goto(link, timeout=90_000)
    settle(fresh)
    assert pictures(fresh) == seen  # media names are hashes of the PNG bytes: same pixels
