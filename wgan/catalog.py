"""The checkpoints the pages list: shipped files in one folder and saved runs in its runs/, one summary each.

Home shows them as a table, Sampling as a menu; both list through `listed` and read each file once
through `read_entry` (the pages cache it by path and modification time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wgan.checkpoint import Checkpoint, CheckpointError, ForeignFileError, find_checkpoints, load_checkpoint
from wgan.paths import SHIPPED_DIR

DEFAULT_FILE = "wgan-clip.pt"  # listed first: a new visitor starts from the best WGAN, not the alphabet's first


def checkpoint_folder() -> Path:
    """The folder the pages read: $WGAN_CHECKPOINT_DIR (tests point it at a temporary folder) or the shipped one."""
    return Path(os.environ.get("WGAN_CHECKPOINT_DIR", SHIPPED_DIR))


@dataclass(frozen=True)
class CheckpointFacts:
    """What the pages say about one loadable checkpoint (plain values: cached and pickled freely)."""

    preset: str
    objective: str  # the method: objective and Lipschitz control in one name ("wgan-gp")
    arch: str
    dataset: str
    z_dim: int
    iteration: int
    full: bool  # a whole run that can resume training, not only a generator
    card: dict[str, Any]

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> CheckpointFacts:
        config = checkpoint.config
        return cls(
            config.preset,
            config.method,
            config.arch,
            config.dataset,
            config.z_dim,
            checkpoint.iteration,
            checkpoint.full,
            dict(checkpoint.card),
        )

    @property
    def fid_mnist(self) -> float | None:
        """FID-MNIST from the card (`python -m wgan eval --write-card`), None when not measured."""
        fid = self.card.get("fid_mnist")
        return float(fid) if isinstance(fid, int | float) else None

    @property
    def kind(self) -> str:
        return "full run (resumable)" if self.full else "generator only (sampling)"

    @property
    def data(self) -> str:
        """What it trained on: the card's description, else the config's dataset name."""
        return self.card.get("data", "") or self.dataset


@dataclass(frozen=True)
class Entry:
    """One listed file: its facts when it loads, else the one-line reason it does not."""

    path: Path
    facts: CheckpointFacts | None = None
    problem: str | None = None
    foreign: bool = False  # another program's file (no wgan-checkpoint marker), not a damaged one of ours


def read_entry(path: str | Path) -> Entry:
    """Load `path` once and keep what the pages show; never raises for a bad file."""
    path = Path(path)
    try:
        checkpoint = load_checkpoint(path)
    except ForeignFileError:
        return Entry(path, problem=f"{path.name}: another program's file (no wgan-checkpoint marker)", foreign=True)
    except CheckpointError as error:
        return Entry(path, problem=str(error))
    return Entry(path, CheckpointFacts.of(checkpoint))


def listed(folder: Path, hosted: bool) -> list[Path]:
    """The checkpoint files a page offers: shipped ones (DEFAULT_FILE first), then runs/ unless hosted.

    Hosted, runs/ would hold other visitors' files, so only the shipped ones are listed.
    """
    found = [path for path in find_checkpoints(folder) if not hosted or path.parent == folder]
    return sorted(found, key=lambda path: path != folder / DEFAULT_FILE)  # stable: the rest keep their order


def modified_ns(path: Path) -> int:
    """The file's modification time (a cache key, so a rewritten file is read again); -1 once it is gone."""
    try:
        return path.stat().st_mtime_ns
    except OSError:  # removed since the folder was listed: load_checkpoint then says so in one line
        return -1


def name_in(path: Path, folder: Path) -> str:
    """The name a page shows and a shared link holds: relative to `folder` ("wgan-gp.pt", "runs/mine.pt")."""
    return path.relative_to(folder).as_posix()


def label(path: Path, folder: Path) -> str:
    return f"{name_in(path, folder)}  ({'shipped' if path.parent == folder else 'your run'})"


def table_row(entry: Entry) -> dict[str, Any] | None:
    """Home's row about one file; None for another program's file (not listed)."""
    if entry.foreign:
        return None
    facts, name = entry.facts, entry.path.name
    if facts is None:
        return {"file": name, "FID-MNIST": None, "iteration": None, "kind": "unreadable", "note": entry.problem}
    fid = facts.fid_mnist
    return {
        "file": name,  # FID-MNIST next to the name: Home's column is narrow
        "FID-MNIST": None if fid is None else round(fid, 1),
        "iteration": facts.iteration,
        "kind": facts.kind,
        "note": f"{facts.preset}, {facts.arch} architecture, {facts.data}",
    }
