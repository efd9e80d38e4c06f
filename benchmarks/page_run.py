"""The Training page as a new visitor uses it, in Chromium: its rate against the CLI's, taking turns on the
same cores, and how good its digits are after the first minutes.

    python -m benchmarks.page_run [--marks 30,60,90,120,150] [--data-root ../shared/data]
                                  [--fid-samples 2000] [--no-fid]

One server (`streamlit run app.py`, local mode), one visitor: Home, then Train from the navigation, Start
with the page's defaults. The marks are seconds of page training (pauses excluded). At each mark the
visitor pauses, saves the run under a name of this script's and reads the page's "Generator iteration"; a
run that reaches its target epochs is carried on with the page's "Train 30 more epochs" button, as a
visitor would (counted in `extensions=`).

The CLI's loop (`benchmarks.train_rate --phases`, at the settings the page's saved run records) takes turns
with the page, as `benchmarks.bench` alternates the seed's loop with ours: this machine's speed drifts by
5-10% over minutes, so rates measured minutes apart do not compare. Up to the first mark the page warms
up. Between two marks, the page's rate is counted from one redraw of its counter to another (every tick
in between whole: redrawing, waiting for the next tick and taking snapshots count against the page), then,
with the page paused, the CLI trains for as many seconds. Each such round prints `mark_s=` with both
rates and their ratio; then the medians, `page_vs_cli=` (the page's own "Images/s, whole run" at the
last mark over the CLI's median: the first draws included) and, last, `page_steady_vs_cli=`
(the median over the rounds of page rate / CLI rate; 1.0 = nothing lost to the page). Unless --no-fid,
FID-MNIST of each saved run (`python -m wgan eval`, --fid-samples samples, the real test split as
reference). Time nothing while anything else runs: the load average at start is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from benchmarks.browser import REPO, chromium, generator_iteration, open_page, pause_and_save, serve
from wgan.checkpoint import load_checkpoint
from wgan.paths import RUNS_DIR

SETTLE_SECONDS = 3.0  # after pausing and saving, for the page's last redraw before the CLI's turn
EXTEND = re.compile(r"^Train .* more epochs$")
# Conditions polled inside the page, so waiting on them costs the browser next to nothing.
RUN_ENDED = """() => [...document.querySelectorAll('button')]
  .some(button => /""" + EXTEND.pattern + """/.test(button.textContent.trim()))"""
# The "Generator iteration" metric once it differs from `previous`, or "extend" when the run has ended.
NEXT_ITERATION = """(previous) => {
  if ((""" + RUN_ENDED + """)()) return 'extend';
  for (const metric of document.querySelectorAll('[data-testid="stMetric"]')) {
    if (metric.textContent.includes('Generator iteration')) {
      const value = metric.querySelector('[data-testid="stMetricValue"]').textContent.replace(/,/g, '');
      return value !== previous ? value : false;
    }
  }
  return false;
}"""


def metric(page, label: str) -> float:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return float(box.locator('[data-testid="stMetricValue"]').inner_text().replace(",", ""))


class PageRun:
    """The visitor's tab: training, pausing at marks, counting ticks."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.extensions = 0

    def start(self) -> None:
        self.page.get_by_role("link", name="Train").first.click()
        self.page.get_by_role("button", name="Start").wait_for(timeout=120_000)
        self.page.get_by_role("button", name="Start").click()
        self.page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=120_000)

    def next_redraw(self, previous: int) -> tuple[int, float]:
        """Wait for the counter to move past `previous` (the next tick's redraw): (iteration, when)."""
        while True:
            handle = self.page.wait_for_function(NEXT_ITERATION, arg=str(previous), polling=20, timeout=120_000)
            value = handle.json_value()
            if value != "extend":
                return int(value), time.monotonic()
            self.extend()

    def train_until(self, deadline: float) -> None:
        """Let the page train until time.monotonic() reaches `deadline`, carrying on a run that ends."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.page.wait_for_function(RUN_ENDED, polling=200, timeout=remaining * 1000)
            except PlaywrightTimeoutError:
                return
            self.extend()

    def extend(self) -> None:
        """The run reached its target epochs: "Train 30 more epochs", as a visitor would."""
        button = self.page.get_by_role("button", name=EXTEND)
        button.click()
        self.extensions += 1
        button.wait_for(state="detached", timeout=60_000)  # gone once the page has rerun: training again

    def resume(self) -> None:
        resume = self.page.get_by_role("button", name="Resume", exact=True)
        if resume.is_disabled():  # the run had reached its target epochs
            self.extend()
        else:
            resume.click()
        self.page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=60_000)


class CliLoop:
    """`benchmarks.train_rate --phases` at the page's settings: trains when asked, idle otherwise."""

    def __init__(self, data_root: Path, config: dict) -> None:
        command = [
            sys.executable, "-m", "benchmarks.train_rate", "--data", str(data_root), "--preset", config["preset"],
            "--set", f"precision={config['precision']}", "--set", f"batch_size={config['batch_size']}",
            "--dataset", config["dataset"], "--split", config["split"], "--phases",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def train(self, seconds: float) -> tuple[float, float]:
        """Train `seconds`; (generator iterations, real images) per second."""
        self.process.stdin.write(f"{seconds}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the CLI loop stopped (exit {self.process.wait()})")
        return tuple(float(re.search(rf"{key}=([\d.]+)", line)[1]) for key in ("iterations_per_s", "images_per_s"))

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def drive_page(data_root: Path, marks: list[float]) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    cli: CliLoop | None = None
    with serve(WGAN_DATA_ROOT=str(data_root), WGAN_HOSTED="0") as server, chromium() as browser:
        run = PageRun(open_page(browser, server.url))
        run.start()
        trained, since, config = 0.0, time.monotonic(), {}  # training seconds, counted only while not paused
        try:
            for number, mark in enumerate(marks):
                timed = number > 0  # up to the first mark the page warms up
                # From the first full tick after (re)starting to the first redraw past the mark.
                first = run.next_redraw(generator_iteration(run.page)) if timed else None
                run.train_until(since + mark - trained)
                last = run.next_redraw(generator_iteration(run.page)) if timed else None
                trained += time.monotonic() - since
                name = f"page-run-{os.getpid()}-{int(mark)}s"
                checkpoint = RUNS_DIR / f"{name}.pt"
                pause_and_save(run.page, name)  # paused, the page draws the run as it stands
                row = {"mark_s": mark, "iteration": generator_iteration(run.page)}
                row["page_img_s"] = metric(run.page, "whole run")
                if cli is None:  # the settings the page runs, from its own saved checkpoint
                    saved = load_checkpoint(checkpoint).config
                    keys = ("preset", "precision", "batch_size", "dataset", "split")
                    config = {key: getattr(saved, key) for key in keys}
                    cli = CliLoop(data_root, config)
                    cli.train(5.0)  # its warm-up, as the page's was
                if timed:
                    seconds = last[1] - first[1]
                    row["page_iterations_per_s"] = (last[0] - first[0]) / seconds
                    # The page paused and, after SETTLE_SECONDS, done drawing: server and browser idle.
                    run.page.wait_for_timeout(SETTLE_SECONDS * 1000)
                    row["cli_iterations_per_s"], row["cli_img_s"] = cli.train(seconds)
                    row["page_vs_cli"] = row["page_iterations_per_s"] / row["cli_iterations_per_s"]
                row["extensions"] = run.extensions
                row["checkpoint"] = str(checkpoint)
                rows.append(row)
                if number < len(marks) - 1:
                    run.resume()
                    since = time.monotonic()
        finally:
            if cli is not None:
                cli.close()
        exceptions = run.page.locator('[data-testid="stException"]').count()
    return rows, {**config, "page_exceptions": exceptions}


def fid(checkpoint: str, data_root: Path, samples: int) -> dict:
    command = [
        sys.executable, "-m", "wgan", "eval", "--checkpoint", checkpoint, "--n", str(samples), "--no-anchors",
        "--data-root", str(data_root), "--split", "test", "--device", "cpu",
    ]  # fmt: skip
    output = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", output.splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", default="30,60,90,120,150", help="seconds of training at which to read and save")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--fid-samples", type=int, default=2000)
    parser.add_argument("--no-fid", action="store_true")
    args = parser.parse_args(argv)
    data_root = Path(args.data_root).resolve()
    marks = sorted(float(mark) for mark in args.marks.split(","))
    if len(marks) < 2:
        parser.error("--marks needs at least two marks: the first ends the warm-up")
    print(f"load_avg={','.join(f'{x:.2f}' for x in os.getloadavg())} cpus={os.cpu_count()}", flush=True)
    rows, config = drive_page(data_root, marks)
    print(f"page config: {json.dumps(config)}", flush=True)
    for row in rows:
        if not args.no_fid:
            row.update(fid(row["checkpoint"], data_root, args.fid_samples))
        print(" ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in row.items()), flush=True)  # fmt: skip
    rounds = [row for row in rows if "page_vs_cli" in row]
    cli = statistics.median(row["cli_iterations_per_s"] for row in rounds)
    ratios = [row["page_vs_cli"] for row in rounds]
    print(f"cli_iterations_per_s={cli:.3f} (median of {len(rounds)} turns)")
    print(f"page_steady_iterations_per_s={statistics.median(row['page_iterations_per_s'] for row in rounds):.3f}")
    # The page's own whole-run rate: its clock runs from the models' build (Start) to the end of the last
    # tick, pauses excluded, so the first draws and every redraw count.
    cli_images = statistics.median(row["cli_img_s"] for row in rounds)
    print(f"page_vs_cli={rows[-1]['page_img_s'] / cli_images:.3f} (images/s: the page's whole run over the CLI's)")
    print(f"page_steady_vs_cli={statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})")
    return 0 if config["page_exceptions"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
