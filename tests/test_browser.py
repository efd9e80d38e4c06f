"""Real browser: the app served headless, the Training page driven in Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def test_training_page_in_chromium(chromium, streamlit_server, mnist_root: Path, tmp_path: Path):
    server = streamlit_server(WGAN_DATA_ROOT=str(mnist_root))  # the test's own MNIST files
    page = chromium.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{server}/Train", timeout=90_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=90_000)
    start = page.get_by_role("button", name="Start")
    start.wait_for(timeout=90_000)
    # A small batch so the 2-core test machine ticks quickly; typed as a user would.
    page.get_by_text("Advanced: every hyperparameter").click()
    batch = page.get_by_label("batch_size (preset: 512)")
    batch.fill("32")
    batch.press("Enter")
    page.wait_for_timeout(1500)
    start.click()
    page.get_by_role("button", name="Pause").wait_for(timeout=120_000)

    def iteration() -> int:
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Generator iteration")
        return int(metric.locator('[data-testid="stMetricValue"]').inner_text().replace(",", ""))

    deadline = time.monotonic() + 120
    while iteration() < 5 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert iteration() >= 5, "the run did not advance in the browser"

    assert page.locator('[data-testid="stException"]').count() == 0
    points = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(plot => (plot.data && plot.data[0] && plot.data[0].x) ? plot.data[0].x.length : 0))"
    )
    assert points >= 5, "the W estimate chart has no points"
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "training-page.png"), full_page=True)
    assert (tmp_path / "training-page.png").stat().st_size > 10_000
    screenshot_copy = os.environ.get("WGAN_SCREENSHOT")
    if screenshot_copy:  # lets a developer look at it (the closing note asks for one)
        shutil.copy(tmp_path / "training-page.png", screenshot_copy)
