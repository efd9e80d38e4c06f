"""The fair race: the seed's training loop against ours, interleaved, medians with their spread.

    python -m benchmarks.bench --device cpu --baseline ../shared/reference/seed_wgan.py --data-root DIR
        [--rounds 3] [--max-steps N] [--set key=value ...] [--presets paper,gp] [--profile-steps 5]

Both sides are separate processes with the same command-line contract (`--data --epochs 2 --device
--max-steps`, a warm-up epoch, then `images_per_s=`): the seed's script as it is, and ours
(`benchmarks/train_rate.py`: the seed preset with this machine's training defaults, then `--set`).
A round runs the seed, then ours with the defaults, then ours in the other precision (fp32 against bf16),
so a machine that speeds up or slows down during the benchmark affects every side alike; each gets the
same thread count (OMP_NUM_THREADS and MKL_NUM_THREADS) and the same data. The summary gives each side's
median and range over the rounds and the speedups of the medians. The last line is always
`speedup=<ours with the defaults / seed>`.

On a CPU without native bf16 (no AMX, no AVX512-BF16) autocast emulates bf16, and a round in it takes
minutes that say nothing about the code: there ours runs in fp32 only, with fewer iterations per epoch
(`plan_race`), so the defaults finish in under five minutes on a slow 2-core host, and one line says so.

`--presets` adds the generator iterations per second of other presets (ours only: the seed has none;
steady state, critic warm-up off),
`--profile-steps` a profile of where our default step spends its time. Needs MNIST's train split in the
data root: `python ../shared/data/make_mnist60k_for_timing.py /tmp/mnist60k` builds a timing set.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

OURS = Path(__file__).with_name("train_rate.py")
RATE = re.compile(r"^images_per_s=([0-9.]+)$", re.MULTILINE)
ITERATIONS = re.compile(r"^iterations_per_s=([0-9.]+)$", re.MULTILINE)
PROFILE = re.compile(r"^profile_(\w+)_ms=([0-9.]+)$", re.MULTILINE)


DEFAULT_ROUNDS = 3
CPU_STEPS = 30  # iterations per timed epoch on a CPU with native bf16 (three sides a round)
# Without native bf16: two sides a round, on hosts that are slower in fp32 too. At this count the defaults
# take about four minutes on a 2-core host twice as slow as an Intel Xeon with AMX (docs/performance.md).
CPU_STEPS_FP32_ONLY = 12
NO_NATIVE_BF16 = (
    "bf16 not timed: this CPU has no native bf16 (no AMX or AVX512-BF16), so autocast would emulate it, "
    "minutes a round that say nothing about the code; ours runs in fp32 only"
)


@dataclass(frozen=True)
class Plan:
    """What a race times: our precisions (the default first), iterations per timed epoch, and why bf16 is
    left out (empty when it is not)."""

    precisions: tuple[str, ...]
    max_steps: int
    note: str = ""


def plan_race(device: str, default_precision: str, native_bf16: bool, max_steps: int | None = None) -> Plan:
    """The race for a device whose CPU has native bf16 matrix instructions or not (`native_bf16`, which only
    matters when device is "cpu"): both precisions where bf16 is native or on a GPU, only the default where
    it would be emulated. max_steps None: whole epochs on a GPU, CPU_STEPS or CPU_STEPS_FP32_ONLY on a CPU."""
    other = "fp32" if default_precision == "bf16" else "bf16"
    fp32_only = device == "cpu" and not native_bf16
    if max_steps is None:
        max_steps = 0 if device != "cpu" else CPU_STEPS_FP32_ONLY if fp32_only else CPU_STEPS
    if fp32_only:
        return Plan((default_precision,), max_steps, NO_NATIVE_BF16)
    return Plan((default_precision, other), max_steps)


def cpu_has_native_bf16() -> bool:
    """Whether this machine's CPU has AMX or AVX512-BF16 (`wgan.device.cpu_has_fast_bf16`)."""
    from wgan.device import cpu_has_fast_bf16

    return cpu_has_fast_bf16()


class BenchError(RuntimeError):
    """A side failed or printed no rate; one line."""


@dataclass
class Side:
    """One contestant: a label, the script it runs and the extra arguments it gets."""

    label: str
    script: Path
    extra: list[str] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)

    def summary(self) -> str:
        median = statistics.median(self.rates)
        return f"{self.label}: median {median:,.1f} images/s (min {min(self.rates):,.1f}, max {max(self.rates):,.1f})"


def threads_for(device: str) -> int:
    """The thread count both sides get: our library's choice for this machine (CPU quota aware)."""
    if device != "cpu":
        return 1
    from wgan.device import available_cpus

    threads = available_cpus()
    explicit = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(explicit)) if explicit.isdigit() and int(explicit) > 0 else threads


def run_side(side: Side, common: list[str], env: dict[str, str]) -> str:
    """Run one side once; its output, after checking it printed a rate."""
    command = [sys.executable, str(side.script), *common, *side.extra]
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    found = RATE.search(completed.stdout)
    if completed.returncode != 0 or not found:
        detail = (completed.stderr.strip() or completed.stdout.strip())[-300:]
        raise BenchError(f"{side.label} failed (exit {completed.returncode}): {detail}")
    side.rates.append(float(found.group(1)))
    return completed.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline", default="../shared/reference/seed_wgan.py", help="the seed's training script")
    parser.add_argument("--ours", default=str(OURS), help="our side (same command line as the baseline)")
    parser.add_argument("--data-root", default="data", help="must hold MNIST/raw with the train split")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="seed, ours, ours-other-precision: so often")
    steps = f"iterations per epoch (default: {CPU_STEPS} on a CPU, {CPU_STEPS_FP32_ONLY} without native bf16)"
    parser.add_argument("--max-steps", type=int, default=None, help=steps)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change our side only, e.g. --set layout=contiguous")  # fmt: skip
    parser.add_argument("--presets", default="", help="also time these presets (ours), e.g. paper,gp")
    parser.add_argument("--profile-steps", type=int, default=5, help="profile this many default steps (0: none)")
    args = parser.parse_args(argv)
    try:
        return race(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def race(args: argparse.Namespace) -> int:
    baseline, ours = Path(args.baseline), Path(args.ours)
    for script in (baseline, ours):
        if not script.is_file():
            raise BenchError(f"{script}: script not found")
    if args.rounds < 1:
        raise BenchError("--rounds must be at least 1")
    threads = threads_for(args.device)
    repo = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
    }
    default_precision = our_default_precision(args.device, args.overrides)
    native_bf16 = args.device != "cpu" or cpu_has_native_bf16()
    plan = plan_race(args.device, default_precision, native_bf16, args.max_steps)
    max_steps = plan.max_steps
    common = ["--data", args.data_root, "--epochs", "2", "--device", args.device, "--max-steps", str(max_steps)]
    sets = [item for override in args.overrides for item in ("--set", override)]
    seed = Side("seed loop", baseline)
    default = Side(f"ours ({default_precision}, the default here)", ours, sets)
    others = [Side(f"ours ({p})", ours, [*sets, "--set", f"precision={p}"]) for p in plan.precisions[1:]]
    if plan.note:
        print(plan.note, flush=True)
    contestants = ", ".join(["seed", "ours", *(f"ours {p}" for p in plan.precisions[1:])])
    print(f"{args.rounds} rounds of: {contestants}; {threads} threads each; {max_steps} "
          f"iterations per timed epoch; data {args.data_root}", flush=True)  # fmt: skip
    for round_index in range(args.rounds):
        for side in (seed, default, *others):
            run_side(side, common, env)
            print(f"round {round_index + 1}: {side.label}: {side.rates[-1]:,.1f} images/s", flush=True)

    for name in filter(None, (name.strip() for name in args.presets.split(","))):
        # Steady state only: the paper preset's critic warm-up (100 critic steps per iteration at first) is off.
        preset_side = Side(f"ours, {name} preset", ours, ["--preset", name, "--set", "critic_warmup=false", *sets])
        steps = ["--max-steps", str(2 * max_steps)] if max_steps else []
        output = run_side(preset_side, [*common[:-2], *steps], env)
        print(f"{name} preset: {float(ITERATIONS.search(output).group(1)):.2f} generator iterations/s "
              f"({preset_side.rates[-1]:,.1f} images/s)", flush=True)  # fmt: skip

    if args.profile_steps > 0:
        profile_side = Side("ours, profiled", ours, [*sets, "--profile", str(args.profile_steps)])
        output = run_side(profile_side, common, env)
        phases = dict((name, float(ms)) for name, ms in PROFILE.findall(output))
        step = phases.pop("step", float("nan"))
        parts = ", ".join(f"{name} {ms:.1f} ms ({ms / step:.0%})" for name, ms in phases.items())
        print(f"profile of our default step ({args.profile_steps} steps, profiler on): {step:.1f} ms per step: {parts}")

    seed_median = statistics.median(seed.rates)
    print("summary (medians over the rounds):")
    for side in (seed, default, *others):
        print(f"  {side.summary()}; {statistics.median(side.rates) / seed_median:.2f}x the seed")
    print(f"seed_images_per_s={seed_median:.1f}")
    print(f"ours_images_per_s={statistics.median(default.rates):.1f}")
    for precision, side in zip(plan.precisions[1:], others, strict=True):
        print(f"ours_{precision}_images_per_s={statistics.median(side.rates):.1f}")
    print(f"speedup={statistics.median(default.rates) / seed_median:.3f}")
    return 0


def our_default_precision(device: str, overrides: list[str]) -> str:
    """The precision our side trains in without a --set: what wgan.live.cpu_training_defaults picks."""
    for override in overrides:
        key, _, value = override.partition("=")
        if key.strip() == "precision":
            return value.strip()
    import torch

    from wgan.config import preset
    from wgan.live import cpu_training_defaults

    return cpu_training_defaults(preset("seed"), torch.device(device)).get("precision", "fp32")


if __name__ == "__main__":
    sys.exit(main())
