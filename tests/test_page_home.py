"""AppTest of the home page (pages/0_Home.py, run through app.py's navigation): its checkpoint table locally
and hosted, foreign files, another working folder, nonsense query parameters;
and the Toy page from another working folder with nonsense parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from wgan.checkpoint import export_generator, load_checkpoint, save_checkpoint
from wgan.config import preset
from wgan.data import load_images
from wgan.paths import FIGURE3_FILE, PROJECT_ROOT
from wgan.train import init_state, train_step

HOME = str(PROJECT_ROOT / "app.py")


@pytest.fixture(scope="module")
def folder(mnist_root, tmp_path_factory) -> Path:
    """Like checkpoints/: a shipped generator, a visitor's full run in runs/, and another program's file."""
    folder = tmp_path_factory.mktemp("checkpoints")
    digits = load_images("mnist", mnist_root, "train", download=False)
    state = init_state(preset("gan", arch="repaired", batch_size=8, holdout_size=32), digits, "cpu")
    train_step(state)
    full = save_checkpoint(state, folder / "runs" / "someone-else.pt")
    export_generator(load_checkpoint(full), folder / "shipped.pt", card={"data": "fake bars", "fid_mnist": 12.345})
    torch.save({"weights": torch.zeros(3)}, folder / "classifier.pt")  # loads, but no wgan-checkpoint marker
    (folder / "broken.pt").write_bytes(b"not a checkpoint")
    return folder


def home(monkeypatch, folder: Path, hosted: bool, params: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("WGAN_CHECKPOINT_DIR", str(folder))
    monkeypatch.setenv("WGAN_HOSTED", "1" if hosted else "0")
    at = AppTest.from_file(HOME, default_timeout=120)
    if params:
        at.query_params.update(params)
    return at.run()


def table(at: AppTest) -> list[str]:
    (frame,) = at.dataframe
    return list(frame.value["file"])


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_local_table_lists_shipped_and_runs_and_skips_foreign_files(monkeypatch, folder):
    at = home(monkeypatch, folder, hosted=False)
    assert_clean(at)
    assert table(at) == ["broken.pt", "shipped.pt", "someone-else.pt"]  # classifier.pt: another program's file
    rows = {row["file"]: row for row in at.dataframe[0].value.to_dict("records")}
    assert rows["broken.pt"]["kind"] == "unreadable"
    assert "repaired architecture" in rows["shipped.pt"]["note"]
    assert rows["shipped.pt"]["FID-MNIST"] == 12.3  # from the card


def test_hosted_table_lists_only_the_shipped_checkpoints(monkeypatch, folder):
    at = home(monkeypatch, folder, hosted=True)
    assert_clean(at)
    assert "someone-else.pt" not in table(at) and "shipped.pt" in table(at)
    assert any("Shipped checkpoints" in str(m.value) for m in at.markdown)


def test_home_works_from_another_working_folder(monkeypatch, folder, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing of the project here: the page must find its files by absolute paths
    at = home(monkeypatch, folder, hosted=False)
    assert_clean(at)
    assert "Train" in [element.proto.page for element in at.get("page_link")]
    assert len(at.get("page_link")) == len(list((PROJECT_ROOT / "pages").glob("*.py"))) - 1  # all but Home
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    titles = [spec["layout"].get("title", {}).get("text", "") for spec in specs]
    figure3_drawn = any(title.startswith("WGAN (paper preset)") for title in titles)
    assert figure3_drawn == FIGURE3_FILE.is_file()
    if not FIGURE3_FILE.is_file():
        assert any(str(FIGURE3_FILE) in str(info.value) for info in at.info)


@pytest.mark.parametrize("params", [{"theta": "nan", "page": "../../x"}, {"home.shift": "1e999", "x": "%00\u202e"}])
def test_home_ignores_nonsense_query_parameters(monkeypatch, folder, params):
    at = home(monkeypatch, folder, hosted=False, params=params)
    assert_clean(at)
    assert at.slider(key="home.theta").value == 0.5 and at.slider(key="home.shift").value == 2.0


def test_toy_page_from_another_folder_with_nonsense_parameters(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(str(PROJECT_ROOT / "pages" / "2_Toy_distributions.py"), default_timeout=120)
    at.query_params.update({"toy.theta": "abc", "dataset": "nonsense"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="toy.theta").value == 0.5
    assert len(at.get("plotly_chart")) >= 7


def test_home_page_renders_the_lesson_and_the_figure3_result():
    assert FIGURE3_FILE.exists()  # shipped: the home page draws its two charts from it
    at = AppTest.from_file(HOME, default_timeout=120).run()
    assert_clean(at)
    text = " ".join(str(m.value) for m in at.markdown)
    assert "Wasserstein" in text and "RMSprop" in text and "PyTorch" in text
    assert len(at.get("plotly_chart")) == 4  # the two explanatory charts and Figure 3's two
    assert [m.label for m in at.metric if "Spearman" in m.label] and all(m.value != "n/a" for m in at.metric)
    assert "Train" in [element.proto.page for element in at.get("page_link")]
    at.slider(key="home.theta").set_value(0.0).run()
    assert_clean(at)
