"""Real browser: the app served headless, driven in Debian's Chromium through Playwright as visitors would."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from benchmarks.browser import generator_iteration, open_page, pause_and_save
from wgan.paths import RUNS_DIR

pytestmark = pytest.mark.browser


def start_training(page, epochs: int | None = None) -> None:
    """Open the Training page from the navigation, press Start with the defaults (and `epochs` to train, if
    given), wait until it trains."""
    page.get_by_role("link", name="Train").first.click()
    start = page.get_by_role("button", name="Start")
    start.wait_for(timeout=90_000)
    if epochs is not None:
        field = page.get_by_label("Epochs to train")
        field.fill(str(epochs))
        field.press("Enter")
        page.wait_for_timeout(1_000)  # the rerun that takes the new value
    start.click()
    page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=120_000)
    deadline = time.monotonic() + 120
    while generator_iteration(page) < 5 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert generator_iteration(page) >= 5, "the run did not advance in the browser"


def assert_titled_navigation(page) -> None:
    """The sidebar is app.py's navigation, not Streamlit's pages/-folder list with its "app" entry.

    The pages/-folder list can show for a moment before app.py's navigation replaces it, so this waits
    up to 30 s for "app" to go: a sidebar that keeps it fails.
    """
    from playwright.sync_api import expect

    navigation = page.locator('[data-testid="stSidebarNav"]')
    expect(navigation).to_contain_text("Sampling", timeout=90_000)
    expect(navigation).not_to_contain_text("app", timeout=30_000)


def saved_run_choices(page) -> list[str]:
    """The options of the Training page's "Saved runs" box (opened, read, closed)."""
    page.get_by_label("Saved runs").first.click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options


def test_training_page_in_chromium(chromium, streamlit_server, mnist_root: Path, tmp_path: Path):
    server = streamlit_server(WGAN_DATA_ROOT=str(mnist_root))  # the test's own MNIST files
    page = open_page(chromium, server)
    assert_titled_navigation(page)
    start_training(page, epochs=1000)  # the test's 600 images: the default 30 epochs end within one redraw
    assert page.locator('[data-testid="stException"]').count() == 0
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)
    # Between two redraws a status line counts the iterations; writing it is where a paused run stops.
    page.get_by_text("Training: generator iteration").wait_for(timeout=30_000)
    points = page.evaluate(
        "() => Math.max(0, ...Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(plot => (plot.data && plot.data[0] && plot.data[0].x) ? plot.data[0].x.length : 0))"
    )
    assert points >= 5, "the W estimate chart has no points"
    # Ticks rerun back to back, so Streamlit's running indicator would show throughout; the page hides it
    # while training, and only then.
    indicator_style = (
        "() => Array.from(document.querySelectorAll('style'))"
        ".filter(style => style.textContent.includes('stStatusWidget')).length"
    )
    assert page.evaluate(indicator_style) >= 1
    widget = page.locator('[data-testid="stStatusWidget"]')
    for _ in range(6):
        assert not widget.is_visible()
        page.wait_for_timeout(250)
    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_role("button", name="Resume", exact=True).wait_for(timeout=30_000)
    # The Resume button is drawn during the paused run; the last tick's style leaves when that run ends.
    page.wait_for_function(f"() => ({indicator_style})() === 0", timeout=15_000)
    page.screenshot(path=str(tmp_path / "training-page.png"), full_page=True)
    assert (tmp_path / "training-page.png").stat().st_size > 10_000
    screenshot_copy = os.environ.get("WGAN_SCREENSHOT")
    if screenshot_copy:  # lets a developer look at it
        shutil.copy(tmp_path / "training-page.png", screenshot_copy)


def test_two_hosted_visitors_keep_their_runs_apart(chromium, streamlit_server, mnist_root: Path):
    # The hosted entrypoint, as Community Cloud starts it; two browser contexts are two visitors.
    server = streamlit_server("hosted/streamlit_app.py", WGAN_DATA_ROOT=str(mnist_root))
    name = f"alice-{os.getpid()}"
    alice, bob = open_page(chromium, server), open_page(chromium, server)
    start_training(alice)
    pause_and_save(alice, name)
    # The success line and the download button arrive as separate deltas: wait for the button, don't count.
    alice.get_by_role("button", name="Download the checkpoint").wait_for(timeout=30_000)
    assert name in saved_run_choices(alice)

    bob.get_by_role("link", name="Train").first.click()
    bob.get_by_role("button", name="Start").wait_for(timeout=90_000)
    bob.get_by_text("Load a saved run").click()
    assert name not in saved_run_choices(bob)  # Alice's run is in her session only
    assert not (RUNS_DIR / f"{name}.pt").exists()  # and not on the server's disk
    for page in (alice, bob):
        assert page.locator('[data-testid="stException"]').count() == 0


def test_a_shared_link_opened_first_on_a_fresh_server_gets_the_apps_navigation(chromium, streamlit_server):
    """A fresh server whose first request is a deep link still runs the page under app.py's titled navigation."""
    page = open_page(chromium, f"{streamlit_server()}/Sampling?seed=7")
    seed = page.get_by_label("Seed", exact=True)
    seed.wait_for(timeout=90_000)
    assert_titled_navigation(page)
    assert seed.input_value() == "7"  # the link's view survives the switch
    assert page.locator('[data-testid="stException"]').count() == 0
