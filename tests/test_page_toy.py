"""AppTest of pages/2_Toy_distributions.py: renders, sliders re-measure, the live 2-D panel steps and plays.

One AppTest is shared by the tests below (module scope) and they run in file order: the first render
trains every section's networks once, and Streamlit's caches keep them for the later reruns.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parent.parent / "pages" / "2_Toy_distributions.py"


def metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return str(m.value)
    raise AssertionError(f"no metric {label!r}; have {[m.label for m in at.metric]}")


def markdown_text(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(values: list | dict) -> np.ndarray:
    """A plotly JSON array: a plain list, or a typed array {"dtype", "bdata" (base64)}."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def live_fake_points(at: AppTest) -> np.ndarray:
    """The fake points of the first live panel (GAN), (n, 2), from the live chart's spec."""
    for spec in chart_specs(at):
        names = [t.get("name") for t in spec["data"]]
        if "fake" in names and any(t.get("type") == "contour" for t in spec["data"]):
            trace = spec["data"][names.index("fake")]
            return np.stack([array(trace["x"]), array(trace["y"])], axis=1)
    raise AssertionError("no live chart")


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(str(PAGE), default_timeout=60)
    app.run()
    return app


def test_page_renders_every_section(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    headers = [h.value for h in at.header]
    assert len(headers) == 4 and headers[0].startswith("1. Parallel lines")
    assert metric(at, "JS (nats)") == "0.693" and metric(at, "W (Wasserstein-1)") == "0.5"
    assert metric(at, "Generator iterations (each method)") == "0"
    assert len(at.get("plotly_chart")) >= 7
    # the vanishing-gradient ratio the page prints for its defaults (four standard deviations apart)
    ratio = float(re.search(r"Ratio minimax / critic = ([0-9.]+e[+-][0-9]+)", markdown_text(at)).group(1))
    assert 0 <= ratio < 0.01


def test_sliders_recompute(at: AppTest) -> None:
    at.slider(key="toy.theta").set_value(-0.3).run()
    assert not at.exception
    assert metric(at, "W (Wasserstein-1)") == "0.3" and metric(at, "JS (nats)") == "0.693"
    at.slider(key="toy.theta").set_value(0.0).run()
    assert metric(at, "JS (nats)") == "0" and metric(at, "KL(P_theta || P0)") == "0"

    before = markdown_text(at)
    at.slider(key="toy.mu_fake").set_value(1.0).run()  # the fake Gaussian overlaps the real one
    assert not at.exception
    after = markdown_text(at)
    assert after != before
    ratio = float(re.search(r"Ratio minimax / critic = ([0-9.]+e[+-][0-9]+)", after).group(1))
    assert ratio > 0.05  # overlapping Gaussians: the minimax gradient has not vanished


def test_live_panel_steps_plays_and_resets(at: AppTest) -> None:
    label = "Generator iterations (each method)"
    start = live_fake_points(at)
    at.button(key="toy.step").click().run()
    assert not at.exception
    assert metric(at, label) == "25"
    moved = live_fake_points(at)
    assert moved.shape == start.shape and not np.allclose(moved, start)  # the generator moved its samples
    assert any("exact W(fake, real)" in json.dumps(s.get("layout", {})) for s in chart_specs(at))
    run = at.session_state["toy.run"]  # the run keeps its own exact-W history: one point per step drawn
    assert [h["step"] for h in run.exact_w_history] == [0, 25] and run.snapshot["step"] == 25
    assert "toy.history" not in at.session_state and "toy.snapshot" not in at.session_state

    at.button(key="toy.play").click().run()  # one run = one tick of the fragment: it trains a chunk
    assert not at.exception
    assert int(metric(at, label)) > 25
    at.button(key="toy.pause").click().run()
    assert at.session_state["toy.playing"] is False

    at.selectbox(key="toy.dataset").set_value("ring").run()  # a new dataset starts a new run
    assert not at.exception
    assert metric(at, label) == "0"
