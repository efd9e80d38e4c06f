"""Our side of the race: the library's training loop behind the seed script's own command line.

    python -m benchmarks.train_rate --data ROOT [--epochs 2] [--device cpu] [--max-steps N]
                                    [--preset seed] [--set key=value ...] [--profile STEPS]
                                    [--dataset mnist] [--split train] [--phases]

Same contract as shared/reference/seed_wgan.py, so `benchmarks.bench` runs both the same way: MNIST's
train split from ROOT (nothing downloaded), one line per epoch, the first epoch a warm-up when more than
one runs, then `images_per_s=<float>` (real images through the critic per second over the timed epochs)
and `iterations_per_s=<float>` (generator iterations per second). `--max-steps N` stops each epoch after
N generator iterations. The config is the preset with this CPU's training defaults
(`wgan.live.cpu_training_defaults`: bf16 where the CPU has AMX or AVX512-BF16) and then `--set`, with no
held-out images, as the seed holds none out. `--dataset`/`--split` pick other images (benchmarks.page_run).

`--profile STEPS` then profiles that many more steps and prints where they spent their time, by the
phases `wgan.train` labels (data, forward, backward, optimizer, metrics), as `profile_<phase>_ms=` lines.
`--phases` trains on command instead (benchmarks.page_run, which alternates this loop with the page): for
each line SECONDS read from stdin it trains that long and prints
`iterations_per_s=<float> images_per_s=<float> iteration=<int>`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace

import torch

from wgan.config import apply_overrides, preset
from wgan.data import load_images
from wgan.device import pick_device, tune_cpu_allocator
from wgan.live import cpu_training_defaults
from wgan.train import TrainState, init_state, train_chunk, train_step

PHASES = ("data", "forward", "backward", "optimizer", "metrics")


def build_state(args: argparse.Namespace) -> TrainState:
    device = pick_device(args.device)
    if device.type == "cpu":
        tune_cpu_allocator()  # as `python -m wgan train` does
    data = load_images(args.dataset, args.data, args.split, download=False)
    config = replace(preset(args.preset, holdout_size=0), **cpu_training_defaults(preset(args.preset), device))
    config = apply_overrides(config, args.overrides)
    return init_state(config, data, device)


def profile_phases(state: TrainState, steps: int) -> dict[str, float]:
    """Milliseconds per generator iteration spent in each labelled phase (the rest is Python between them)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if state.device.type == "cuda" else [])
    started = time.perf_counter()
    with profile(activities=activities) as profiler:
        for _ in range(steps):
            train_step(state)
        if state.device.type == "cuda":
            torch.cuda.synchronize(state.device)
    wall_ms = (time.perf_counter() - started) * 1000 / steps
    totals = {phase: 0.0 for phase in PHASES}
    for event in profiler.key_averages():
        phase = event.key.removeprefix("wgan.")
        if event.key.startswith("wgan.") and phase in totals:
            totals[phase] += event.cpu_time_total / 1000 / steps  # microseconds -> ms per step
    totals["other"] = max(0.0, wall_ms - sum(totals.values()))
    totals["step"] = wall_ms
    return totals


def train_phases(state: TrainState) -> int:
    """Train for SECONDS per stdin line, one rate line each, until stdin closes. In between the process
    waits on its input, idle, so it can take turns with another loop on the same cores."""
    for line in sys.stdin:
        result = train_chunk(state, 1 << 30, max_seconds=float(line))
        rates = f"iterations_per_s={result.iterations / result.seconds:.3f} images_per_s={result.images_per_s:.1f}"
        print(f"{rates} iteration={state.iteration}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--dataset", default="mnist", help="what benchmarks.page_run trained on, for instance")
    parser.add_argument("--split", default="train")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-steps", type=int, default=0, help="generator iterations per epoch (0: a whole epoch)")
    parser.add_argument("--preset", default="seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--profile", type=int, default=0, metavar="STEPS")
    parser.add_argument("--phases", action="store_true", help="train SECONDS for each line SECONDS on stdin")
    args = parser.parse_args(argv)

    state = build_state(args)
    if args.phases:
        return train_phases(state)
    config = state.config
    per_epoch = args.max_steps or math.ceil(len(state.data) / (config.batch_size * config.n_critic))
    print(
        f"ours: {config.preset} preset, batch {config.batch_size}, n_critic {config.n_critic}, "
        f"precision {config.precision}, layout {config.layout}, {torch.get_num_threads()} threads",
        flush=True,
    )
    timed_images, timed_iterations, timed_seconds = 0, 0, 0.0
    for epoch in range(args.epochs):
        result = train_chunk(state, per_epoch)
        images = result.images_per_s * result.seconds
        print(f"epoch {epoch}: {images:.0f} images in {result.seconds:.3f} s ({result.images_per_s:.0f} images/s)")
        if epoch > 0 or args.epochs == 1:
            timed_images += images
            timed_iterations += result.iterations
            timed_seconds += result.seconds
    print(f"iterations_per_s={timed_iterations / timed_seconds:.3f}")
    if args.profile:
        for phase, ms in profile_phases(state, args.profile).items():
            print(f"profile_{phase}_ms={ms:.2f}")
    print(f"images_per_s={timed_images / timed_seconds:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
