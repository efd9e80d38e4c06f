"""Time from pressing Start to recognisable digits, on the Training page's defaults.

    python -m benchmarks.time_to_quality --data-root ../shared/data --split test
        [--budget 120] [--marks 15,30,60,90,120] [--precision fp32|bf16|auto] [--threads N]
        [--presets page,seed] [--samples 5000] [--device cpu]

It trains what Start trains: the page's default preset with the page's own changes for this machine
(`wgan.live.page_defaults`), started by `wgan.live.start_run` and driven by the page's run controller in
the page's ticks (`wgan.controller.RunController.train`). The clock runs only while the controller
trains: at each mark it stops, FID-MNIST (against the split's real images) and the digit classes covered
are measured from `--samples` samples, and the clock goes on. Evaluation is outside the clock.

Beside the page's default it runs each preset named in `--presets` (`seed` is the blog post's recipe on
its own models) under the same budget, precision and threads, so the table reads as a ratio. Prints a
table per run, then one summary row per run, and last, for the page's default:

    seconds_to_fid50=<seconds at the first mark with FID-MNIST <= 50 and 10 classes, or inf>
    fid_at_60s=<FID-MNIST at the 60 s mark>
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from wgan.classifier import load_classifier
from wgan.config import PAGE_DEFAULT_PRESET, PRESETS, ConfigError, TrainConfig
from wgan.controller import RunController, RunStatus, tick_seconds
from wgan.data import DataUnavailableError, load_images
from wgan.device import configure_cpu_threads, cpu_has_fast_bf16, describe_device, pick_device
from wgan.live import cpu_training_defaults, page_defaults, start_run
from wgan.metrics import FID_BAR, evaluate_generator, reference_statistics
from wgan.paths import SHIPPED_CLASSIFIER

ALL_CLASSES = 10


@dataclass(frozen=True)
class Mark:
    """The run as it stood when the training clock reached a mark."""

    mark: float  # the mark asked for (seconds)
    seconds: float  # training seconds on the clock (a tick can end a little past its mark)
    iteration: int
    fid_mnist: float
    classes: int


def race(
    train_for: Callable[[float], int],
    evaluate: Callable[[], tuple[float, int]],
    marks: Sequence[float],
    iteration: Callable[[], int],
    clock: Callable[[], float] = time.perf_counter,
) -> list[Mark]:
    """Train up to each mark on a clock that runs only inside `train_for`, and evaluate at each mark.

    train_for(seconds) trains for about that long; evaluate() returns (FID-MNIST, classes covered) of the
    run as it stands. A train_for that trains nothing (a run that stopped for good) ends the race early.
    """
    elapsed, results = 0.0, []
    for mark in sorted(marks):
        while elapsed < mark:
            start = clock()
            done = train_for(mark - elapsed)
            elapsed += clock() - start
            if not done:
                break
        fid, classes = evaluate()
        results.append(Mark(mark, elapsed, iteration(), fid, classes))
        if elapsed < mark:  # the run cannot train further
            break
    return results


def seconds_to_bar(marks: Sequence[Mark], bar: float = FID_BAR) -> float:
    """Training seconds at the first mark with FID-MNIST <= bar and every class covered; inf if none."""
    return next((m.seconds for m in marks if m.fid_mnist <= bar and m.classes >= ALL_CLASSES), math.inf)


def fid_at(marks: Sequence[Mark], seconds: float) -> float:
    """FID-MNIST at the mark for `seconds` (nan when the race has no such mark)."""
    return next((m.fid_mnist for m in marks if m.mark == seconds), math.nan)


def race_config(name: str, device: torch.device, precision: str) -> TrainConfig:
    """What the race trains for `name`: the page's default preset as the Training page's Start trains it on
    `device` (`page_defaults`), any other preset as `python -m wgan train --preset NAME` does (so "seed" is
    the blog post's recipe, batch 512); `precision` "auto" takes the page's choice for this machine."""
    base = PRESETS[name]
    config = replace(base, **page_defaults(base, device)) if name == PAGE_DEFAULT_PRESET else base
    if precision == "auto":  # this machine's fastest, as the page picks it
        return replace(config, **cpu_training_defaults(base, device))
    return replace(config, precision=precision)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what the platform module says."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            line = next((line for line in handle if line.startswith("model name")), "")
    except OSError:
        line = ""
    return line.partition(":")[2].strip() or platform.processor() or platform.machine()


def controller_trainer(controller: RunController) -> Callable[[float], int]:
    """train_for for `race`: the page's ticks (at most `tick_seconds` each), as its fragment calls them."""
    tick = tick_seconds(controller.run.state.device.type)

    def train_for(seconds: float) -> int:
        if controller.status is RunStatus.FINISHED:  # the page's "Train 30 more epochs"
            controller.extend()
        if not controller.training:
            return 0
        run = controller.run
        before = run.iteration
        while controller.training and seconds > 0:
            start = time.perf_counter()
            controller.train(min(tick, seconds), after_chunk=lambda: None)
            seconds -= time.perf_counter() - start
        return run.iteration - before

    return train_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.time_to_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--split", default="train", choices=("train", "test"), help="MNIST split to train on")
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds per run")
    parser.add_argument("--marks", default="15,30,60,90,120", help="seconds at which to measure (up to --budget)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the CPU quota)")
    parser.add_argument("--presets", default="page,seed", help="'page' (the page's default) and preset names")
    parser.add_argument("--samples", type=int, default=5000, help="samples per FID-MNIST measurement")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    marks = sorted({float(m) for m in args.marks.split(",") if float(m) <= args.budget} | {args.budget})
    names = [PAGE_DEFAULT_PRESET if name == "page" else name for name in args.presets.split(",")]
    unknown = [name for name in names if name not in PRESETS]
    if unknown:
        print(f"error: unknown preset(s) {', '.join(unknown)}; choose from page, {', '.join(PRESETS)}", file=sys.stderr)
        return 2
    device = pick_device(args.device)
    threads = configure_cpu_threads(args.threads)
    if args.precision == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16():
        print("error: this CPU has no native bf16 (AMX or AVX512-BF16); bf16 would be emulated: use fp32")
        return 2
    try:
        real = load_images("mnist", args.data_root, args.split, download=False)
    except DataUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    classifier = load_classifier(SHIPPED_CLASSIFIER).model
    reference = reference_statistics(classifier, real.images)
    print(f"# {describe_device(device)}; {cpu_model()}; torch threads {threads}; "
          f"precision {args.precision}; budget {args.budget:g} s; FID-MNIST from {args.samples:,} samples against "
          f"the {len(real):,} images of MNIST's {args.split} split (evaluation outside the clock)")

    summary: dict[str, list[Mark]] = {}
    for name in dict.fromkeys(names):
        try:
            config = replace(race_config(name, device, args.precision), split=args.split)
        except ConfigError as error:
            print(f"error: {name}: {error}", file=sys.stderr)
            return 2
        run = start_run(config, args.data_root, device, images=lambda *_: (real, "mnist", None))
        controller = RunController()
        controller.start(run)

        def evaluate(state=run.state) -> tuple[float, int]:
            report = evaluate_generator(state.sampler, classifier, reference, n=args.samples, seed=0)
            return report.fid_mnist, report.classes_covered

        results = race(controller_trainer(controller), evaluate, marks, lambda run=run: run.iteration)
        summary[name] = results
        print(f"\n## {name}: {config.method}, {config.arch} models, batch {config.batch_size}, "
              f"lr_critic {config.lr_critic:g}, lr_generator {config.lr_generator:g}, precision {config.precision}")
        print("| mark (s) | training s | iteration | it/s | FID-MNIST | classes |")
        print("|---|---|---|---|---|---|")
        for m in results:
            print(f"| {m.mark:g} | {m.seconds:.1f} | {m.iteration:,} | {m.iteration / max(m.seconds, 1e-9):.1f} "
                  f"| {m.fid_mnist:.1f} | {m.classes} |")

    print("\n| run | seconds to FID-MNIST <= 50, 10 classes | FID-MNIST at 60 s | last FID-MNIST | iterations |")
    print("|---|---|---|---|---|")
    for name, results in summary.items():
        print(f"| {name} | {seconds_to_bar(results):.1f} | {fid_at(results, 60.0):.1f} | "
              f"{results[-1].fid_mnist:.1f} | {results[-1].iteration:,} |")
    default = summary[names[0]] if names[0] == PAGE_DEFAULT_PRESET else summary.get(PAGE_DEFAULT_PRESET)
    if default is not None:
        print(f"seconds_to_fid50={seconds_to_bar(default):.1f}")
        print(f"fid_at_60s={fid_at(default, 60.0):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
