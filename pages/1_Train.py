"""Training page: train a WGAN (optionally beside its GAN baseline) in chunks you can watch.

Widgets -> wgan.live (a LiveRun in this tab's session) -> charts from ui.train. Training runs inside a
fragment that reruns back to back while the run trains (one redraw, then several seconds of training in
chunks of STATUS_SECONDS, a status line between them), so the page never freezes and a paused run stops
training within a chunk.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import streamlit as st

from ui.navigation import leave_pages_folder_mode
from ui.quality import render_quality_section
from ui.train import critic_figure, format_seconds, generator_figure, holdout_figure, smoothed_figure
from wgan.checkpoint import CheckpointError
from wgan.config import LAYOUTS, LIPSCHITZ, OBJECTIVES, OPTIMIZERS, PRESETS, ConfigError, TrainConfig, apply_overrides
from wgan.data import DataUnavailableError
from wgan.device import describe_device, pick_device, tune_cpu_allocator
from wgan.hosting import Hosting, trainer_slots
from wgan.live import (
    DEFAULT_SNAPSHOT_EVERY,
    DEFAULT_TARGET_EPOCHS,
    HOLDOUT_EVERY_SNAPSHOTS,
    LiveRun,
    RunLimits,
    RunRegistry,
    RunSlot,
    baseline_run_name,
    default_run_name,
    load_training_data,
    page_defaults,
    resume_run,
    run_card,
    start_run,
)
from wgan.models import ARCHITECTURES
from wgan.objectives import LOG2
from wgan.paths import DATA_ROOT, RUNS_DIR
from wgan.sampling import grid, png_bytes
from wgan.storage import FolderRuns, SessionRuns, StorageFull, read_checkpoint_bytes

leave_pages_folder_mode()  # a shared deep link opened first on a fresh server
st.set_page_config(page_title="Train a WGAN", page_icon="📈", layout="wide")

DATASET_LABELS = {
    "mnist": "MNIST (downloaded once into data/)",
    "fashion-mnist": "Fashion-MNIST (downloaded once into data/)",
    "digits-offline": "Offline digits (5,000 real MNIST digits installed with pip)",
}
PRESET_LABELS = {
    "clip": "clip: WGAN with weight clipping on the repaired models (the shipped wgan-clip.pt's recipe)",
    "seed": "seed: the blog post (seed models, RMSprop 2e-4, batch 512, clip 0.01, 1 critic step)",
    "paper": "paper: WGAN Algorithm 1 (seed models, RMSprop 5e-5, batch 64, 5 critic steps, warm-up)",
    "gp": "gp: WGAN-GP (repaired models, Adam 1e-4, betas 0/0.9, penalty 10, no critic batch norm)",
    "gan": "gan: standard GAN baseline (repaired models, BCE, Adam 2e-4, beta1 0.5)",
}
DEFAULT_PRESET = "clip" if "clip" in PRESETS else "seed"
CHOICES = {
    "objective": OBJECTIVES,
    "lipschitz": LIPSCHITZ,
    "optimizer": OPTIMIZERS,
    "precision": ("fp32", "bf16"),
    "split": ("train", "test"),
    "arch": tuple(ARCHITECTURES),
    "layout": LAYOUTS,
}
# Training per tick. Each tick's redraw costs a fixed share: the server draws and snapshots (about 0.17 s on
# 2 CPU cores), and a browser on the same cores renders the update while the next chunk trains. On 2 cores
# with Chromium beside the server, 4 s ticks trained 4% faster than 3 s ones (alternated in one session).
# A tick trains in chunks of at most STATUS_SECONDS and updates one status line after each. A press of
# Pause starts a new script run at once (Streamlit's fast reruns: the page says Paused within about 0.25 s)
# while the old run trains on until its next Streamlit call, the status line: so the chunk, not the tick,
# bounds that, and the tick itself can be long. Each status update costs the browser too: Chromium used
# 10.1% of a core with one every second, 7.2% with one every 4 s (8 s ticks, page_run's setting).
TICK_TRAIN_SECONDS = {"cpu": 8.0}
STATUS_SECONDS = 2.0
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
    return load_training_data(dataset, root, split)


# --- this session ----------------------------------------------------------------------------------------


def slot() -> RunSlot:
    if "train.slot" not in st.session_state:
        st.session_state["train.slot"] = RunSlot()
        registry().register(st.session_state["train.slot"])
    return st.session_state["train.slot"]


def store() -> FolderRuns | SessionRuns:
    """Where Save puts runs: checkpoints/runs/ locally; this session only on a shared host."""
    if "train.store" not in st.session_state:
        if hosting().hosted:
            st.session_state["train.store"] = SessionRuns(hosting().saved_runs, hosting().saved_bytes)
        else:
            st.session_state["train.store"] = FolderRuns(Path(st.session_state.get("train.runs_dir") or RUNS_DIR))
    return st.session_state["train.store"]


def data_root() -> str:
    """Where MNIST files live: the session's override (tests), $WGAN_DATA_ROOT, or the project's data/."""
    return str(st.session_state.get("train.data_root") or os.environ.get("WGAN_DATA_ROOT") or DATA_ROOT)


def device():
    """The training device: $WGAN_DEVICE if set and usable (else a warning and 'auto'), once per session."""
    if "train.device" not in st.session_state:
        try:
            chosen = pick_device(os.environ.get("WGAN_DEVICE", "auto"))
        except (RuntimeError, ValueError) as error:
            st.session_state["train.device_warning"] = f"{error}; using the best device found instead."
            chosen = pick_device("auto")
        st.session_state["train.device"] = chosen
    return st.session_state["train.device"]


def limits() -> RunLimits:
    return RunLimits(hosting().max_run_iterations, hosting().max_run_seconds)


def tick_seconds() -> float:
    override = st.session_state.get("train.chunk_seconds")
    return float(override) if override is not None else TICK_TRAIN_SECONDS.get(device().type, 1.0)


# --- settings --------------------------------------------------------------------------------------------


def settings_form() -> tuple[TrainConfig | None, dict]:
    """Widgets for a new run; returns (config or None when a value is bad, run options)."""
    left, right = st.columns(2)
    presets = sorted(PRESETS, key=lambda name: name != DEFAULT_PRESET)
    preset_name = left.selectbox("Preset", presets, format_func=lambda p: PRESET_LABELS.get(p, p), key="train.preset")
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
        "Epochs to train", 0.1, 1000.0, DEFAULT_TARGET_EPOCHS, step=1.0, key="train.epochs"
    )
    snapshot_every = right.number_input(
        "Snapshot every N generator iterations",
        1,
        100_000,
        DEFAULT_SNAPSHOT_EVERY,
        key="train.snapshot_every",
        help="Sample grids from the fixed noise (for the scrubber) are taken this often, the held-out check "
        f"every {HOLDOUT_EVERY_SNAPSHOTS} snapshots.",
    )
    base = PRESETS[preset_name]
    suggested = page_defaults(base, device())
    if suggested:
        st.info(
            "No GPU here, so the run starts with "
            + ", ".join(f"**{key} = {value}**" for key, value in suggested.items())
            + " instead of the preset's "
            + ", ".join(f"{key} = {getattr(base, key)}" for key in suggested)
            + " (bf16: this CPU has bf16 matrix instructions, so autocast is faster, weights stay fp32; "
            "batch 64: many more generator "
            "updates per second, so digits form within minutes). Change them under Advanced."
        )
    overrides = []
    with st.expander("Advanced: every hyperparameter (the preset's value is shown beside each)"):
        columns = st.columns(3)
        editable = [f for f in fields(TrainConfig) if f.name not in ("preset", "dataset")]
        for index, spec in enumerate(editable):
            column = columns[index % 3]
            default = getattr(base, spec.name)
            start = suggested.get(spec.name, default)
            label = f"{spec.name} (preset: {default})"
            key = f"train.adv.{preset_name}.{spec.name}"  # per preset, so switching presets shows its values
            if spec.name in CHOICES:
                options = CHOICES[spec.name]
                value = column.selectbox(label, options, index=options.index(start), key=key)
            elif isinstance(default, bool):
                value = column.checkbox(label, value=start, key=key)
            else:
                value = column.text_input(
                    label, value=f"{start:g}" if isinstance(start, float) else str(start), key=key
                )
            if str(value) != str(default) and not (isinstance(default, float) and _same_float(value, default)):
                overrides.append(f"{spec.name}={value}")
    options = {"compare": compare, "target_epochs": float(target_epochs), "snapshot_every": int(snapshot_every)}
    try:
        config = apply_overrides(base, [*overrides, f"dataset={dataset}"])
    except ConfigError as error:
        st.error(str(error))
        return None, options
    if overrides:
        st.caption("Changed from the preset: " + ", ".join(overrides))
    return config, options


def _same_float(text: str, value: float) -> bool:
    try:
        return float(text) == value
    except ValueError:
        return False


def begin(config: TrainConfig, options: dict) -> None:
    """Load the data (falling back to the offline digits) and start a fresh run."""
    try:
        with st.spinner("Building the models..."):
            run = start_run(config, data_root(), device(), limits=limits(), images=cached_images, **options)
    except DataUnavailableError as error:
        st.session_state["train.error"] = str(error)
        return
    place(run, running=True)


def place(run: LiveRun, running: bool) -> None:
    """Make `run` this session's run."""
    if not hosting().hosted and run.state.device.type == "cpu":
        tune_cpu_allocator()  # a single-user app owns its process; a shared server returns memory instead
    current = slot()
    current.run, current.running, current.released_note = run, running, None
    if running:
        run.start_clock()
    st.session_state.pop("train.error", None)


# --- control callbacks (run before the script, so labels and run_every see the new state) -----------------


def pause() -> None:
    current = slot()
    current.running = False
    if current.run is not None:
        current.run.stop_clock()


def resume(lr_scale: float = 1.0) -> None:
    current = slot()
    if current.run is None:
        return
    current.run.clear_problem(lr_scale)
    current.running = not current.run.done
    if current.running:
        current.run.start_clock()


def extend() -> None:
    """A run that reached its target epochs trains on, DEFAULT_TARGET_EPOCHS further."""
    run = slot().run
    if run is not None and run.can_extend:
        run.extend()
        resume()


def step() -> None:
    pause()
    run = slot().run
    if run is not None:
        run.clear_problem()
        run.tick(0.0, max_iterations=1)


def reset() -> None:
    pause()
    current = slot()
    current.run = None
    for key in ("train.saved", "train.error"):
        st.session_state.pop(key, None)


# --- the live panel ----------------------------------------------------------------------------------------


def draw(run: LiveRun) -> st.delta_generator.DeltaGenerator:
    """The run as it stands; returns the placeholder under the metrics for the status line."""
    state = run.state
    cols = st.columns(6)
    cols[0].metric("Epoch", f"{run.epoch:.2f} / {run.target_epochs:g}")
    cols[1].metric("Generator iteration", f"{run.iteration:,}")
    cols[2].metric(
        "Images/s, whole run",
        f"{run.overall_rate():,.0f}",
        help="Real images through the critic per second since the models were built (you pressed Start), "
        "pauses excluded: training, redrawing and waiting all counted (both runs when comparing).",
    )
    cols[3].metric("Images/s, training", f"{run.last_rate:,.0f}", help="Inside the last chunk of training only.")
    cols[4].metric("Seconds per epoch", "-" if run.epoch == 0 else f"{run.seconds_per_epoch():,.1f}")
    cols[5].metric("ETA", "stopped" if run.done else format_seconds(run.eta_seconds()))
    st.progress(min(1.0, run.epoch / run.target_epochs))
    status = st.empty()  # live_panel's one-line status while the tick trains

    chart_area, sample_area = st.columns([3, 2])
    with sample_area:
        iterations = [snapshot.iteration for snapshot in run.snapshots]
        if len(iterations) > 1 and not slot().running:
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
        if snapshot.baseline_images is None:
            st.image(png_bytes(grid(snapshot.images, columns=8), scale=2), caption="WGAN")
        else:
            left, right = st.columns(2)
            left.image(png_bytes(grid(snapshot.images, columns=8), scale=1), caption="WGAN", width="stretch")
            right.image(
                png_bytes(grid(snapshot.baseline_images, columns=8), scale=1), caption="GAN baseline", width="stretch"
            )
        if run.data_note:
            st.info(run.data_note)
    marker = snapshot.iteration if len(run.snapshots) > 1 else None

    with chart_area:
        window = st.slider("Median window (the paper uses 101)", 1, 301, 101, step=2, key="train.window")
        columns = state.history.columns
        st.plotly_chart(
            smoothed_figure(columns, "w_estimate", "W estimate: mean f(real) - mean f(fake)", window, marker),
            key="train.chart.w",
        )
        st.caption(
            "The W estimate approximates the Wasserstein distance (up to the critic's Lipschitz constant): "
            "it should be positive and fall as the samples improve. The critic loss is its negative."
        )
        if run.baseline is not None:
            st.plotly_chart(
                smoothed_figure(
                    run.baseline.history.columns,
                    "js_estimate",
                    "GAN baseline: JS estimate log 2 - L_D / 2",
                    window,
                    marker,
                    reference=LOG2,
                ),
                key="train.chart.js",
            )
            st.caption(
                "The GAN's discriminator-based JS estimate sits near log 2 whatever the samples look like: "
                "it says nothing about quality (WGAN paper, Figure 4)."
            )
        more = st.selectbox(
            "More charts",
            ["critic means", "held-out check", "generator loss", "quality (FID-MNIST)", "none"],
            key="train.more",
            help="One at a time, so each redraw stays quick while the run trains.",
        )
        if more == "critic means":
            st.plotly_chart(critic_figure(columns, window, marker), key="train.chart.critic")
        elif more == "held-out check":
            st.plotly_chart(holdout_figure(run, marker), key="train.chart.holdout")
            st.caption(
                "Held-out images are never shown to the critic. A growing gap between the two curves means "
                "the critic memorises its training images (WGAN-GP, section 5)."
            )
        elif more == "generator loss":
            st.plotly_chart(generator_figure(run, window, marker), key="train.chart.generator")
            st.caption(
                "Shifting the critic by a constant shifts the generator loss too, so its level means "
                "nothing for a WGAN; watch the W estimate instead."
            )
        elif more == "quality (FID-MNIST)":
            st.caption("Evaluates 1,000 samples every 100 iterations: about a second each on a CPU.")
            render_quality_section(run.state, run.baseline, key="train.quality")
    return status


def live_panel() -> None:
    """One tick: draw the run as it stands, then train for a few seconds.

    Drawing first keeps the page readable while it trains: Streamlit greys out whatever a rerun has not
    redrawn yet, so training before drawing left the charts greyed for most of every tick.
    """
    current = slot()
    run = current.run
    if run is None:
        return
    status = draw(run)
    if not current.running:
        return
    seconds = tick_seconds()

    def write_status() -> None:  # also where this run stops once Pause has started a new one
        status.caption(
            f"Training: generator iteration {run.iteration:,}, {run.last_rate:,.0f} images/s. The charts and "
            f"samples redraw every {seconds:g} s."
        )

    slots = trainer_slots(hosting().max_trainers)
    if slots.acquire(timeout=seconds):
        try:
            run.train_for(seconds, STATUS_SECONDS, write_status)
        finally:
            slots.release()
    else:
        st.caption("Other runs are using every training slot on this server; this one waits its turn.")
    if run.done:
        pause()
        st.rerun()  # the whole page, so the timer stops, the buttons say Resume and the last state is drawn


# --- save and load -----------------------------------------------------------------------------------------


def save_section(run: LiveRun) -> None:
    st.subheader("Save, download, load")
    runs = store()
    st.caption(f"Saved runs are {runs.describe()}.")
    left, right = st.columns(2)
    with left:
        name = st.text_input("Run name", value=default_run_name(run.state.config), key="train.save_name")
        if st.button("Save", key="train.save"):
            save(run, name)
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


def save(run: LiveRun, name: str) -> None:
    runs, card = store(), run_card(run, "Training page")
    try:
        with run.busy:  # a chunk still training from before a Pause ends first
            saved = runs.save(name, run.state, card)
            if run.baseline is not None:
                runs.save(baseline_run_name(saved), run.baseline, card)
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
            run = resume_run(checkpoint, data_root(), device(), limits=limits(), images=cached_images)
        except (CheckpointError, DataUnavailableError) as error:
            st.error(str(error))
            return
        reset()
        place(run, running=False)
        st.rerun()
    if isinstance(runs, SessionRuns) and choice is not None and buttons[1].button("Delete", key="train.delete"):
        runs.delete(choice)
        st.rerun()


# --- the page ----------------------------------------------------------------------------------------------

registry().sweep(hosting().idle_release_seconds)  # any visitor's page run frees runs idle for too long
st.title("Train a WGAN")
st.caption(
    f"Training on {describe_device(device())}; the charts redraw, then the run trains for about "
    f"{tick_seconds():g} s (a status line counts its iterations), and again. The run lives in this browser "
    f"tab's session and survives switching pages. {hosting().describe()}."
)
if "train.device_warning" in st.session_state:
    st.warning(st.session_state["train.device_warning"])

current = slot()
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
else:
    running = current.running
    if running:
        # Streamlit's running indicator (a cycling icon and a Stop button in the header) would be on for every
        # tick, so all the time: redrawing it took a quarter of the browser's CPU here, which it takes from the
        # training threads on a shared machine. Its Stop does not pause either (the next tick starts again);
        # Pause and the status line below do. A style-only st.html draws nothing and leaves with the next
        # full run (Pause, or the end of the run).
        st.html(HIDE_RUNNING_INDICATOR)
    buttons = st.columns([1, 1, 1, 4])
    if running:
        buttons[0].button("Pause", key="train.pause", on_click=pause, type="primary")
    else:
        buttons[0].button("Resume", key="train.resume", on_click=resume, type="primary", disabled=run.done)
    buttons[1].button("Step", key="train.step", on_click=step, help="Pause and train one generator iteration.")
    buttons[2].button("Reset", key="train.reset", on_click=reset, help="Discard this run and choose new settings.")
    config = run.state.config
    lockstep = ", with a GAN baseline in lockstep" if run.baseline else ""
    buttons[3].caption(
        f"{'Training' if running else 'Paused'}: preset **{config.preset}**, {config.arch} models, objective "
        f"{config.objective}, lipschitz {config.lipschitz}, {config.dataset} ({len(run.state.data):,} training "
        f"images), batch {config.batch_size}, n_critic {config.n_critic}{lockstep}"
    )
    if run.problem:
        st.error(run.problem)
        retry = st.columns([1, 1, 3])
        retry[0].button("Resume as it is", key="train.retry", on_click=resume)
        retry[1].button("Resume with half the learning rates", key="train.retry_half", on_click=resume, args=(0.5,))
    elif run.done:
        st.info(f"This run {run.stop_reason}. Save or download it, or Reset for a new one.")
        if run.can_extend:
            st.button(
                f"Train {DEFAULT_TARGET_EPOCHS:g} more epochs", key="train.extend", on_click=extend, type="primary"
            )
    with st.expander("This run's hyperparameters"):
        st.json(config.to_dict(), expanded=False)
    st.fragment(live_panel, run_every=RERUN_EVERY if running else None)()
    save_section(run)
