"""The Training page as a new visitor uses it, in Chromium: its rate against the CLI's, and how good its
digits are after the first minutes.

    python -m benchmarks.page_run [--marks 60,120] [--data-root ../shared/data] [--fid-samples 2000]
                                  [--no-fid]

One server (`streamlit run app.py`, local mode), one visitor: Home, then Train from the navigation, Start
with the page's defaults. At each mark (seconds of training, pauses excluded) the visitor pauses, saves the
run under a name of this script's, reads the page's "Generator iteration" and "Images/s, whole run", and
resumes; a run that reaches its target epochs is carried on with the page's "Train 30 more epochs" button,
as a visitor would (counted in `extensions=`). Then, for comparison, the CLI's rate at the same settings
over the same iterations (`benchmarks.train_rate` with the preset and precision the page ran, in chunks of
the first mark's iteration count: the first chunk untimed, as the page's rate before its first mark is not
the steady one; the rate per iteration drifts by several percent as a run trains, so a CLI rate over other
iterations would not compare) and, unless --no-fid, FID-MNIST of each saved run (`python -m wgan eval`,
--fid-samples samples, the real test split as reference).
Prints one `mark_s=` line per mark, `cli_iterations_per_s=`, the page's steady rate between the first and
the last mark over the CLI's (`page_steady_vs_cli=`) and `page_vs_cli=` (the page's iterations per second
from the Start click to the last mark, setup included, over the CLI's; 1.0 = nothing lost to the page). Time
nothing while anything else runs: the load average at start is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.browser import REPO, chromium, generator_iteration, open_page, pause_and_save, serve
from wgan.checkpoint import load_checkpoint
from wgan.paths import RUNS_DIR


def metric(page, label: str) -> float:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return float(box.locator('[data-testid="stMetricValue"]').inner_text().replace(",", ""))


def drive_page(data_root: Path, marks: list[float]) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    with serve(WGAN_DATA_ROOT=str(data_root), WGAN_HOSTED="0") as server, chromium() as browser:
        page = open_page(browser, server.url)
        page.get_by_role("link", name="Train").first.click()
        page.get_by_role("button", name="Start").wait_for(timeout=120_000)
        page.get_by_role("button", name="Start").click()
        page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=120_000)
        trained, since = 0.0, time.monotonic()  # training seconds, counted only while not paused
        extend = page.get_by_role("button", name=re.compile(r"^Train .* more epochs$"))
        extensions = 0
        for mark in marks:
            while trained + (time.monotonic() - since) < mark:
                if extend.count():  # the run reached its target epochs: carry on, as a visitor would
                    extend.click()
                    extensions += 1
                    page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=60_000)
                page.wait_for_timeout(200)
            trained += time.monotonic() - since
            name = f"page-run-{os.getpid()}-{int(mark)}s"
            pause_and_save(page, name)  # paused, the page draws the run as it stands
            row = {"mark_s": mark, "iteration": generator_iteration(page), "page_img_s": metric(page, "whole run")}
            row["extensions"] = extensions
            row["checkpoint"] = str(RUNS_DIR / f"{name}.pt")
            rows.append(row)
            resume = page.get_by_role("button", name="Resume", exact=True)
            (extend if resume.is_disabled() else resume).click()
            page.get_by_role("button", name="Pause", exact=True).wait_for(timeout=60_000)
            since = time.monotonic()
        exceptions = page.locator('[data-testid="stException"]').count()
    # The settings the page ran, from its own saved checkpoint.
    saved = load_checkpoint(rows[-1]["checkpoint"]).config
    config = {key: getattr(saved, key) for key in ("preset", "precision", "batch_size", "dataset", "split")}
    return rows, {**config, "page_exceptions": exceptions}


def cli_rate(data_root: Path, config: dict, first_iteration: int, last_iteration: int) -> tuple[float, str]:
    """Generator iterations per second of the CLI's loop from `first_iteration` to about `last_iteration`,
    and that range as text."""
    steps = max(1, first_iteration)
    epochs = max(2, round(last_iteration / steps))
    command = [
        sys.executable, "-m", "benchmarks.train_rate", "--data", str(data_root), "--preset", config["preset"],
        "--set", f"precision={config['precision']}", "--set", f"batch_size={config['batch_size']}",
        "--dataset", config["dataset"], "--split", config["split"], "--epochs", str(epochs), "--max-steps", str(steps),
    ]  # fmt: skip
    output = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return float(re.search(r"iterations_per_s=([\d.]+)", output)[1]), f"iterations {steps:,}-{steps * epochs:,}"


def fid(checkpoint: str, data_root: Path, samples: int) -> dict:
    command = [
        sys.executable, "-m", "wgan", "eval", "--checkpoint", checkpoint, "--n", str(samples), "--no-anchors",
        "--data-root", str(data_root), "--split", "test", "--device", "cpu",
    ]  # fmt: skip
    output = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", output.splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", default="60,120", help="seconds of training at which to read and save")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--fid-samples", type=int, default=2000)
    parser.add_argument("--no-fid", action="store_true")
    args = parser.parse_args(argv)
    data_root = Path(args.data_root).resolve()
    marks = sorted(float(mark) for mark in args.marks.split(","))
    print(f"load_avg={','.join(f'{x:.2f}' for x in os.getloadavg())} cpus={os.cpu_count()}", flush=True)
    rows, config = drive_page(data_root, marks)
    print(f"page config: {json.dumps(config)}", flush=True)
    for row in rows:
        row["page_iterations_per_s"] = row["iteration"] / row["mark_s"]  # from the Start click: setup included
        if not args.no_fid:
            row.update(fid(row["checkpoint"], data_root, args.fid_samples))
        print(" ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in row.items()), flush=True)  # fmt: skip
    first_iteration = rows[0]["iteration"] if len(rows) >= 2 else rows[0]["iteration"] // 2
    cli, cli_range = cli_rate(data_root, config, first_iteration, rows[-1]["iteration"])
    print(f"cli_iterations_per_s={cli:.3f} ({cli_range})")
    if len(rows) >= 2:  # steady state: between the first and the last mark the run trained throughout
        first, last = rows[0], rows[-1]
        steady = (last["iteration"] - first["iteration"]) / (last["mark_s"] - first["mark_s"])
        print(f"page_steady_iterations_per_s={steady:.3f} (marks {first['mark_s']:g}-{last['mark_s']:g} s)")
        print(f"page_steady_vs_cli={steady / cli:.3f}")
    print(f"page_vs_cli={rows[-1]['page_iterations_per_s'] / cli:.3f}")
    return 0 if config["page_exceptions"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
