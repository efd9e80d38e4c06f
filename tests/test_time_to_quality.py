"""The time-to-quality benchmark: its clock stops for evaluation, and it trains what the page's Start trains."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from benchmarks import time_to_quality as ttq
from wgan.config import PAGE_DEFAULT_PRESET, PRESETS
from wgan.live import page_defaults


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_clock_runs_only_while_training():
    clock, calls, iterations = FakeClock(), [], [0]

    def train_for(seconds: float) -> int:
        calls.append(("train", clock.now, seconds))
        clock.now += min(seconds, 4.0)  # a trainer that stops after 4 s ticks, as the page's do
        iterations[0] += 10
        return 10

    def evaluate() -> tuple[float, int]:
        calls.append(("evaluate", clock.now))
        clock.now += 100.0  # slower than all the training: counted, it would swallow the next mark
        return 40.0, 10

    marks = ttq.race(train_for, evaluate, [10.0, 5.0], lambda: iterations[0], clock)

    assert [(m.mark, m.seconds, m.iteration) for m in marks] == [(5.0, 5.0, 20), (10.0, 10.0, 40)]
    asked = [call[2] for call in calls if call[0] == "train"]
    assert asked == [5.0, 1.0, 5.0, 1.0]  # after each evaluation, the trainer is asked for what is left
    assert [call[0] for call in calls] == ["train", "train", "evaluate", "train", "train", "evaluate"]


def test_a_run_that_cannot_train_further_ends_the_race():
    clock = FakeClock()

    def train_for(seconds: float) -> int:
        clock.now += 1.0
        return 0 if clock.now > 3 else 1

    marks = ttq.race(train_for, lambda: (60.0, 10), [2.0, 10.0, 20.0], lambda: 0, clock)
    assert [m.mark for m in marks] == [2.0, 10.0]  # measured where it stopped, then no more marks


def test_seconds_to_bar_needs_the_fid_and_every_class():
    def mark(seconds: float, fid: float, classes: int) -> ttq.Mark:
        return ttq.Mark(seconds, seconds + 0.2, 0, fid, classes)

    marks = [mark(15, 300, 10), mark(30, 45, 9), mark(60, 49.9, 10), mark(90, 30, 10)]
    assert ttq.seconds_to_bar(marks) == pytest.approx(60.2)
    assert ttq.seconds_to_bar(marks[:2]) == math.inf
    assert ttq.fid_at(marks, 60.0) == 49.9
    assert math.isnan(ttq.fid_at(marks, 45.0))


def test_the_race_trains_what_the_page_starts():
    cpu = torch.device("cpu")
    page = PRESETS[PAGE_DEFAULT_PRESET]
    assert ttq.race_config(PAGE_DEFAULT_PRESET, cpu, "auto") == replace(page, **page_defaults(page, cpu))
    assert ttq.race_config(PAGE_DEFAULT_PRESET, cpu, "fp32").precision == "fp32"
    seed = ttq.race_config("seed", cpu, "fp32")
    assert seed == replace(PRESETS["seed"], precision="fp32")  # the blog post's recipe, batch 512, untouched


def test_the_benchmark_runs_end_to_end_through_the_page_controller(mnist_root, capsys):
    code = ttq.main(
        ["--data-root", str(mnist_root), "--budget", "1", "--marks", "0.5,1", "--samples", "50",
         "--presets", "page", "--threads", "1"]  # fmt: skip
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"## {PAGE_DEFAULT_PRESET}:" in out
    last_two = out.strip().splitlines()[-2:]
    assert last_two[0].startswith("seconds_to_fid50=") and last_two[1].startswith("fid_at_60s=")
    rows = [line for line in out.splitlines() if line.startswith("| 0.5 |") or line.startswith("| 1 |")]
    assert len(rows) == 2 and all(int(row.split("|")[3].replace(",", "")) >= 1 for row in rows)
