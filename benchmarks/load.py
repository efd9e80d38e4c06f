"""What several visitors cost one server: real Chromium sessions against one `streamlit run app.py`.

    python -m benchmarks.load [--sampling 4] [--trainers 2] [--toy 2] [--hosted | --local] [--hold 20]
        [--data-root ../shared/data] [--rounds 1]

One server (benchmarks.browser.serve, hosted mode unless --local) and one headless Chromium in which every
visitor is its own browser context, so its own Streamlit session. A round is, one line per phase:
  1. (once) the server's resident memory before anyone visits, with the load average, so a reader knows
     whether the machine was idle;
  2. `--sampling` visitors open /Sampling together; memory, and the seconds each page took to settle
     (from the request until no script runs for it any more), median and max;
  3. `--trainers` visitors open /Train and press Start; after `--hold` seconds of training, memory and each
     trainer's generator iteration (in hosted mode only WGAN_MAX_TRAINERS train at once; the others wait);
  4. the first Sampling visitor types a new seed: seconds until that redraw settles, the trainers training;
     then `--toy` visitors open /Toy_distributions; memory and settle seconds, the trainers still training;
  5. one visitor opens the home page while the trainers train: the latency a newcomer sees;
  6. every tab closes; memory 5 s and 30 s later (Streamlit keeps a disconnected session for a while).
`--rounds R` repeats 2-6 on the same server, so the memory lines show whether memory returns or grows.
A visitor that fails (a timeout, a page that never settles) is one `failure` line, not the end of the run;
tracebacks a page shows (stException) are counted per phase. The last lines are a Markdown table; the exit
status is 1 when any visitor failed or any page showed a traceback.
Needs Chromium at /usr/bin/chromium and Playwright; the numbers mean little on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.browser import REPO, Server, chromium, generator_iteration, open_page, serve, server_rss_mb

SETTLE_TIMEOUT_S = 240.0  # per phase; generous because a shared 2-core host can be very slow
QUIET_S = 1.5  # no script running for this long counts as settled (a rerun can start just after another ends)
POLL_S = 0.25
STATUS = '[data-testid="stStatusWidget"]'  # mounted only while the session's script runs
EXCEPTION = '[data-testid="stException"]'
ERROR = '[data-testid="stAlertContentError"]'
# What a page shows once its script has got far enough to count as rendered.
READY = {
    "/Sampling": '[data-testid="stImage"] img',
    "/Toy_distributions": '[data-testid="stPlotlyChart"]',
    "/": "h1",
}


@dataclass
class Visitor:
    """One browser context (tab) and what happened to it."""

    name: str
    started: float
    page: Any = None
    settle_s: float | None = None
    quiet_since: float | None = None
    error: str | None = None
    exceptions: int = 0


@dataclass
class Phase:
    """One printed line's numbers, kept for the table."""

    round: int
    name: str
    rss_mb: float
    visitors: list[Visitor] = field(default_factory=list)
    note: str = ""

    def settles(self) -> list[float]:
        return [visitor.settle_s for visitor in self.visitors if visitor.settle_s is not None]

    def failed(self) -> int:
        return sum(visitor.error is not None for visitor in self.visitors)

    def exceptions(self) -> int:
        return sum(visitor.exceptions for visitor in self.visitors)

    def line(self) -> str:
        parts = [f"phase={self.name}", f"round={self.round}", f"rss_mb={self.rss_mb:.0f}"]
        if self.visitors:
            parts += [f"visitors={len(self.visitors)}", f"failed={self.failed()}", f"exceptions={self.exceptions()}"]
        settles = self.settles()
        if settles:
            parts += [f"settle_median_s={statistics.median(settles):.1f}", f"settle_max_s={max(settles):.1f}",
                      "settle_s=" + ",".join(f"{s:.1f}" for s in settles)]  # fmt: skip
        if self.note:
            parts.append(self.note)
        return " ".join(parts)


def rss(server: Server) -> float:
    """The server's memory, NaN once it has exited (so a crash shows in the table instead of a traceback)."""
    try:
        return server_rss_mb(server)
    except OSError:
        return float("nan")


def one_line(error: BaseException) -> str:
    """Playwright's errors span many lines (a call log); the first says what happened."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


def report_failure(phase: str, visitor: Visitor) -> None:
    print(f"failure phase={phase} visitor={visitor.name} error={visitor.error!r}", flush=True)


def count(page: Any, selector: str) -> int:
    """Elements matching now, without waiting; 0 if the page is gone or mid-navigation."""
    try:
        return len(page.query_selector_all(selector))
    except Exception:  # a closed or navigating page raises Playwright's Error; counting must not end the run
        return 0


def arrive(browser: Any, server: Server, path: str, how_many: int, label: str) -> list[Visitor]:
    """`how_many` new visitors open `path` one right after another, then wait together until each settles.

    open_page returns once the app's shell is there, before the page's script has run, so the visitors'
    scripts run at the same time on the server. Polling every page in turn (instead of waiting on one
    after another) stamps each page's settle time within POLL_S of when it happened.
    """
    visitors = []
    for index in range(how_many):
        visitor = Visitor(f"{label}{index + 1}", time.monotonic())
        try:
            visitor.page = open_page(browser, server.url + path)
        except Exception as error:  # a timeout or a crashed tab: this visitor failed, the run goes on
            visitor.error = one_line(error)
        visitors.append(visitor)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    pending = [visitor for visitor in visitors if visitor.error is None]
    while pending and time.monotonic() < deadline:
        now = time.monotonic()
        for visitor in list(pending):
            # Rendered (or failed visibly) and no script running; quiet for QUIET_S so a rerun that follows
            # right after the first run (a widget's default applied, a query string rewritten) is waited for.
            shown = count(visitor.page, READY[path]) or count(visitor.page, EXCEPTION)
            if not shown or count(visitor.page, STATUS):
                visitor.quiet_since = None
                continue
            visitor.quiet_since = visitor.quiet_since or now
            if now - visitor.quiet_since >= QUIET_S:
                visitor.settle_s = visitor.quiet_since - visitor.started
                pending.remove(visitor)
        time.sleep(POLL_S)
    for visitor in pending:
        visitor.error = f"did not settle within {SETTLE_TIMEOUT_S:.0f} s"
    for visitor in visitors:
        if visitor.page is not None:
            visitor.exceptions = count(visitor.page, EXCEPTION)
        if visitor.error:
            report_failure(label, visitor)
    return visitors


def start_training(browser: Any, server: Server, how_many: int) -> list[Visitor]:
    """`how_many` visitors open /Train and press Start with the page's defaults; each is done when Pause shows."""
    trainers = []
    for index in range(how_many):
        trainer = Visitor(f"trainer{index + 1}", time.monotonic())
        try:
            trainer.page = open_page(browser, f"{server.url}/Train")
            trainer.page.get_by_role("button", name="Start").click(timeout=SETTLE_TIMEOUT_S * 1000)
            trainer.page.get_by_role("button", name="Pause").wait_for(timeout=SETTLE_TIMEOUT_S * 1000)
            trainer.settle_s = time.monotonic() - trainer.started
        except Exception as error:
            trainer.error = one_line(error)
            if trainer.page is not None and count(trainer.page, ERROR):  # e.g. the data could not be loaded
                trainer.error += " | page says: " + trainer.page.locator(ERROR).first.inner_text()[:200]
            report_failure("train", trainer)
        trainers.append(trainer)
    return trainers


def redraw(visitor: Visitor, label: str, seed: int) -> Visitor:
    """The Sampling visitor types a new seed: seconds until the page's script stops running again.

    Measured on a page that is already open (its generator is loaded), so it is the redraw a visitor waits
    for when exploring, not the first load.
    """
    timed = Visitor(label, time.monotonic(), visitor.page)
    if visitor.page is None:
        timed.error = "the sampling page is not open"
        return timed
    try:
        field = visitor.page.get_by_label("Seed", exact=True)
        field.fill(str(seed))
        timed.started = time.monotonic()
        field.press("Enter")
    except Exception as error:
        timed.error = one_line(error)
        return timed
    deadline = timed.started + SETTLE_TIMEOUT_S
    time.sleep(POLL_S)  # let the rerun begin before looking for quiet
    while time.monotonic() < deadline:
        now = time.monotonic()
        if count(visitor.page, STATUS):
            timed.quiet_since = None
        else:
            timed.quiet_since = timed.quiet_since or now
            if now - timed.quiet_since >= QUIET_S:
                timed.settle_s = timed.quiet_since - timed.started
                break
        time.sleep(POLL_S / 5)
    else:
        timed.error = f"did not settle within {SETTLE_TIMEOUT_S:.0f} s"
    timed.exceptions = count(visitor.page, EXCEPTION)
    if timed.error:
        report_failure(label, timed)
    return timed


def iterations(trainers: list[Visitor]) -> list[int]:
    """Each trainer's generator iteration now; -1 where it cannot be read (failed, or mid-redraw)."""
    found = []
    for trainer in trainers:
        try:
            found.append(generator_iteration(trainer.page) if trainer.error is None else -1)
        except Exception:  # the fragment redraws every half second; a metric read mid-swap is not a failure
            found.append(-1)
    return found


def close(visitors: list[Visitor]) -> None:
    """Close each visitor's browser context: its websocket drops and the server may end its session."""
    for visitor in visitors:
        if visitor.page is not None:
            try:
                visitor.page.context.close()
            except Exception:  # already gone with a crashed tab
                pass
        visitor.page = None


def one_round(browser: Any, server: Server, args: argparse.Namespace, number: int) -> list[Phase]:
    phases: list[Phase] = []

    def record(phase: Phase) -> None:
        phases.append(phase)
        print(phase.line(), flush=True)

    sampling = arrive(browser, server, "/Sampling", args.sampling, "sampling")
    record(Phase(number, "sampling", rss(server), sampling))

    trainers = start_training(browser, server, args.trainers)
    before = iterations(trainers)
    time.sleep(args.hold)
    after = iterations(trainers)
    for trainer in trainers:
        if trainer.page is not None:
            trainer.exceptions = count(trainer.page, EXCEPTION)
    # A trainer beyond WGAN_MAX_TRAINERS has pressed Start but waits for a slot; the page says so.
    waiting = sum(bool(t.page is not None and count(t.page, "text=waits its turn")) for t in trainers)
    rates = [f"{(b - a) / args.hold:.2f}" if a >= 0 and b >= 0 else "-" for a, b in zip(before, after, strict=True)]
    note = f"hold_s={args.hold:g} iterations={','.join(map(str, after))} per_s={','.join(rates)} waiting={waiting}"
    record(Phase(number, "train", rss(server), trainers, note))

    if sampling:
        redrawn = redraw(sampling[0], "sampling_redraw", seed=100 + number)
        record(Phase(number, "sampling_redraw_while_training", rss(server), [redrawn]))

    toy = arrive(browser, server, "/Toy_distributions", args.toy, "toy")
    record(Phase(number, "toy", rss(server), toy))

    home = arrive(browser, server, "/", 1, "home")
    still = iterations(trainers)
    record(Phase(number, "home_while_training", rss(server), home, f"iterations={','.join(map(str, still))}"))

    close([*sampling, *trainers, *toy, *home])
    for wait, waited in ((5, 5), (25, 30)):
        time.sleep(wait)
        alive = "" if server.process.poll() is None else f"server_exited={server.process.returncode}"
        record(Phase(number, f"closed_{waited}s", rss(server), note=alive))
    return phases


def table(phases: list[Phase]) -> str:
    def number(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    rows = [
        "| round | phase | visitors | failed | exceptions | RSS MB | settle median s | settle max s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in phases:
        settles = phase.settles()
        median = statistics.median(settles) if settles else None
        counts = (len(phase.visitors), phase.failed(), phase.exceptions()) if phase.visitors else ("-",) * 3
        rows.append(
            f"| {phase.round} | {phase.name} | {' | '.join(map(str, counts))} | {number(phase.rss_mb, 0)} "
            f"| {number(median)} | {number(max(settles) if settles else None)} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.splitlines()[0])
    parser.add_argument("--sampling", type=int, default=4, help="visitors on the Sampling page")
    parser.add_argument("--trainers", type=int, default=2, help="visitors who press Start on the Train page")
    parser.add_argument("--toy", type=int, default=2, help="visitors on the Toy distributions page")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--hosted", dest="hosted", action="store_true", default=True, help="WGAN_HOSTED=1 (default)")
    mode.add_argument("--local", dest="hosted", action="store_false", help="WGAN_HOSTED=0")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds the trainers train before measuring")
    parser.add_argument("--data-root", default="../shared/data", help="MNIST for the trainers; relative to the repo")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the visits on the same server")
    args = parser.parse_args(argv)
    if args.rounds < 1 or min(args.sampling, args.trainers, args.toy) < 0 or args.hold < 0:
        parser.error("--rounds must be at least 1; counts and --hold at least 0")

    data_root = (REPO / args.data_root).resolve()  # an absolute --data-root stays as it is
    log_dir = Path(tempfile.mkdtemp(prefix="wgan-load-"))
    load = ",".join(f"{value:.2f}" for value in os.getloadavg())
    env = {"WGAN_HOSTED": "1" if args.hosted else "0", "WGAN_DATA_ROOT": str(data_root)}
    phases: list[Phase] = []
    with serve(log_dir, **env) as server, chromium() as browser:
        start = Phase(0, "start", rss(server))
        start.note = f"load_avg={load} cpus={os.cpu_count()} hosted={env['WGAN_HOSTED']} log={server.log_path}"
        phases.append(start)
        print(start.line(), flush=True)
        for number in range(1, args.rounds + 1):
            phases += one_round(browser, server, args, number)
    print()
    print(table(phases))
    failed = sum(phase.failed() for phase in phases)
    exceptions = sum(phase.exceptions() for phase in phases)
    print(f"\nfailures={failed} exceptions={exceptions} server_log={server.log_path}")
    return 1 if failed or exceptions else 0


if __name__ == "__main__":
    sys.exit(main())
