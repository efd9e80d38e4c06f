"""The home page and the Training page under Streamlit's AppTest (one at.run() = one tick of the fragment)."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

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


