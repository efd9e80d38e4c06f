"""A recorded training run: what a visitor can watch from noise to digits before their own run gets there.

`python -m wgan train --record FILE` writes one while it trains: a sample grid from the run's fixed noise
every `every` generator iterations with the training seconds it was taken at, and at the end the run's
W-estimate curve and its FID-MNIST points. Plain tensors and lists in a dict, read back with
`torch.load(weights_only=True)`: a few MB for a few thousand iterations (one frame is 64 x 28 x 28 bytes).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wgan.config import ConfigError, TrainConfig
from wgan.sampling import generate, to_uint8
from wgan.train import TrainState, kept_rows

FORMAT = "wgan-recording"
FORMAT_VERSION = 1
MAX_CURVE_POINTS = 2_000  # the W curve is kept at this many points at most (`wgan.train.kept_rows`)


class RecordingError(ValueError):
    """A file is not a readable recording; the message says which file and why (one line)."""


@dataclass
class Recording:
    """Frames of one run's fixed-noise samples, and its curves."""

    config: TrainConfig
    card: dict[str, Any] = field(default_factory=dict)  # where it ran: device, data, command
    iterations: list[int] = field(default_factory=list)  # one per frame, increasing
    seconds: list[float] = field(default_factory=list)  # training seconds when each frame was taken
    frames: list[np.ndarray] = field(default_factory=list)  # uint8 [64, 28, 28] each
    curves: dict[str, list[float]] = field(default_factory=dict)  # "iteration", "w_estimate"
    quality: dict[str, list[float]] = field(default_factory=dict)  # the run's FID-MNIST points

    def next_due(self, state: TrainState, every: int) -> int:
        """The generator iteration of the next frame: `every` after the last one (now, before the first)."""
        return self.iterations[-1] + every if self.iterations else state.iteration

    def due(self, state: TrainState, every: int) -> bool:
        """Whether `state` has reached the next frame."""
        return state.iteration >= self.next_due(state, every)

    def add_frame(self, state: TrainState) -> None:
        """The samples of `state`'s fixed noise now (as the page's snapshots draw them), and the clock."""
        if self.iterations and self.iterations[-1] == state.iteration:
            return
        self.iterations.append(state.iteration)
        self.seconds.append(round(state.wall_seconds, 2))
        self.frames.append(to_uint8(generate(state.sampler, state.fixed_noise)))

    def drop_after(self, iteration: int) -> None:
        """Forget frames taken after `iteration` (a resumed run goes on from its checkpoint, not from them)."""
        keep = bisect.bisect_right(self.iterations, iteration)
        del self.iterations[keep:], self.seconds[keep:], self.frames[keep:]

    def finish(self, state: TrainState) -> None:
        """Copy the run's W curve (thinned to MAX_CURVE_POINTS) and its FID-MNIST points."""
        columns = state.history.columns
        keep = kept_rows(len(columns.get("iteration", ())), MAX_CURVE_POINTS)
        names = [name for name in ("iteration", "w_estimate") if name in columns]
        self.curves = {name: [columns[name][i] for i in keep] for name in names}
        self.quality = {name: list(values) for name, values in state.quality.items()}

    def frame_at(self, iteration: int) -> int:
        """Index of the last frame taken at or before `iteration` (the first frame for anything earlier)."""
        return max(0, bisect.bisect_right(self.iterations, iteration) - 1)

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "card": dict(self.card),
            "iterations": list(self.iterations),
            "seconds": list(self.seconds),
            "frames": torch.from_numpy(np.stack(self.frames)) if self.frames else torch.zeros(0, 64, 28, 28),
            "curves": self.curves,
            "quality": self.quality,
        }


def save_recording(recording: Recording, path: str | Path) -> Path:
    """Write `recording` to `path` (through a temporary file, so a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    torch.save(recording.to_payload(), partial)
    partial.replace(path)
    return path


def load_recording(path: str | Path) -> Recording:
    """Read a recording written by `save_recording`; any problem is a one-line RecordingError."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unreadable: missing, truncated, not a torch file, unsafe content
        raise RecordingError(f"{path}: not a readable recording ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RecordingError(f"{path}: not a wgan recording")
    if payload.get("format_version") != FORMAT_VERSION:
        raise RecordingError(f"{path}: recording version {payload.get('format_version')!r}, this code reads 1")
    try:
        config = TrainConfig.from_dict(payload["config"])
        frames = payload["frames"]
        iterations, seconds = list(payload["iterations"]), list(payload["seconds"])
        if frames.dtype != torch.uint8 or frames.shape[0] != len(iterations) or len(seconds) != len(iterations):
            raise ValueError("frames, iterations and seconds do not match")
        return Recording(
            config=config,
            card=dict(payload.get("card", {})),
            iterations=[int(i) for i in iterations],
            seconds=[float(s) for s in seconds],
            frames=list(frames.numpy()),
            curves={k: list(v) for k, v in payload.get("curves", {}).items()},
            quality={k: list(v) for k, v in payload.get("quality", {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as error:
        raise RecordingError(f"{path}: bad recording ({error})") from None
