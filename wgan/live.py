"""A training run as the Training page drives it: short timed ticks, an optional GAN baseline in lockstep,
sample snapshots from the fixed noise and held-out checks, all plain data a UI can draw.

Nothing here knows about Streamlit: the page keeps a `LiveRun` in its session state and calls `tick()`
from a fragment a few times a second; tests call the same functions directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from wgan.config import PRESETS, TrainConfig
from wgan.data import DataUnavailableError, ImageData, load_images
from wgan.device import cpu_has_fast_bf16
from wgan.sampling import to_uint8
from wgan.train import TrainState, evaluate_holdout, init_state, sample, thin_oldest, train_chunk

MAX_HOLDOUT_POINTS = 1_000  # held-out checks kept per run (thinned like the history)
MAX_SNAPSHOTS = 120  # 64 uint8 28x28 grids each (~50 kB, twice with a baseline); thinned when exceeded


def baseline_config(config: TrainConfig) -> TrainConfig:
    """The GAN that the seed's four changes turn into `config`: the same run with the changes undone.

    Same seed (same initial weights and fixed noise), batch size and critic-step schedule, so the
    baseline draws exactly the same real batches and the same z as the WGAN, step for step. Only what
    the seed changes differs: a log-loss discriminator (sigmoid inside BCE-with-logits), no clipping or
    penalty, and Adam with momentum (the GAN preset's settings).
    """
    gan = PRESETS["gan"]
    return replace(
        config,
        preset=f"{config.preset}+gan-baseline",
        objective="gan",
        clip_value=0.0,
        gp_weight=0.0,
        optimizer=gan.optimizer,
        lr_critic=gan.lr_critic,
        lr_generator=gan.lr_generator,
        adam_beta1=gan.adam_beta1,
        adam_beta2=gan.adam_beta2,
    )


def load_training_data(dataset: str, root: str, split: str = "train") -> tuple[ImageData, str, str | None]:
    """The images for `dataset`, falling back to the offline digits when it cannot be read or downloaded.

    Returns (data, dataset actually used, note for the user or None).
    """
    try:
        return load_images(dataset, root=root, split=split), dataset, None
    except DataUnavailableError as error:
        if dataset == "digits-offline":
            raise
        reason = " ".join(str(error).split())  # download errors span lines; the page shows one
        reason = reason if len(reason) <= 160 else reason[:157] + "..."
        note = f"{dataset} could not be read or downloaded, so this run uses the 5,000 offline MNIST digits ({reason})"
        return load_images("digits-offline"), "digits-offline", note


def cpu_training_defaults(base: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Config changes that make `base` train fastest on this machine without changing what a step computes
    beyond float rounding: bf16 autocast on a CPU with AMX (weights stay fp32). Empty elsewhere.

    The command line, the benchmarks and the Training page all start from these (each shows them as a
    change from the preset, one `--set precision=fp32` away).
    """
    if device.type == "cpu" and base.precision == "fp32" and cpu_has_fast_bf16():
        return {"precision": "bf16"}
    return {}


@dataclass
class Snapshot:
    """Samples from the fixed noise at one generator iteration. images: uint8 [64, 28, 28]."""

    iteration: int
    images: np.ndarray
    baseline_images: np.ndarray | None = None


@dataclass
class LiveRun:
    """A WGAN run (and optionally its GAN baseline in lockstep) plus what the page shows about it."""

    state: TrainState
    baseline: TrainState | None = None
    target_epochs: float = 30.0
    snapshot_every: int = 25  # generator iterations between sample snapshots (and held-out checks)
    data_note: str | None = None
    snapshots: list[Snapshot] = field(default_factory=list)
    # Held-out check per snapshot: iteration, W estimate on training images and on held-out images.
    holdout: dict[str, list[float]] = field(default_factory=lambda: {"iteration": [], "w_train": [], "w_holdout": []})
    last_rate: float = 0.0  # real images per second over the last tick, both runs counted

    def __post_init__(self) -> None:
        if not self.snapshots:
            self.take_snapshot()

    @property
    def iteration(self) -> int:
        return self.state.iteration

    @property
    def epoch(self) -> float:
        return self.state.epoch

    @property
    def done(self) -> bool:
        return self.epoch >= self.target_epochs

    def seconds_per_epoch(self) -> float:
        """Wall seconds one epoch has taken so far (baseline included), nan before any training."""
        seconds = self.state.wall_seconds + (self.baseline.wall_seconds if self.baseline else 0.0)
        return seconds / self.epoch if self.epoch > 0 else float("nan")

    def eta_seconds(self) -> float:
        """Seconds left to `target_epochs` at the speed so far."""
        return max(0.0, self.target_epochs - self.epoch) * self.seconds_per_epoch()

    def tick(self, seconds: float, max_iterations: int = 10_000) -> int:
        """Train for about `seconds` (the baseline takes the same iterations after the WGAN), then snapshot.

        Returns the generator iterations done. At least one iteration runs, so a slow device still moves;
        seconds <= 0 means no time limit, just `max_iterations` (the page's Step button, tests).
        """
        if self.done:
            return 0
        share = seconds / 2 if self.baseline is not None else seconds
        result = train_chunk(self.state, max_iterations, max_seconds=share if share > 0 else None)
        total_seconds, images = result.seconds, result.images_per_s * result.seconds
        if self.baseline is not None and result.iterations:
            # Exactly as many iterations, so both runs stay on the same step (same batches, same z).
            base = train_chunk(self.baseline, result.iterations)
            total_seconds += base.seconds
            images += base.images_per_s * base.seconds
        self.last_rate = images / total_seconds if total_seconds > 0 else 0.0
        last = self.snapshots[-1].iteration if self.snapshots else -1
        if self.state.iteration // self.snapshot_every > last // self.snapshot_every or self.done:
            self.take_snapshot()
        return result.iterations

    def take_snapshot(self) -> None:
        """Record samples from the fixed noise and, when the run holds images out, the held-out check."""
        state = self.state
        if self.snapshots and self.snapshots[-1].iteration == state.iteration:
            return
        images = to_uint8(sample(state.sampler, state.fixed_noise))
        baseline_images = None
        if self.baseline is not None:
            baseline_images = to_uint8(sample(self.baseline.sampler, self.baseline.fixed_noise))
        self.snapshots.append(Snapshot(state.iteration, images, baseline_images))
        if len(self.snapshots) > MAX_SNAPSHOTS:
            # Keep the first and the newest; drop every other one in between (older ones thin out).
            self.snapshots = self.snapshots[:1] + self.snapshots[1:-1][1::2] + self.snapshots[-1:]
        checks = evaluate_holdout(state)
        if checks:
            self.holdout["iteration"].append(float(state.iteration))
            self.holdout["w_train"].append(checks["w_train"])
            self.holdout["w_holdout"].append(checks["w_holdout"])
            thin_oldest(self.holdout, MAX_HOLDOUT_POINTS)

    def snapshot_at(self, iteration: int) -> Snapshot:
        """The latest snapshot taken at or before `iteration` (the first one if none)."""
        chosen = self.snapshots[0]
        for snapshot in self.snapshots:
            if snapshot.iteration <= iteration:
                chosen = snapshot
        return chosen


def start_run(
    config: TrainConfig,
    data: ImageData,
    device: torch.device | str = "cpu",
    compare: bool = False,
    target_epochs: float = 30.0,
    snapshot_every: int = 25,
    data_note: str | None = None,
) -> LiveRun:
    """A fresh LiveRun of `config` on `data`; with compare=True also its GAN baseline (see baseline_config)."""
    state = init_state(config, data, device)
    baseline = init_state(baseline_config(config), data, device) if compare else None
    return LiveRun(state, baseline, target_epochs, max(1, snapshot_every), data_note)


def thin(n: int, max_points: int) -> slice:
    """A stride that keeps at most about `max_points` of `n` points (charts stay light on long runs)."""
    return slice(None, None, max(1, math.ceil(n / max_points)))
