"""One visitor's live run and what may happen to it next: a status you can name and the moves between them.

The Training page keeps a `RunController` in its session; each button's callback calls one transition
(`start`, `pause`, `resume`, `retry`, `extend`, `step`, `reset`, `load`) and the page draws what
`status` says. `train()` is the fragment's tick. A shared `RunRegistry` may `release` a run that idled
paused for too long. No Streamlit here: tests drive the same methods directly.

    IDLE --start--> TRAINING --pause--> PAUSED --resume--> TRAINING
    TRAINING, PAUSED, DIVERGED --step--> PAUSED (one generator iteration)
    TRAINING (train) or PAUSED (step) --> FINISHED (its target epochs) --extend--> TRAINING
                                      --> CAPPED (a host's cap: no way on but Reset or Load)
                                      --> DIVERGED (NaN or inf, the chunk rolled back) --retry--> TRAINING
    PAUSED, FINISHED, CAPPED, DIVERGED --release--> RELEASED --start--> TRAINING
    any --reset--> IDLE; any --load--> PAUSED (or the stop the loaded run is already at)
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any, Protocol

from wgan.config import LAYOUTS, LIPSCHITZ, OBJECTIVES, OPTIMIZERS, TrainConfig
from wgan.hosting import LOCAL, Hosting, trainer_slots
from wgan.live import LiveRun, RunLimits, baseline_run_name, run_card
from wgan.models import ARCHITECTURES
from wgan.train import TrainState

# Training per fragment run ("tick") on a CPU: a redraw costs a fixed share of each tick, so long ticks
# lose less to drawing. Training comes in chunks of STATUS_SECONDS with a status line after each: the
# Streamlit call where a run that a press of Pause has replaced stops, so the chunk, not the tick, bounds
# how long training goes on after Pause.
TICK_TRAIN_SECONDS = {"cpu": 8.0}
DEFAULT_TICK_SECONDS = 1.0  # other devices: a GPU trains many iterations a second
STATUS_SECONDS = 2.0


class RunStatus(Enum):
    IDLE = "idle"  # no run yet: the page shows the settings
    TRAINING = "training"  # the visitor wants it training; the page's fragment ticks
    PAUSED = "paused"
    FINISHED = "finished"  # reached its target epochs; `extend` trains on
    CAPPED = "capped"  # reached a host's cap (iterations or minutes per run): it cannot train further
    DIVERGED = "diverged"  # a chunk gave NaN or inf and was undone; `retry` trains on from the kept state
    RELEASED = "released"  # the registry took it away after it idled; `released_note` says why


class IllegalTransition(RuntimeError):
    """A transition asked for in a status where it means nothing (e.g. resume while training)."""


S = RunStatus
STOPPED = frozenset({S.FINISHED, S.CAPPED, S.DIVERGED})
HAS_RUN = frozenset({S.TRAINING, S.PAUSED}) | STOPPED
LEGAL: dict[str, frozenset[RunStatus]] = {
    "start": frozenset({S.IDLE, S.RELEASED}),
    "pause": frozenset({S.TRAINING}),
    "resume": frozenset({S.PAUSED}),
    "retry": frozenset({S.DIVERGED}),
    "extend": frozenset({S.FINISHED}),
    "step": frozenset({S.TRAINING, S.PAUSED, S.DIVERGED}),
    "train": frozenset({S.TRAINING}),
    "save": HAS_RUN,
    "release": HAS_RUN - {S.TRAINING},
    "reset": frozenset(RunStatus),
    "load": frozenset(RunStatus),
}


def tick_seconds(device_type: str, override: float | None = None) -> float:
    """Seconds of training per tick on `device_type` ("cpu", "cuda", ...); `override` wins (tests)."""
    return float(override) if override is not None else TICK_TRAIN_SECONDS.get(device_type, DEFAULT_TICK_SECONDS)


# The fields a settings form offers as a menu; every other field is a checkbox (bools) or typed as text.
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "objective": OBJECTIVES,
    "lipschitz": LIPSCHITZ,
    "optimizer": OPTIMIZERS,
    "precision": ("fp32", "bf16"),
    "split": ("train", "test"),
    "arch": tuple(ARCHITECTURES),
    "layout": LAYOUTS,
}
DATASET_LABELS = {
    "mnist": "MNIST (downloaded once into data/)",
    "fashion-mnist": "Fashion-MNIST (downloaded once into data/)",
    "digits-offline": "Offline digits (5,000 real MNIST digits installed with pip)",
}


@dataclass(frozen=True)
class Setting:
    """One field of a new run's settings form: the preset's value and the one the form starts from."""

    name: str
    default: Any
    start: Any  # the page's starting change (wgan.live.page_defaults) or the preset's value
    choices: tuple[str, ...] | None  # a menu's options, or None

    @property
    def text(self) -> str:
        """`start` as a text box shows it (a float in `g` format: 0.0002, 1e-08)."""
        return f"{self.start:g}" if isinstance(self.start, float) else str(self.start)


def settings(base: TrainConfig, starts: Mapping[str, Any]) -> list[Setting]:
    """Every field of `base` a visitor may change (all but preset and dataset), in the dataclass's order."""
    return [
        Setting(
            spec.name,
            getattr(base, spec.name),
            starts.get(spec.name, getattr(base, spec.name)),
            FIELD_CHOICES.get(spec.name),
        )
        for spec in fields(TrainConfig)
        if spec.name not in ("preset", "dataset")
    ]


def changed_fields(base: TrainConfig, values: Mapping[str, Any]) -> list[str]:
    """`key=value` strings (for wgan.config.apply_overrides) for the settings in `values` that differ from
    `base`; a value typed as text counts as unchanged when it reads as the same number ("1e-4" = 0.0001)."""
    changed = []
    for key, value in values.items():
        default = getattr(base, key)
        if str(value) != str(default) and not (isinstance(default, float) and _same_float(value, default)):
            changed.append(f"{key}={value}")
    return changed


def _same_float(text: Any, value: float) -> bool:
    try:
        return float(text) == value
    except (TypeError, ValueError):
        return False


class RunStore(Protocol):
    """Where saved runs go (wgan.storage's FolderRuns or SessionRuns)."""

    def save(self, name: str, state: TrainState, card: dict) -> str: ...


@dataclass(eq=False)  # compared and hashed by identity: the registry holds weak references to controllers
class RunController:
    """One visitor's current run and its status; `hosting` sets the caps and the trainers allowed at once."""

    hosting: Hosting = LOCAL
    run: LiveRun | None = None
    status: RunStatus = RunStatus.IDLE
    released_note: str | None = None  # why the run was taken away, for the page to say

    @property
    def limits(self) -> RunLimits:
        return RunLimits(self.hosting.max_run_iterations, self.hosting.max_run_seconds)

    @property
    def training(self) -> bool:
        return self.status is RunStatus.TRAINING

    @property
    def stopped(self) -> bool:
        """Stopped by itself (its target, a cap or a divergence), not by the visitor."""
        return self.status in STOPPED

    def can(self, action: str) -> bool:
        """Whether `action` (a transition's name) is legal now: the page disables the buttons that are not."""
        return self.status in LEGAL[action]

    def _require(self, action: str) -> LiveRun:
        if not self.can(action):
            raise IllegalTransition(f"cannot {action} a run that is {self.status.value}")
        return self.run  # type: ignore[return-value]  # every status but IDLE and RELEASED holds a run

    def _settle(self) -> None:
        """A run that can no longer train as it is leaves TRAINING or PAUSED for the stop that says why."""
        run = self.run
        if run is None or self.status not in (S.TRAINING, S.PAUSED) or not run.done:
            return
        if run.problem:
            stopped = S.DIVERGED
        else:
            stopped = S.FINISHED if run.can_extend else S.CAPPED
        if self.status is S.TRAINING:
            run.stop_clock()
        self.status = stopped

    def _train_on(self, run: LiveRun) -> None:
        self.status = S.TRAINING
        run.start_clock()
        self._settle()

    # --- transitions ---------------------------------------------------------------------------------------

    def start(self, run: LiveRun) -> None:
        """A fresh run (wgan.live.start_run) becomes this visitor's, training."""
        self._require("start")
        self.run, self.released_note = run, None
        self._train_on(run)

    def load(self, run: LiveRun) -> None:
        """A resumed run (wgan.live.resume_run) replaces whatever was here, paused."""
        self._require("load")
        self.reset()
        self.run, self.status, self.released_note = run, S.PAUSED, None
        self._settle()

    def pause(self) -> None:
        self._require("pause").stop_clock()
        self.status = S.PAUSED

    def resume(self) -> None:
        self._train_on(self._require("resume"))

    def retry(self, lr_scale: float = 1.0) -> None:
        """A diverged run trains on from its last finite state, optionally with every learning rate scaled."""
        run = self._require("retry")
        run.clear_problem(lr_scale)
        self._train_on(run)

    def extend(self) -> None:
        """A run that reached its target epochs trains on, DEFAULT_TARGET_EPOCHS further."""
        run = self._require("extend")
        run.extend()
        self._train_on(run)

    def step(self) -> None:
        """Pause and train one generator iteration (waits for a chunk that a previous script run still trains)."""
        run = self._require("step")
        if self.training:
            run.stop_clock()
        self.status = S.PAUSED
        run.clear_problem()
        run.tick(0.0, max_iterations=1)
        self._settle()

    def reset(self) -> None:
        """Discard the run (and any release note): the settings come back."""
        self._require("reset")
        if self.run is not None:
            self.run.stop_clock()
        self.run, self.status, self.released_note = None, S.IDLE, None

    def release(self, note: str) -> None:
        """Take the run away (a shared server's memory), leaving `note` for the page to say."""
        self._require("release")
        self.run, self.status, self.released_note = None, S.RELEASED, note

    # --- work ------------------------------------------------------------------------------------------------

    def train(self, seconds: float, after_chunk: Callable[[], None], chunk_seconds: float = STATUS_SECONDS) -> bool:
        """One tick: train for about `seconds` in chunks, `after_chunk` between two (see LiveRun.train_for).

        Trains only while holding one of the server's `hosting.max_trainers` slots; returns False when none
        came free within `seconds` (the run waits its turn). A run that stops by itself leaves TRAINING.
        """
        run = self._require("train")
        slots = trainer_slots(self.hosting.max_trainers)
        if not slots.acquire(timeout=seconds):
            return False
        try:
            run.train_for(seconds, chunk_seconds, after_chunk)
        finally:
            slots.release()
        self._settle()
        return True

    def save(self, runs: RunStore, name: str, made_by: str) -> str:
        """Save the run (and its GAN baseline beside it) into `runs`; returns the name it was saved as.

        Waits for a chunk still training from before a Pause (the run's `busy` lock). Raises ValueError for
        a name with nothing usable in it and wgan.storage.StorageFull when the store is full.
        """
        run = self._require("save")
        card = run_card(run, made_by)
        with run.busy:
            saved = runs.save(name, run.state, card)
            if run.baseline is not None:
                runs.save(baseline_run_name(saved), run.baseline, card)
        return saved


class RunRegistry:
    """Every session's RunController, by weak reference, so any visitor's page run can release idle runs.

    A paused run in an open but forgotten tab holds its models, optimisers and history in the server's
    memory; on a shared host, `sweep` drops those that stayed paused longer than `idle_seconds`.
    Thread-safe: every session runs its script in a thread of its own.
    """

    def __init__(self) -> None:
        self._controllers: weakref.WeakSet[RunController] = weakref.WeakSet()
        self._lock = threading.Lock()

    def register(self, controller: RunController) -> None:
        with self._lock:
            self._controllers.add(controller)

    def sweep(self, idle_seconds: float) -> int:
        """Release runs paused (or stopped) for more than `idle_seconds` (0 = never); returns how many."""
        if idle_seconds <= 0:
            return 0
        released = 0
        with self._lock:
            for controller in list(self._controllers):
                run = controller.run
                if run is not None and controller.can("release") and run.idle_seconds() > idle_seconds:
                    controller.release(
                        f"Your run (generator iteration {run.iteration:,}) was released after "
                        f"{idle_seconds / 60:g} minutes paused, to free this shared server's memory. "
                        "Save or download a run to keep it."
                    )
                    released += 1
        return released

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for controller in self._controllers if controller.run is not None)
