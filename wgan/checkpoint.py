"""Checkpoints: one plain dict of tensors and primitives, written atomically, read with weights_only=True.

A full checkpoint resumes a run exactly (both optimisers, counters, fixed noise, random-stream states and
the metric history); a generator-only checkpoint (`export_generator`) holds what sampling needs. Both load
through `load_checkpoint`, the one loading function the command line and every page use. It never
unpickles code: a file carrying anything but tensors and primitives is refused with a one-line error.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wgan.config import TrainConfig
from wgan.data import ImageData
from wgan.models import Generator, build_generator
from wgan.paths import SHIPPED_DIR
from wgan.train import History, TrainState, build_models, capture, init_state, roll_back

FORMAT = "wgan-checkpoint"
FORMAT_VERSION = 1
FULL_KEYS = {
    "generator",
    "critic",
    "generator_optimizer",
    "critic_optimizer",
    "counters",
    "rng",
    "history",
}


class CheckpointError(RuntimeError):
    """A checkpoint could not be read or does not fit; the message is one line naming file and problem."""


class ForeignFileError(CheckpointError):
    """The file reads but is not a wgan checkpoint (no format marker): someone else's .pt, not a damaged one of ours."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: its path, config and raw dict (tensors on the CPU)."""

    path: Path
    config: TrainConfig
    payload: dict[str, Any]

    @property
    def full(self) -> bool:
        """True when it can resume training, False for a generator-only (sampling) checkpoint."""
        return FULL_KEYS <= self.payload.keys()

    @property
    def iteration(self) -> int:
        return int(self.payload.get("counters", {}).get("iteration", self.payload.get("iteration", 0)))

    @property
    def card(self) -> dict[str, Any]:
        """Free-form facts about how it was made (data, command, wall time, device)."""
        return dict(self.payload.get("card", {}))


def state_payload(state: TrainState, card: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plain dict that `save_checkpoint` writes for a run (tensors moved to the CPU).

    The run's state is `wgan.train.capture`'s record, under its keys (weights, optimisers, "rng",
    "counters"), beside the config, fixed noise, history, quality points and card.
    """
    state.history.flush()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": state.config.to_dict(),
        **_cpu(capture(state)),
        "fixed_noise": state.fixed_noise.cpu(),
        "history": {name: list(values) for name, values in state.history.columns.items()},
        "quality": {name: list(values) for name, values in state.quality.items()},
        "card": dict(card or {}),
    }


def save_checkpoint(state: TrainState, path: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write a full checkpoint of `state` atomically (temporary file in the same folder, then rename)."""
    return write_payload(state_payload(state, card), path)


def export_generator(
    checkpoint: Checkpoint, path: str | Path, card: dict[str, Any] | None = None, half: bool = False
) -> Path:
    """Write a generator-only checkpoint (config, generator weights, fixed noise, history, card).

    A run that keeps a moving average of its generator exports the average (what its samples showed).
    half=True stores floating-point weights as float16 (half the size, for shipping); they load back into
    the float32 model exactly the same way on every machine.
    """
    payload = {
        key: checkpoint.payload[key]
        for key in ("format", "format_version", "config", "generator", "fixed_noise", "history", "quality")
        if key in checkpoint.payload
    }
    if "generator_ema" in checkpoint.payload:
        payload["generator"] = checkpoint.payload["generator_ema"]
    if half:
        payload["generator"] = {
            name: value.half() if value.is_floating_point() else value for name, value in payload["generator"].items()
        }
    payload["iteration"] = checkpoint.iteration
    payload["card"] = {**checkpoint.card, **(card or {})}
    return write_payload(payload, path)


def write_payload(payload: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; a hosted app may run as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_payload(path: str | Path, missing: str = "no such checkpoint file") -> Any:
    """torch.load(weights_only=True) of `path` on the CPU, every failure turned into a one-line CheckpointError.

    Shared by every file format of the project (GAN checkpoints, the MNIST classifier): none is unpickled
    any other way.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {missing}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol warnings for foreign pickles: the error says enough
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only refuses any global it does not know (classes, functions: code) and any pickle
        # opcode it does not support (a file that is not a torch checkpoint at all).
        detail = str(error).partition("WeightsUnpickler error:")[2].strip().splitlines()
        detail_line = detail[0].strip() if detail else (str(error).strip().splitlines() or ["unpickling"])[0]
        if "Unsupported global" in detail_line:
            raise CheckpointError(
                f"{path}: refused, the file carries Python objects other than tensors ({detail_line[:120]})"
            ) from None
        raise CheckpointError(
            f"{path}: corrupt or truncated file, or not a PyTorch checkpoint ({detail_line[:120]})"
        ) from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError, IndexError, KeyError) as error:
        detail = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: corrupt or truncated file ({detail})") from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint file. Raises CheckpointError with a one-line message on any problem."""
    path = Path(path)
    payload = read_payload(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ForeignFileError(f"{path}: not a wgan checkpoint (no '{FORMAT}' marker; a foreign file?)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version!r}, this code reads version {FORMAT_VERSION}")
    missing = {"config", "generator"} - payload.keys()
    if missing:
        raise CheckpointError(f"{path}: missing {', '.join(sorted(missing))}")
    try:
        config = TrainConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: bad config ({error})") from None
    checkpoint = Checkpoint(path, config, payload)
    # Check the weights fit the models now, so a bad file fails here and not halfway through a page.
    generator, critic = build_models(config, torch.device("cpu"))
    load_state_strict(path, generator, payload["generator"], "generator")
    if "generator_ema" in payload:
        load_state_strict(path, generator, payload["generator_ema"], "generator_ema")
    if "critic" in payload:
        load_state_strict(path, critic, payload["critic"], "critic")
    return checkpoint


def find_checkpoints(folder: str | Path = SHIPPED_DIR) -> list[Path]:
    """Checkpoint files in `folder` (shipped) and `folder/runs` (users' runs), shipped first, by name."""
    folder = Path(folder)
    return sorted(folder.glob("*.pt")) + sorted((folder / "runs").glob("*.pt"))


def load_generator(checkpoint: Checkpoint, device: torch.device | str = "cpu") -> Generator:
    """The checkpoint's generator in eval mode on `device` (its moving average, when the run kept one)."""
    generator = build_generator(checkpoint.config.arch, checkpoint.config.z_dim, checkpoint.config.generator_width)
    key = "generator_ema" if "generator_ema" in checkpoint.payload else "generator"
    load_state_strict(checkpoint.path, generator, checkpoint.payload[key], key)
    return generator.to(device).eval()


def restore_state(checkpoint: Checkpoint, data: ImageData, device: torch.device | str = "cpu") -> TrainState:
    """A TrainState that continues the saved run exactly: weights, optimisers, counters, random streams."""
    if not checkpoint.full:
        raise CheckpointError(f"{checkpoint.path}: holds only a generator (for sampling); it cannot resume training")
    payload = checkpoint.payload
    state = init_state(checkpoint.config, data, device)
    if state.generator_ema is not None and "generator_ema" not in payload:
        raise CheckpointError(f"{checkpoint.path}: cannot resume (its config keeps a generator average it lacks)")
    # load_checkpoint has checked the weights fit; what is left to go wrong is the rest of the record.
    try:
        state.history = History(columns={name: list(values) for name, values in payload["history"].items()})
        roll_back(state, payload)
        state.fixed_noise = payload["fixed_noise"].to(state.device)
        state.quality = {name: list(values) for name, values in payload.get("quality", {}).items()}
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        detail = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{checkpoint.path}: cannot resume ({type(error).__name__}: {detail})") from None
    return state


def load_state_strict(path: Path, module: nn.Module, state_dict: Any, name: str) -> None:
    """Strict load_state_dict; a mismatch becomes a one-line CheckpointError naming the file and module."""
    try:
        module.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:2])[:200] if first else type(error).__name__
        raise CheckpointError(f"{path}: {name} weights do not fit the model ({detail})") from None


def _cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cpu(item) for item in value)
    return value
