"""Real browser: the app served headless, the Training page driven in Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def server(mnist_root: Path, tmp_path: Path):
    """`streamlit run app.py` headless on a free port, reading the test's MNIST files; stopped afterwards."""
    port = free_port()
    env = {**os.environ, "WGAN_DATA_ROOT": str(mnist_root), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start: " + (tmp_path / "server.log").read_text()[-2000:])
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_training_page_in_chromium(server: str, tmp_path: Path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
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
        finally:
            browser.close()
