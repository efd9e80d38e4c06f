"""A training run as the Training page drives it: short timed ticks, an optional GAN baseline in lockstep,
sample snapshots from the fixed noise and held-out checks, all plain data a UI can draw.

Nothing here knows about Streamlit: the page's `wgan.controller.RunController` holds a `LiveRun` and trains
it from a fragment (`train_for`, a few seconds at a time); tests call the same functions directly.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wgan.checkpoint import Checkpoint, restore_state
from wgan.config import PRESETS, TrainConfig
from wgan.data import DataUnavailableError, ImageData, load_images
from wgan.device import cpu_has_fast_bf16, describe_device
from wgan.sampling import generate, to_uint8
from wgan.train import (
    TrainingDiverged,
    TrainState,
    capture,
    evaluate_holdout,
    init_state,
    kept_rows,
    roll_back,
    thin_oldest,
    train_chunk,
)

MAX_HOLDOUT_POINTS = 1_000  # held-out checks kept per run (thinned like the history)
# The held-out check runs with every 4th snapshot only: it costs about three times what the samples do.
HOLDOUT_EVERY_SNAPSHOTS = 4
MAX_SNAPSHOTS = 120  # 64 uint8 28x28 grids each (~50 kB, twice with a baseline); thinned like the history


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
        lipschitz="none",
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
    beyond float rounding: bf16 autocast on a CPU with AMX or AVX512-BF16 (weights stay fp32). Empty elsewhere.

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


@dataclass(frozen=True)
class RunLimits:
    """Where a run stops besides its epochs: a host's caps per visitor (0 = no cap)."""

    max_iterations: int = 0
    max_seconds: float = 0.0


# What a new run on the page looks like unless the visitor changes it.
DEFAULT_TARGET_EPOCHS = 30.0
DEFAULT_SNAPSHOT_EVERY = 25  # generator iterations between sample snapshots


@dataclass
class LiveRun:
    """A WGAN run (and optionally its GAN baseline in lockstep) plus what the page shows about it."""

    state: TrainState
    baseline: TrainState | None = None
    target_epochs: float = DEFAULT_TARGET_EPOCHS
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    data_note: str | None = None
    limits: RunLimits = RunLimits()
    snapshots: list[Snapshot] = field(default_factory=list)
    # Held-out check per snapshot: iteration, W estimate on training images and on held-out images.
    holdout: dict[str, list[float]] = field(default_factory=lambda: {"iteration": [], "w_train": [], "w_holdout": []})
    last_rate: float = 0.0  # real images per second inside the last tick's training, both runs counted
    problem: str | None = None  # why the run stopped by itself (divergence), for the page to say
    # Wall-clock accounting while the run is meant to be training (ticks, drawing and waiting included),
    # so the page can show the rate a visitor actually gets, not only the rate inside a chunk.
    running_seconds: float = 0.0
    running_images: int = 0
    running_since: float | None = None
    last_active: float = field(default_factory=lambda: time.monotonic())
    # Held while the run trains (tick) or is saved. A press of Pause starts a new script run at once
    # (Streamlit's fast reruns) while the old one finishes its chunk, so a Step or Save in the new run
    # waits here instead of touching the models while another thread still updates them.
    busy: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

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
    def stop_reason(self) -> str | None:
        """Why the run cannot train further as it is, or None while it can."""
        if self.problem:
            return self.problem
        if self.epoch >= self.target_epochs:
            return f"reached its target of {self.target_epochs:g} epochs"
        return self._cap_reached()

    def _cap_reached(self) -> str | None:
        if self.limits.max_iterations and self.iteration >= self.limits.max_iterations:
            return f"reached this server's cap of {self.limits.max_iterations:,} generator iterations per run"
        if self.limits.max_seconds and self.state.wall_seconds >= self.limits.max_seconds:
            return f"used this server's cap of {self.limits.max_seconds / 60:g} training minutes per run"
        return None

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def can_extend(self) -> bool:
        """Stopped only by its own target (not by a host's cap or a divergence), so more epochs would train."""
        return not self.problem and self.epoch >= self.target_epochs and self._cap_reached() is None

    def extend(self, epochs: float = DEFAULT_TARGET_EPOCHS) -> None:
        """Move the target `epochs` past where the run stands, so a finished run can train on."""
        self.target_epochs = math.ceil(self.epoch) + epochs

    def seconds_per_epoch(self) -> float:
        """Wall seconds one epoch has taken so far (baseline included), nan before any training."""
        seconds = self.state.wall_seconds + (self.baseline.wall_seconds if self.baseline else 0.0)
        return seconds / self.epoch if self.epoch > 0 else float("nan")

    def eta_seconds(self) -> float:
        """Seconds left to `target_epochs` at the speed so far."""
        return max(0.0, self.target_epochs - self.epoch) * self.seconds_per_epoch()

    def start_clock(self) -> None:
        """The visitor pressed Start or Resume: wall time counts towards the whole-run rate from now."""
        self.running_since = time.monotonic()
        self.touch()

    def stop_clock(self) -> None:
        if self.running_since is not None:
            self.running_seconds += time.monotonic() - self.running_since
            self.running_since = None
        self.touch()

    def overall_rate(self) -> float:
        """Real images per second over the whole time the run was meant to train (0 before that)."""
        seconds = self.running_seconds + (time.monotonic() - self.running_since if self.running_since else 0.0)
        return self.running_images / seconds if seconds > 0 else 0.0

    def touch(self) -> None:
        self.last_active = time.monotonic()

    def idle_seconds(self) -> float:
        return time.monotonic() - self.last_active

    def tick(self, seconds: float, max_iterations: int = 10_000) -> int:
        """Train for about `seconds` (the baseline takes the same iterations after the WGAN), then snapshot.

        Returns the generator iterations done. At least one iteration runs, so a slow device still moves;
        seconds <= 0 means no time limit, just `max_iterations` (the page's Step button, tests). A chunk
        that produces NaN or inf is undone in both runs (they stay in lockstep); `problem` then says what
        happened and the run stops until `clear_problem`.
        """
        with self.busy:
            return self._tick(seconds, max_iterations)

    def _tick(self, seconds: float, max_iterations: int) -> int:
        if self.done:
            return 0
        self.touch()
        if self.limits.max_iterations:
            max_iterations = min(max_iterations, self.limits.max_iterations - self.iteration)
        share = seconds / 2 if self.baseline is not None else seconds
        before = capture(self.state) if self.baseline is not None else None
        try:
            result = train_chunk(self.state, max_iterations, max_seconds=share if share > 0 else None)
            total_seconds, images = result.seconds, result.images_per_s * result.seconds
            if self.baseline is not None and result.iterations:
                # Exactly as many iterations, so both runs stay on the same step (same batches, same z).
                base = train_chunk(self.baseline, result.iterations)
                total_seconds += base.seconds
                images += base.images_per_s * base.seconds
        except TrainingDiverged as error:
            baseline_failed = before is not None and self.state.iteration != before["counters"]["iteration"]
            if baseline_failed:
                roll_back(self.state, before)  # the WGAN went ahead before the baseline failed: undo it too
            self.problem = f"{'The GAN baseline: ' if baseline_failed else ''}{error}"
            return 0
        self.last_rate = images / total_seconds if total_seconds > 0 else 0.0
        self.running_images += round(images)
        last = self.snapshots[-1].iteration if self.snapshots else -1
        if self.state.iteration // self.snapshot_every > last // self.snapshot_every or self.done:
            self.take_snapshot()
        return result.iterations

    def train_for(self, seconds: float, chunk_seconds: float, after_chunk: Callable[[], None]) -> int:
        """Train for about `seconds` in ticks of at most `chunk_seconds`, calling `after_chunk` between two.

        The Training page's `after_chunk` writes a status line: the Streamlit call at which a script run
        that a press of Pause has replaced stops (Streamlit raises there), so it trains on for at most a
        chunk even when redraws come only every several seconds; the run's state is whole between ticks.
        At least one tick trains; returns the generator iterations done.
        """
        deadline = time.monotonic() + seconds
        iterations = 0
        while True:
            # tick(0) would mean "no time limit": a deadline already passed still gets a tiny positive budget.
            iterations += self.tick(max(min(chunk_seconds, deadline - time.monotonic()), 1e-9))
            if self.done or self.problem or time.monotonic() >= deadline:
                return iterations
            after_chunk()

    def clear_problem(self, lr_scale: float = 1.0) -> None:
        """Let a stopped run train again, optionally with every learning rate scaled (e.g. 0.5).

        The config records the new rates, so a saved run says what it trained with from here on.
        """
        self.problem = None
        if lr_scale != 1.0:
            for state in filter(None, (self.state, self.baseline)):
                scale_learning_rates(state, lr_scale)

    def _holdout_check_due(self) -> bool:
        """The first snapshot, the last, and one per HOLDOUT_EVERY_SNAPSHOTS snapshots' worth of iterations."""
        checked = self.holdout["iteration"]
        if not checked or self.done:
            return True
        period = self.snapshot_every * HOLDOUT_EVERY_SNAPSHOTS
        return self.state.iteration // period > int(checked[-1]) // period

    def take_snapshot(self) -> None:
        """Record samples from the fixed noise and, when the run holds images out and one is due, the held-out check."""
        state = self.state
        if self.snapshots and self.snapshots[-1].iteration == state.iteration:
            return
        images = to_uint8(generate(state.sampler, state.fixed_noise))
        baseline_images = None
        if self.baseline is not None:
            baseline_images = to_uint8(generate(self.baseline.sampler, self.baseline.fixed_noise))
        self.snapshots.append(Snapshot(state.iteration, images, baseline_images))
        self.snapshots = [self.snapshots[i] for i in kept_rows(len(self.snapshots), MAX_SNAPSHOTS)]
        checks = evaluate_holdout(state) if self._holdout_check_due() else {}
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


def scale_learning_rates(state: TrainState, factor: float) -> None:
    """Multiply both optimisers' learning rates by `factor`, in the optimisers and in the config."""
    for optimizer in (state.generator_optimizer, state.critic_optimizer):
        for group in optimizer.param_groups:
            group["lr"] *= factor
    state.config = replace(
        state.config, lr_critic=state.config.lr_critic * factor, lr_generator=state.config.lr_generator * factor
    )


def page_defaults(base: TrainConfig, device: torch.device) -> dict[str, Any]:
    """The Training page's starting changes to `base` on this machine, each shown as a change.

    On a CPU: this machine's fastest precision (`cpu_training_defaults`) and batch 64 instead of a larger
    preset batch, so a visitor sees digits form within the first minutes (at batch 512 a 2-core CPU does
    about one generator iteration per second). Nothing on a GPU.
    """
    changes = cpu_training_defaults(base, device)
    if device.type == "cpu" and base.batch_size > 64:
        changes["batch_size"] = 64
    return changes


def start_run(
    config: TrainConfig,
    data_root: str | Path,
    device: torch.device | str = "cpu",
    *,
    compare: bool = False,
    target_epochs: float = DEFAULT_TARGET_EPOCHS,
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    limits: RunLimits = RunLimits(),
    images: Callable[[str, str, str], tuple[ImageData, str, str | None]] | None = None,
) -> LiveRun:
    """A fresh LiveRun of `config`, with its data loaded from `data_root` (falling back to the offline
    digits, and then saying so in the config as well as in `data_note`); with compare=True also its GAN
    baseline (see baseline_config). `images` replaces `load_training_data` (a page's shared cache)."""
    data, used, note = (images or load_training_data)(config.dataset, str(data_root), config.split)
    if used != config.dataset:
        config = replace(config, dataset=used)
    state = init_state(config, data, device)
    baseline = init_state(baseline_config(config), data, device) if compare else None
    return LiveRun(
        state,
        baseline,
        target_epochs=target_epochs,
        snapshot_every=max(1, snapshot_every),
        data_note=note,
        limits=limits,
    )


def resume_run(
    checkpoint: Checkpoint,
    data_root: str | Path,
    device: torch.device | str = "cpu",
    *,
    limits: RunLimits = RunLimits(),
    images: Callable[[str, str, str], tuple[ImageData, str, str | None]] | None = None,
) -> LiveRun:
    """A LiveRun that continues a saved full run (its data found as `start_run` finds it; a fallback to the
    offline digits is written into the run's config, so later saves say what it really trained on)."""
    config = checkpoint.config
    data, used, note = (images or load_training_data)(config.dataset, str(data_root), config.split)
    state = restore_state(checkpoint, data, device)
    if used != config.dataset:
        state.config = replace(state.config, dataset=used)
    target = max(DEFAULT_TARGET_EPOCHS, math.ceil(state.epoch) + 10)
    return LiveRun(state, target_epochs=target, data_note=note, limits=limits)


def run_card(run: LiveRun, made_by: str) -> dict[str, Any]:
    """The card saved with a run from the page: where it came from and what it trained on."""
    return {
        "made_by": made_by,
        "data": run.state.data.source,
        "device": describe_device(run.state.device),
        "wall_seconds": round(run.state.wall_seconds, 1),
    }


def default_run_name(config: TrainConfig) -> str:
    return f"{config.preset}-{config.arch}-run"


def baseline_run_name(name: str) -> str:
    """The file name of a run's GAN baseline, saved beside it."""
    return f"{name}-gan-baseline"


