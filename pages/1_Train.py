"""Training page: train a WGAN (optionally beside its GAN baseline) in chunks you can watch.

Widgets -> wgan.controller (this tab's run and its status; each button calls one of its transitions) ->
charts from ui.train. Training runs inside a fragment that reruns back to back while the run trains (one
redraw, then several seconds of training in chunks, a status line between them), so the page never freezes
and a paused run stops training within a chunk.
"""

from __future__ import annotations

import os

import streamlit as st

import ui.recording
import ui.train
from ui.navigation import leave_pages_folder_mode
from ui.quality import render_quality_section
from wgan import live
from wgan.checkpoint import CheckpointError
from wgan.config import PAGE_DEFAULT_PRESET, PRESETS, ConfigError, TrainConfig, apply_overrides, preset_label
from wgan.controller import (
    DATASET_LABELS,
    RunController,
    RunRegistry,
    RunStatus,
    changed_fields,
    settings,
    tick_seconds,
)
from wgan.data import DataUnavailableError
from wgan.device import describe_device, pick_device_or_best, tune_cpu_allocator
from wgan.hosting import Hosting
from wgan.live import LiveRun
from wgan.paths import DATA_ROOT, RUNS_DIR, SHIPPED_RECORDING
from wgan.sampling import grid, png_bytes
from wgan.storage import FolderRuns, SessionRuns, StorageFull, read_checkpoint_bytes, runs_store

leave_pages_folder_mode()  # a shared deep link opened first on a fresh server
st.set_page_config(page_title="Train a WGAN", page_icon="📈", layout="wide")

HIDE_RUNNING_INDICATOR = '<style>[data-testid="stStatusWidget"] { display: none; }</style>'
RERUN_EVERY = 0.5  # seconds; fragment reruns queue behind a running one, so ticks follow back to back


# --- what the whole server shares (read-only or thread-safe) ----------------------------------------------


@st.cache_resource
def hosting() -> Hosting:
    return Hosting.from_environment()


@st.cache_resource
def registry() -> RunRegistry:
    return RunRegistry()


@st.cache_resource(max_entries=4, show_spinner="Loading images...")
def cached_images(dataset: str, root: str, split: str):
    """The dataset's images, shared read-only by every session (runs index into them, never copy them)."""
    return live.load_training_data(dataset, root, split)


# --- this session ----------------------------------------------------------------------------------------


def controller() -> RunController:
    """This session's run and its status (wgan.controller); every transition goes through it."""
    if "train.controller" not in st.session_state:
        st.session_state["train.controller"] = RunController(hosting())
        registry().register(st.session_state["train.controller"])
    return st.session_state["train.controller"]


def store() -> FolderRuns | SessionRuns:
    """Where Save puts runs: checkpoints/runs/ locally; this session only on a shared host."""
    if "train.store" not in st.session_state:
        st.session_state["train.store"] = runs_store(hosting(), st.session_state.get("train.runs_dir") or RUNS_DIR)
    return st.session_state["train.store"]


def data_root() -> str:
    """Where MNIST files live: the session's override (tests), $WGAN_DATA_ROOT, or the project's data/."""
    return str(st.session_state.get("train.data_root") or os.environ.get("WGAN_DATA_ROOT") or DATA_ROOT)


def device():
    """The training device: $WGAN_DEVICE if set and usable (else a warning and 'auto'), once per session."""
    if "train.device" not in st.session_state:
        chosen, warning = pick_device_or_best(os.environ.get("WGAN_DEVICE", "auto"))
        st.session_state["train.device"], st.session_state["train.device_warning"] = chosen, warning
    return st.session_state["train.device"]


def tick() -> float:
    """Seconds of training per fragment run: the device's (wgan.controller), or the session's override (tests)."""
    return tick_seconds(device().type, st.session_state.get("train.chunk_seconds"))


# --- settings --------------------------------------------------------------------------------------------


def settings_form() -> tuple[TrainConfig | None, dict]:
    """Widgets for a new run; returns (config or None when a value is bad, run options)."""
    left, right = st.columns(2)
    presets = sorted(PRESETS, key=lambda name: name != PAGE_DEFAULT_PRESET)
    preset_name = left.selectbox("Preset", presets, format_func=preset_label, key="train.preset")
    dataset = right.selectbox(
        "Dataset",
        list(DATASET_LABELS),
        format_func=DATASET_LABELS.get,
        key="train.dataset",
        help="Without internet, MNIST and Fashion-MNIST fall back to the offline digits (the page says so).",
    )
    compare = left.toggle(
        "Compare on the same seed: train a GAN baseline in lockstep",
        key="train.compare",
        help="The same run with the seed's four changes undone (log loss, no clipping, Adam with momentum): "
        "same initial weights, same real batches in the same order, same noise.",
    )
    target_epochs = right.number_input(
        "Epochs to train", 0.1, 1000.0, live.DEFAULT_TARGET_EPOCHS, step=1.0, key="train.epochs"
    )
    snapshot_every = right.number_input(
        "Snapshot every N generator iterations",
        1,
        100_000,
        live.DEFAULT_SNAPSHOT_EVERY,
        key="train.snapshot_every",
        help="Sample grids from the fixed noise (for the scrubber) are taken this often, the held-out check "
        f"every {live.HOLDOUT_EVERY_SNAPSHOTS} snapshots.",
    )
    base = PRESETS[preset_name]
    suggested = live.page_defaults(base, device())
    if suggested:
        st.info(ui.train.defaults_note(base, suggested))
    values = {}
    with st.expander("Advanced: every hyperparameter (the preset's value is shown beside each)"):
        columns = st.columns(3)
        for index, spec in enumerate(settings(base, suggested)):
            column = columns[index % 3]
            label = f"{spec.name} (preset: {spec.default})"
            key = f"train.adv.{preset_name}.{spec.name}"  # per preset, so switching presets shows its values
            if spec.choices:
                value = column.selectbox(label, spec.choices, index=spec.choices.index(spec.start), key=key)
            elif isinstance(spec.default, bool):
                value = column.checkbox(label, value=spec.start, key=key)
            else:
                value = column.text_input(label, value=spec.text, key=key)
            values[spec.name] = value
    overrides = changed_fields(base, values)
    options = {"compare": compare, "target_epochs": float(target_epochs), "snapshot_every": int(snapshot_every)}
    try:
        config = apply_overrides(base, [*overrides, f"dataset={dataset}"])
    except ConfigError as error:
        st.error(str(error))
        return None, options
    if overrides:
        st.caption("Changed from the preset: " + ", ".join(overrides))
    return config, options


def begin(config: TrainConfig, options: dict) -> None:
    """Load the data (falling back to the offline digits) and start a fresh run."""
    try:
        with st.spinner("Building the models..."):
            limits = controller().limits
            run = live.start_run(config, data_root(), device(), limits=limits, images=cached_images, **options)
    except DataUnavailableError as error:
        st.session_state["train.error"] = str(error)
        return
    tune_allocator(run)
    controller().start(run)
    st.session_state.pop("train.error", None)


def tune_allocator(run: LiveRun) -> None:
    if not hosting().hosted and run.state.device.type == "cpu":
        tune_cpu_allocator()  # a single-user app owns its process; a shared server returns memory instead


def act(action: str, *args) -> None:
    """A button's callback: the controller's transition, when still legal (a click on a page drawn before
    the run stopped by itself is ignored; the page then redraws what the run is now)."""
    if controller().can(action):
        getattr(controller(), action)(*args)
    if action in ("reset", "load"):
        for key in ("train.saved", "train.error"):
            st.session_state.pop(key, None)


def button(column, label: str, action: str, *args, key: str | None = None, **kwargs) -> None:
    column.button(label, key=key or f"train.{action}", on_click=act, args=(action, *args), **kwargs)


# --- the live panel ----------------------------------------------------------------------------------------


def draw(run: LiveRun) -> st.delta_generator.DeltaGenerator:
    """The run as it stands; returns the placeholder under the metrics for the status line."""
    for column, (label, value, note) in zip(st.columns(6), ui.train.run_metrics(run), strict=True):
        column.metric(label, value, help=note)
    st.progress(min(1.0, run.epoch / run.target_epochs))
    status = st.empty()  # live_panel's one-line status while the tick trains

    chart_area, sample_area = st.columns([3, 2])
    with sample_area:
        iterations = [snapshot.iteration for snapshot in run.snapshots]
        if len(iterations) > 1 and not controller().training:
            chosen = st.select_slider(
                "Scrub through snapshots (generator iteration)",
                options=iterations,
                value=iterations[-1],
                key="train.scrub",
                help="Pause to scrub; while training, the newest snapshot is shown.",
            )
        else:
            chosen = iterations[-1]
        snapshot = run.snapshot_at(chosen)
        st.caption(f"Samples from the fixed noise at iteration {snapshot.iteration:,}")
        shown = [(snapshot.images, "Your run (WGAN)"), (snapshot.baseline_images, "GAN baseline")]
        shown = [(images, caption) for images, caption in shown if images is not None]
        if (recording := ui.recording.shipped(SHIPPED_RECORDING)) is not None:
            shown.append(ui.recording.frame_beside(recording, snapshot.iteration))
        for column, (images, caption) in zip(st.columns(len(shown)), shown, strict=True):  # one: twice the size
            picture = png_bytes(grid(images, columns=8), scale=max(1, 3 - len(shown)))
            column.image(picture, caption=caption, width="content" if len(shown) == 1 else "stretch")
        if run.data_note:
            st.info(run.data_note)
    marker = snapshot.iteration if len(run.snapshots) > 1 else None

    with chart_area:
        window = st.slider("Median window (the paper uses 101)", 1, 301, 101, step=2, key="train.window")
        st.plotly_chart(ui.train.w_figure(run, window, marker), key="train.chart.w")
        st.caption(ui.train.CHART_NOTES["w"])
        if run.baseline is not None:
            st.plotly_chart(ui.train.js_figure(run, window, marker), key="train.chart.js")
            st.caption(ui.train.CHART_NOTES["js"])
        more = st.selectbox(
            "More charts",
            [*ui.train.MORE_CHARTS, "quality (FID-MNIST)", "none"],
            key="train.more",
            help="One at a time, so each redraw stays quick while the run trains.",
        )
        if more in ui.train.MORE_CHARTS:
            key, figure = ui.train.MORE_CHARTS[more](run, window, marker)
            st.plotly_chart(figure, key=f"train.chart.{key}")
            if key in ui.train.CHART_NOTES:
                st.caption(ui.train.CHART_NOTES[key])
        elif more == "quality (FID-MNIST)":
            st.caption(ui.train.CHART_NOTES["quality"])
            recording = ui.recording.shipped(SHIPPED_RECORDING)
            recorded = {"recorded run": recording.quality} if recording else None
            render_quality_section(run.state, run.baseline, key="train.quality", recorded=recorded)
    return status


def live_panel() -> None:
    """One tick: draw the run as it stands, then train for a few seconds.

    Drawing first keeps the page readable while it trains: Streamlit greys out whatever a rerun has not
    redrawn yet, so training before drawing left the charts greyed for most of every tick.
    """
    current = controller()
    run = current.run
    if run is None:
        return
    status = draw(run)
    if not current.training:
        return
    seconds = tick()

    def write_status() -> None:  # also where this run stops once Pause has started a new one
        status.caption(
            f"Training: generator iteration {run.iteration:,}, {run.last_rate:,.0f} images/s. The charts and "
            f"samples redraw every {seconds:g} s."
        )

    if not current.train(seconds, write_status):
        st.caption("Other runs are using every training slot on this server; this one waits its turn.")
    elif current.stopped:
        st.rerun()  # the whole page, so the timer stops, the buttons say Resume and the last state is drawn


# --- save and load -----------------------------------------------------------------------------------------


def save_section(run: LiveRun) -> None:
    st.subheader("Save, download, load")
    runs = store()
    st.caption(f"Saved runs are {runs.describe()}.")
    left, right = st.columns(2)
    with left:
        name = st.text_input("Run name", value=live.default_run_name(run.state.config), key="train.save_name")
        if st.button("Save", key="train.save"):
            save(name)
        saved = st.session_state.get("train.saved")
        if saved in runs.names():
            st.success(f"Saved {saved}.")
            st.download_button(
                "Download the checkpoint",
                runs.data(saved),
                file_name=f"{saved}.pt",
                mime="application/octet-stream",
                key="train.download",
            )
    with right:
        load_section(replace_current=True)


def save(name: str) -> None:
    try:
        saved = controller().save(store(), name, "Training page")
    except (ValueError, StorageFull) as error:
        st.error(str(error))
        return
    st.session_state["train.saved"] = saved


def load_section(replace_current: bool = False) -> None:
    """Pick a saved full run (or upload one) and resume it; bad files show the library's one-line error."""
    runs = store()
    choice = st.selectbox("Saved runs", [None, *runs.names()], format_func=lambda n: n or "-", key="train.load_choice")
    upload = st.file_uploader("...or upload a checkpoint (.pt)", type=["pt"], key="train.upload")
    label = "Load and resume (replaces the current run)" if replace_current else "Load and resume"
    buttons = st.columns(2)
    if buttons[0].button(label, key="train.load", disabled=choice is None and upload is None):
        try:
            # Read through the one safe loader (torch.load weights_only=True: tensors and primitives only).
            checkpoint = read_checkpoint_bytes(upload.getvalue(), upload.name) if upload else runs.load(choice)
            run = live.resume_run(checkpoint, data_root(), device(), limits=controller().limits, images=cached_images)
        except (CheckpointError, DataUnavailableError) as error:
            st.error(str(error))
            return
        tune_allocator(run)
        act("load", run)
        st.rerun()
    if isinstance(runs, SessionRuns) and choice is not None and buttons[1].button("Delete", key="train.delete"):
        runs.delete(choice)
        st.rerun()


# --- the page ----------------------------------------------------------------------------------------------

registry().sweep(hosting().idle_release_seconds)  # any visitor's page run frees runs idle for too long
st.title("Train a WGAN")
st.caption(
    f"Training on {describe_device(device())}; the charts redraw, then the run trains for about "
    f"{tick():g} s (a status line counts its iterations), and again. The run lives in this browser "
    f"tab's session and survives switching pages. {hosting().describe()}.\n\n{ui.train.EXPECTATIONS}"
)
if st.session_state.get("train.device_warning"):
    st.warning(st.session_state["train.device_warning"])

current = controller()
if current.released_note:
    st.warning(current.released_note)
run = current.run
if run is None:
    config, options = settings_form()
    if st.button("Start", type="primary", key="train.start", disabled=config is None):
        begin(config, options)
        st.rerun()
    if "train.error" in st.session_state:
        st.error(st.session_state["train.error"])
    with st.expander("Load a saved run"):
        load_section()
    if (recording := ui.recording.shipped(SHIPPED_RECORDING)) is not None:
        ui.recording.render_player(recording)
else:
    if current.training:
        # Streamlit's running indicator would be on for every tick, so all the time, taking browser CPU from
        # training on a shared machine; its Stop does not pause either (Pause does). A style-only st.html
        # draws nothing and leaves with the next full run (Pause, or the end of the run).
        st.html(HIDE_RUNNING_INDICATOR)
    buttons = st.columns([1, 1, 1, 4])
    if current.training:
        button(buttons[0], "Pause", "pause", type="primary")
    else:
        button(buttons[0], "Resume", "resume", type="primary", disabled=not current.can("resume"))
    step_help = "Pause and train one generator iteration."
    button(buttons[1], "Step", "step", help=step_help, disabled=not current.can("step"))
    button(buttons[2], "Reset", "reset", help="Discard this run and choose new settings.")
    buttons[3].caption(ui.train.run_summary(current.status.value, run))
    if current.status is RunStatus.DIVERGED:
        st.error(run.problem)
        retry = st.columns([1, 1, 3])
        button(retry[0], "Resume as it is", "retry")
        button(retry[1], "Resume with half the learning rates", "retry", 0.5, key="train.retry_half")
    elif current.stopped:
        st.info(f"This run {run.stop_reason}. Save or download it, or Reset for a new one.")
        if current.can("extend"):
            button(st, f"Train {live.DEFAULT_TARGET_EPOCHS:g} more epochs", "extend", type="primary")
    with st.expander("This run's hyperparameters"):
        st.json(run.state.config.to_dict(), expanded=False)
    st.fragment(live_panel, run_every=RERUN_EVERY if current.training else None)()
    save_section(run)
