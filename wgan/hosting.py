"""Local or hosted: the limits the app applies when many visitors share one small server.

`Hosting.from_environment()` reads the switch and the caps once. Hosted mode is on when WGAN_HOSTED=1,
or, with WGAN_HOSTED unset, when the app runs from Streamlit Community Cloud's checkout folder
(/mount/src/); WGAN_HOSTED=0 forces local mode. Every cap can be set on its own through its
environment variable; the defaults below are what a 2-core, 2.7 GB host survives with a few visitors.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path

from wgan.paths import PROJECT_ROOT

COMMUNITY_CLOUD_ROOT = Path("/mount/src")


@dataclass(frozen=True)
class Hosting:
    """Caps per server and per visitor. `hosted` decides where saved runs go and which defaults apply."""

    hosted: bool = False
    max_trainers: int = 2  # sessions training at the same moment (WGAN_MAX_TRAINERS)
    max_run_iterations: int = 0  # generator iterations one visitor's run may reach; 0 = no cap
    max_run_seconds: float = 0.0  # training seconds one visitor's run may use; 0 = no cap
    idle_release_seconds: float = 0.0  # a paused run untouched this long is released; 0 = never
    saved_runs: int = 3  # runs a session may keep in hosted mode
    saved_bytes: int = 64 << 20  # bytes of saved runs a session may keep in hosted mode

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None, app_root: Path = PROJECT_ROOT) -> Hosting:
        environ = dict(os.environ if environ is None else environ)
        switch = environ.get("WGAN_HOSTED", "").strip().lower()
        if switch in ("1", "true", "yes", "on"):
            hosted = True
        elif switch in ("0", "false", "no", "off"):
            hosted = False
        else:
            hosted = COMMUNITY_CLOUD_ROOT in Path(app_root).resolve().parents
        base = HOSTED if hosted else LOCAL
        values = {"hosted": hosted}
        for spec in fields(cls):
            default = getattr(base, spec.name)
            raw = environ.get(f"WGAN_{spec.name.upper()}", "").strip()
            if spec.name == "hosted" or not raw:
                values[spec.name] = values.get(spec.name, default)
                continue
            try:
                value = type(default)(float(raw))
            except ValueError:
                value = default  # a bad value keeps the default (the page shows the caps in force)
            values[spec.name] = value if value >= 0 else default
        return cls(**values)

    def describe(self) -> str:
        """One line for the page: the caps in force."""
        if not self.hosted:
            return f"local mode: up to {self.max_trainers} runs train at once; saved runs go to checkpoints/runs/"
        parts = [f"{self.max_trainers} run{'s' if self.max_trainers != 1 else ''} train at once on this server"]
        if self.max_run_iterations:
            parts.append(f"a run stops at {self.max_run_iterations:,} generator iterations")
        if self.max_run_seconds:
            parts.append(f"or after {self.max_run_seconds / 60:g} minutes of training")
        if self.idle_release_seconds:
            parts.append(f"a paused run is released after {self.idle_release_seconds / 60:g} idle minutes")
        parts.append(f"saved runs stay in your session (at most {self.saved_runs}, {self.saved_bytes / 1e6:.0f} MB)")
        return "hosted mode: " + "; ".join(parts)


LOCAL = Hosting()
# One trainer at a time keeps the second core for everyone browsing; 15 minutes and 6,000 iterations are
# enough to watch digits form; a paused run holds ~20-60 MB, so it is released after 20 idle minutes.
HOSTED = Hosting(
    hosted=True,
    max_trainers=1,
    max_run_iterations=6_000,
    max_run_seconds=15 * 60.0,
    idle_release_seconds=20 * 60.0,
    saved_runs=3,
    saved_bytes=64 << 20,
)


def prepare_hosted_process() -> None:
    """What a shared server's process needs once: every visitor's session is a thread, and without a cap
    glibc gives each thread its own malloc arena that keeps what the thread freed."""
    from wgan.device import limit_malloc_arenas  # imports torch: not before the navigation is drawn

    limit_malloc_arenas()


_trainer_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def trainer_slots(max_trainers: int) -> threading.BoundedSemaphore:
    """The process's one semaphore for `max_trainers` concurrent trainers, shared by every session.

    A tick trains only while it holds a slot, so a hosted server's cores are not split between more
    runs than it was told to carry (the others show that they wait their turn).
    """
    with _slots_lock:
        if max_trainers not in _trainer_slots:
            _trainer_slots[max_trainers] = threading.BoundedSemaphore(max(1, max_trainers))
        return _trainer_slots[max_trainers]
