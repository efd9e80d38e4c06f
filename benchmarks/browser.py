"""The app served headless and Debian's Chromium driving it: shared by the real-browser tests and benchmarks.

    with serve(WGAN_HOSTED="1") as server:          # `streamlit run app.py` on a free port
        with chromium() as browser:                 # Playwright on /usr/bin/chromium
            page = browser.new_context().new_page()
            page.goto(f"{server.url}/Train")

Playwright cannot download its own browser here; Debian's package works with the flags below.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@contextmanager
def serve(log_dir: Path | None = None, entrypoint: str = "app.py", **env: str) -> Iterator[Server]:
    """`streamlit run <entrypoint>` headless on a free port with extra environment variables; stopped on exit.

    Returns once /_stcore/health answers. The server inherits this process's environment, so it picks its
    thread count as the app does for a user (every CPU it may use) unless OMP_NUM_THREADS says otherwise.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "streamlit", "run", entrypoint, "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log_dir = Path(log_dir or os.environ.get("TMPDIR", "/tmp"))
    log_path = log_dir / f"streamlit-{port}.log"
    environment = {**os.environ, **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", process, log_path)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("streamlit did not start: " + server.log_tail()) from None
                    time.sleep(0.5)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (playwright.sync_api.Browser). Raises FileNotFoundError without /usr/bin/chromium."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise FileNotFoundError(f"{CHROMIUM} not found: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str, viewport: tuple[int, int] = (1400, 1800)) -> Any:
    """A new visitor (own browser context, so own cookies and Streamlit session) on `url`, app rendered."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.goto(url, timeout=90_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=90_000)
    return page


def generator_iteration(page: Any) -> int:
    """The Training page's "Generator iteration" metric as an int (0 before a run has one)."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Generator iteration")
    if metric.count() == 0:
        return 0
    return int(metric.first.locator('[data-testid="stMetricValue"]').inner_text().replace(",", ""))


def pause_and_save(page: Any, name: str, timeout_ms: int = 60_000) -> None:
    """On the Training page: Pause (unless the run has stopped by itself), type `name` as the run name, Save,
    and wait for "Saved <name>."."""
    pause = page.get_by_role("button", name="Pause", exact=True)
    if pause.count():
        pause.click()
    page.get_by_role("button", name="Resume", exact=True).wait_for(timeout=timeout_ms)
    field = page.get_by_label("Run name")
    field.fill(name)
    field.press("Enter")  # commit the text before the click, which would otherwise race the rerun
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text(f"Saved {name}.").wait_for(timeout=timeout_ms)


def server_rss_mb(server: Server) -> float:
    """Resident memory of the server process (Linux /proc), MB."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
