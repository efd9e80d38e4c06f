"""ui/: one module of pure plotly figure builders per page (the rule in ui/__init__.py), usable without Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

import ui.home
import ui.sampling
import ui.train
from ui.navigation import PAGES, PAGES_DIR

UI = Path(ui.home.__file__).parent


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("module", ["home", "train", "toy", "sampling"])
def test_page_figure_modules_do_not_use_streamlit(module):
    assert "plotly" in imported_packages(UI / f"{module}.py")
    assert "streamlit" not in imported_packages(UI / f"{module}.py")


PAGE_FILES = sorted(path.relative_to(UI.parent).as_posix() for path in PAGES_DIR.glob("*.py")) + ["app.py"]


def test_the_layering_checks_cover_every_page():
    assert len(PAGE_FILES) == len(PAGES) + 1 and "pages/1_Train.py" in PAGE_FILES


@pytest.mark.parametrize("page", PAGE_FILES)
def test_pages_build_no_plotly_figures_themselves(page):
    assert "plotly" not in imported_packages(UI.parent / page)


@pytest.mark.parametrize("page", PAGE_FILES)
def test_pages_stay_thin(page):
    # widgets -> calls into wgan/ -> charts from ui/: anything longer has logic that belongs in the library
    assert len((UI.parent / page).read_text().splitlines()) <= 400


def test_home_figures():
    lines = ui.home.lines_figure(0.3)
    assert isinstance(lines, go.Figure) and [trace.name for trace in lines.data][0].startswith("Wasserstein")
    assert np.allclose(lines.data[0].y, np.abs(lines.data[0].x))
    assert lines.layout.shapes[0].x0 == 0.3  # the dotted line at theta
    earth = ui.home.earth_figure(1.5)
    assert earth.layout.title.text == "W1 = 1.50" and len(earth.layout.annotations) == 1
    assert not ui.home.earth_figure(0.0).layout.annotations  # nothing to move
    run = {"curve": "js_estimate", "history": {"iteration": [1, 2], "js_estimate": [0.6, None]}, "points": {}}
    figure3 = ui.home.figure3_figure(run, "GAN baseline", window=3)
    assert figure3.layout.title.text == "GAN baseline" and np.isnan(figure3.data[0].y[1])


def test_tile_crops_follow_the_grid_geometry():
    from wgan.sampling import grid

    images = np.random.default_rng(0).integers(1, 256, (64, 28, 28)).astype(np.uint8)
    picture = grid(images, columns=8)
    for index in (0, 9, 63):
        assert np.array_equal(picture[ui.sampling.tile_slices(index, 8)], images[index])
    corner = picture[ui.sampling.corner_slices(4, 4)]
    assert np.array_equal(corner, grid(images.reshape(8, 8, 28, 28)[:4, :4].reshape(16, 28, 28), columns=4))


def test_sampling_figures():
    grid = ui.sampling.clickable_grid("data:image/png;base64,", 242, columns=8, count=64)
    (markers,) = grid.data
    assert len(markers.x) == 64 and list(markers.customdata) == list(range(64))
    assert (markers.x[0], markers.y[0], markers.x[9], markers.y[9]) == (16, 16, 46, 46)  # tile centres, 30 px apart
    norms = ui.sampling.norms_figure([0.0, 0.5, 1.0], {"lerp": [10, 7, 10], "slerp": [10, 10, 10]}, z_dim=100)
    assert [trace.name for trace in norms.data] == ["lerp", "slerp"] and norms.data[0].line.dash == "dot"
    assert norms.layout.shapes[0].y0 == 10.0  # sqrt(z_dim)


def test_navigation_names_every_page_once():
    # A page file missing from the table would be unreachable: st.navigation ignores pages/ itself.
    assert sorted(PAGES) == sorted(path.name for path in PAGES_DIR.glob("*.py"))
    titles = [title for title, _ in PAGES.values()]
    assert len(set(titles)) == len(titles) and "app" not in [title.lower() for title in titles]
    assert all(icon.startswith(":material/") for _, icon in PAGES.values())


def test_training_charts_keep_fixed_margins():
    # They redraw every tick while a run trains: automatic margins would make plotly measure text and lay
    # each chart out again every time (the browser's CPU, on a shared machine the training threads' too).
    columns = {"iteration": np.arange(5.0), "w_estimate": np.ones(5), "critic_real": np.ones(5),
               "critic_fake": np.zeros(5)}  # fmt: skip
    for figure in (ui.train.smoothed_figure(columns, "w_estimate", "W", 3, 2), ui.train.critic_figure(columns, 3, 2)):
        assert figure.layout.margin.autoexpand is False
        assert figure.layout.xaxis.automargin is False and figure.layout.yaxis.automargin is False
