"""Where a visitor's saved runs live: a folder on a single-user machine, the visitor's own session on a host.

On a shared server every visitor's tab is a session of one process, so a folder of runs would let each
visitor list, load and overwrite everyone else's. `SessionRuns` keeps a visitor's saved runs as checkpoint
bytes in that visitor's session instead (download to keep one, upload to bring it back), bounded in count
and size; `FolderRuns` is the local app's `checkpoints/runs/`. Both take names through `safe_run_name`,
so no name can reach outside their storage.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from wgan.checkpoint import Checkpoint, CheckpointError, load_checkpoint, state_payload, write_payload
from wgan.hosting import Hosting
from wgan.train import TrainState

NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_NAME_LENGTH = 64


class StorageFull(RuntimeError):
    """A save would pass the store's bound; the message says the bound and what to do (one line)."""


def safe_run_name(name: str) -> str:
    """`name` reduced to letters, digits, '-', '_' and '.', without leading dots or dashes (so no '../',
    no hidden files, no path separators). Raises ValueError when nothing usable is left."""
    safe = NAME_CHARACTERS.sub("-", name).strip(".-")[:MAX_NAME_LENGTH].strip(".-")
    if not safe:
        raise ValueError("give the run a name made of letters, digits, '-', '_' or '.'")
    return safe


def checkpoint_bytes(state: TrainState, card: dict[str, Any]) -> bytes:
    """A full checkpoint of `state` as bytes (what a download button offers)."""
    import io

    buffer = io.BytesIO()
    torch.save(state_payload(state, card), buffer)
    return buffer.getvalue()


def read_checkpoint_bytes(data: bytes, name: str) -> Checkpoint:
    """Load checkpoint bytes through the one safe loader; errors name `name`, not a temporary file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.pt"
        path.write_bytes(data)
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as error:
            raise CheckpointError(str(error).replace(str(path), name)) from None
    checkpoint.path = Path(name)
    return checkpoint


@dataclass
class FolderRuns:
    """Saved runs as files in one folder: the local, single-user app (`checkpoints/runs/`)."""

    folder: Path

    def names(self) -> list[str]:
        return sorted(path.stem for path in self.folder.glob("*.pt")) if self.folder.is_dir() else []

    def save(self, name: str, state: TrainState, card: dict[str, Any]) -> str:
        name = safe_run_name(name)
        write_payload(state_payload(state, card), self.folder / f"{name}.pt")
        return name

    def load(self, name: str) -> Checkpoint:
        return load_checkpoint(self.folder / f"{safe_run_name(name)}.pt")

    def data(self, name: str) -> bytes:
        return (self.folder / f"{safe_run_name(name)}.pt").read_bytes()

    def describe(self) -> str:
        return f"saved as files in `{self.folder}`"


@dataclass
class SessionRuns:
    """Saved runs held as bytes in one visitor's session: nobody else can list, load or overwrite them.

    At most `max_runs` runs and `max_bytes` bytes; a save over either bound raises StorageFull (the
    page says which bound and suggests deleting or downloading a run). Gone when the session ends.
    """

    max_runs: int = 3
    max_bytes: int = 64 << 20
    runs: dict[str, bytes] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.runs)

    def save(self, name: str, state: TrainState, card: dict[str, Any]) -> str:
        return self.put(safe_run_name(name), checkpoint_bytes(state, card))

    def put(self, name: str, data: bytes) -> str:
        name = safe_run_name(name)
        others = {key: value for key, value in self.runs.items() if key != name}
        if len(others) + 1 > self.max_runs:
            raise StorageFull(
                f"this session keeps at most {self.max_runs} saved runs on this server: delete one, or download "
                "it first to keep it"
            )
        if sum(len(value) for value in others.values()) + len(data) > self.max_bytes:
            raise StorageFull(
                f"this session keeps at most {self.max_bytes / 1e6:.0f} MB of saved runs on this server: delete "
                "one, or download it first to keep it"
            )
        self.runs[name] = data
        return name

    def load(self, name: str) -> Checkpoint:
        name = safe_run_name(name)
        if name not in self.runs:
            raise CheckpointError(f"{name}: no saved run of that name in this session")
        return read_checkpoint_bytes(self.runs[name], name)

    def data(self, name: str) -> bytes:
        return self.runs[safe_run_name(name)]

    def delete(self, name: str) -> None:
        self.runs.pop(safe_run_name(name), None)

    def describe(self) -> str:
        return (
            f"kept in this browser session only (at most {self.max_runs} runs, {self.max_bytes / 1e6:.0f} MB); "
            "download a run to keep it after you leave"
        )


def runs_store(hosting: Hosting, folder: str | Path) -> FolderRuns | SessionRuns:
    """Where a visitor's Save puts runs: `folder` on a single-user machine, their own session on a shared host."""
    if hosting.hosted:
        return SessionRuns(hosting.saved_runs, hosting.saved_bytes)
    return FolderRuns(Path(folder))
