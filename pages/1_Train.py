"""Training page: train the seed's WGAN (optionally beside its GAN baseline) in short chunks you can watch.

Widgets -> wgan.live (a LiveRun kept in session state) -> plotly charts. Training runs inside a fragment
with run_every, a fraction of a second per tick, so Pause answers at the next tick and the page never
freezes; each browser tab has its own session state, hence its own run.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import threading
import time
from dataclasses import fields
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from ui.quality import render_quality_section
from wgan.checkpoint import RUNS_DIR, CheckpointError, load_checkpoint, restore_state, save_checkpoint
from wgan.config import PRESETS, TrainConfig, apply_overrides
from wgan.data import DataUnavailableError
from wgan.device import cpu_has_fast_bf16, describe_device, pick_device
from wgan.live import LiveRun, load_training_data, start_run, thin
from wgan.objectives import LOG2
from wgan.sampling import grid, png_bytes
from wgan.smoothing import centred_median

st.set_page_config(page_title="Train a WGAN", layout="wide")

DATASET_LABELS = {
    "mnist": "MNIST (downloaded once into data/)",
    "fashion-mnist": "Fashion-MNIST (downloaded once into data/)",
    "digits-offline": "Offline digits (5,000 real MNIST digits installed with pip)",
}
PRESET_LABELS = {
    "seed": "seed: the blog post (RMSprop 2e-4, batch 512, clip 0.01, 1 critic step)",
    "paper": "paper: WGAN Algorithm 1 (RMSprop 5e-5, batch 64, 5 critic steps, warm-up)",
    "gp": "gp: WGAN-GP (Adam 1e-4, betas 0/0.9, penalty 10, no critic batch norm)",
    "gan": "gan: standard GAN baseline (BCE, Adam 2e-4, beta1 0.5)",
}
CHOICES = {
    "objective": ("wgan", "wgan-gp", "gan"),
    "optimizer": ("rmsprop", "adam"),
    "precision": ("fp32", "bf16"),
    "split": ("train", "test"),
}
MAX_CHART_POINTS = 2000  # per trace; long runs are strided so each tick stays cheap to draw


def data_root() -> str:
    """Where MNIST files live: the session's override (tests), $WGAN_DATA_ROOT, or ./data."""
    return str(st.session_state.get("train.data_root") or os.environ.get("WGAN_DATA_ROOT", "data"))


def runs_dir() -> Path:
    return Path(st.session_state.get("train.runs_dir") or RUNS_DIR)


@st.cache_resource(max_entries=4, show_spinner="Loading images...")
def cached_images(dataset: str, root: str, split: str):
    """The dataset's images, shared read-only by every session (init_state copies what it trains on)."""
    return load_training_data(dataset, root, split)


@st.cache_resource
def trainer_slots() -> threading.BoundedSemaphore:
    """Caps how many sessions train at the same moment (a hosted app has 1-2 cores for every visitor).

    Shared by all sessions on purpose: it holds no model, only the count ($WGAN_MAX_TRAINERS, default 2).
    """
    return threading.BoundedSemaphore(max(1, int(os.environ.get("WGAN_MAX_TRAINERS", "2"))))


def device():
    """The training device: $WGAN_DEVICE if set and usable (else a warning and 'auto'), once per session."""
    if "train.device" not in st.session_state:
        try:
            chosen = pick_device(os.environ.get("WGAN_DEVICE", "auto"))
        except RuntimeError as error:
            st.warning(f"{error}; using the best device found instead.")
            chosen = pick_device("auto")
        st.session_state["train.device"] = chosen
    return st.session_state["train.device"]


def chunk_seconds() -> float:
    """Training time per tick: short on a CPU so Pause and redraws stay quick, longer on a GPU."""
    override = st.session_state.get("train.chunk_seconds")
    if override is not None:
        return float(override)
    return 0.8 if device().type == "cuda" else 0.4


def tick_interval() -> float:
    """Seconds between ticks: a little more than a tick takes, so ticks never queue up behind each other."""
    last = st.session_state.get("train.tick_wall", chunk_seconds() + 0.6)  # a guess until a tick is timed
    return min(5.0, max(0.5, 1.3 * last))


# --- settings --------------------------------------------------------------------------------------------


def settings_form() -> tuple[TrainConfig | None, dict]:
    """Widgets for a new run; returns (config or None when a value is bad, run options)."""
    left, right = st.columns(2)
    dataset = left.selectbox(
        "Dataset",
        list(DATASET_LABELS),
        format_func=DATASET_LABELS.get,
        key="train.dataset",
        help="Without internet, MNIST and Fashion-MNIST fall back to the offline digits (the page says so).",
    )
    preset_name = right.selectbox("Preset", list(PRESETS), format_func=PRESET_LABELS.get, key="train.preset")
    compare = left.toggle(
        "Compare on the same seed: train a GAN baseline in lockstep",
        key="train.compare",
        help="The same run with the seed's four changes undone (log loss, no clipping, Adam with momentum): "
        "same initial weights, same real batches in the same order, same noise.",
    )
    target_epochs = right.number_input("Epochs to train", 0.1, 1000.0, 30.0, step=1.0, key="train.epochs")
    snapshot_every = right.number_input(
        "Snapshot every N generator iterations",
        1,
        100_000,
        25,
        key="train.snapshot_every",
        help="Sample grids from the fixed noise (for the scrubber) and the held-out check are taken this often.",
    )
    base = PRESETS[preset_name]
    suggested = cpu_suggestions(base)
    if suggested:
        reasons = []
        if "batch_size" in suggested:
            reasons.append(
                f"batch 64 instead of the preset's {base.batch_size} ({base.batch_size // 64}x more generator "
                "updates per second, so digit-like samples appear within minutes)"
            )
        if "precision" in suggested:
            reasons.append("bf16 autocast (this CPU has AMX: about 1.5-2x faster; weights stay fp32)")
        st.info("No GPU here, so the run starts with " + " and ".join(reasons) + ". Change them under Advanced.")
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
    except ValueError as error:
        st.error(str(error))
        return None, options
    if overrides:
        st.caption("Changed from the preset: " + ", ".join(overrides))
    return config, options


def cpu_suggestions(base: TrainConfig) -> dict:
    """Starting values that differ from the preset on a CPU: batch 64 (measured: at batch 512 a 2-core CPU
    manages ~1 generator iteration per second and shows noise after two minutes; at 64, pen strokes)."""
    if device().type != "cpu":
        return {}
    suggested = {}
    if base.batch_size > 64:
        suggested["batch_size"] = 64
    if base.precision == "fp32" and cpu_has_fast_bf16():
        suggested["precision"] = "bf16"
    return suggested


def _same_float(text: str, value: float) -> bool:
    try:
        return float(text) == value
    except ValueError:
        return False


def begin(config: TrainConfig, options: dict) -> None:
    """Load the data (falling back to the offline digits) and start a fresh run, paused=False."""
    try:
        data, used, note = cached_images(config.dataset, data_root(), config.split)
        if used != config.dataset:
            config = apply_overrides(config, [f"dataset={used}"])
        with st.spinner("Building the models..."):
            run = start_run(
                config, data, device(), options["compare"], options["target_epochs"], options["snapshot_every"], note
            )
    except (DataUnavailableError, ValueError) as error:
        st.session_state["train.error"] = str(error)
        return
    st.session_state["train.run"] = run
    st.session_state["train.running"] = True
    st.session_state.pop("train.error", None)


# --- control callbacks (run before the script, so labels and run_every see the new state) -----------------


def pause() -> None:
    st.session_state["train.running"] = False


def resume() -> None:
    run = st.session_state.get("train.run")
    st.session_state["train.running"] = run is not None and not run.done


def step() -> None:
    run = st.session_state.get("train.run")
    if run is not None:
        st.session_state["train.running"] = False
        run.tick(0.0, max_iterations=1)


def reset() -> None:
    for key in ("train.run", "train.running", "train.saved", "train.error", "train.tick_wall"):
        st.session_state.pop(key, None)


# --- charts ------------------------------------------------------------------------------------------------


def _line(fig: go.Figure, x, y, name: str, **style) -> None:
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, **style))


def _layout(fig: go.Figure, title: str, y_title: str, marker: int | None) -> go.Figure:
    if marker is not None:
        fig.add_vline(x=marker, line_dash="dot", line_color="gray")
    fig.update_layout(
        title=title,
        xaxis_title="generator iteration",
        yaxis_title=y_title,
        height=320,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def smoothed_figure(
    columns: dict, name: str, title: str, window: int, marker: int | None, reference: float | None = None
) -> go.Figure:
    """One metric against generator iterations: raw (faint) and running median (bold)."""
    x, y = columns.get("iteration", []), columns.get(name, [])
    keep = thin(len(x), MAX_CHART_POINTS)
    fig = go.Figure()
    _line(fig, x[keep], y[keep], "raw", opacity=0.3, line=dict(width=1))
    _line(fig, x[keep], centred_median(y, window)[keep], f"median of {window}", line=dict(width=3))
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dash", annotation_text="log 2", line_color="firebrick")
    return _layout(fig, title, name.replace("_", " "), marker)


def critic_figure(columns: dict, window: int, marker: int | None) -> go.Figure:
    x = columns.get("iteration", [])
    keep = thin(len(x), MAX_CHART_POINTS)
    fig = go.Figure()
    for name, label in (("critic_real", "mean f(real)"), ("critic_fake", "mean f(fake)")):
        _line(fig, x[keep], centred_median(columns.get(name, []), window)[keep], label)
    return _layout(fig, "Critic mean on real and on fake images (median-smoothed)", "critic score", marker)


def generator_figure(run: LiveRun, window: int, marker: int | None) -> go.Figure:
    fig = go.Figure()
    for label, state in (("WGAN", run.state), ("GAN baseline", run.baseline)):
        if state is None:
            continue
        columns = state.history.columns
        x = columns.get("iteration", [])
        keep = thin(len(x), MAX_CHART_POINTS)
        _line(fig, x[keep], centred_median(columns.get("generator_loss", []), window)[keep], label)
    return _layout(fig, "Generator loss (secondary)", "generator loss", marker)


def holdout_figure(run: LiveRun, marker: int | None) -> go.Figure:
    fig = go.Figure()
    x = run.holdout["iteration"]
    fig.add_trace(go.Scatter(x=x, y=run.holdout["w_train"], mode="lines+markers", name="training images"))
    fig.add_trace(go.Scatter(x=x, y=run.holdout["w_holdout"], mode="lines+markers", name="held-out images"))
    return _layout(fig, "W estimate on training vs held-out images (critic loss = minus these)", "W estimate", marker)


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


# --- the live panel ----------------------------------------------------------------------------------------


def draw(run: LiveRun) -> None:
    state = run.state
    cols = st.columns(5)
    cols[0].metric("Epoch", f"{run.epoch:.2f} / {run.target_epochs:g}")
    cols[1].metric("Generator iteration", f"{run.iteration:,}")
    cols[2].metric(
        "Images/s",
        f"{run.last_rate:,.0f}",
        help="Real images through the critic per second, both runs counted when comparing.",
    )
    cols[3].metric("Seconds per epoch", "-" if run.epoch == 0 else f"{run.seconds_per_epoch():,.1f}")
    cols[4].metric("ETA", "done" if run.done else format_seconds(run.eta_seconds()))
    st.progress(min(1.0, run.epoch / run.target_epochs))

    chart_area, sample_area = st.columns([3, 2])
    with sample_area:
        iterations = [snapshot.iteration for snapshot in run.snapshots]
        if len(iterations) > 1:
            chosen = st.select_slider(
                "Scrub through snapshots (generator iteration)",
                options=iterations,
                value=iterations[-1],
                help="Follows the newest snapshot while training runs; pause to scrub back.",
            )
        else:
            chosen = iterations[0]
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
        st.plotly_chart(critic_figure(columns, window, marker), key="train.chart.critic")
        if run.holdout["iteration"]:
            st.plotly_chart(holdout_figure(run, marker), key="train.chart.holdout")
            st.caption(
                "Held-out images are never shown to the critic. A growing gap between the two curves means "
                "the critic memorises its training images (WGAN-GP, section 5)."
            )
        with st.expander("Generator loss (secondary)"):
            st.plotly_chart(generator_figure(run, window, marker), key="train.chart.generator")
            st.caption(
                "Shifting the critic by a constant shifts the generator loss too, so its level means "
                "nothing for a WGAN; watch the W estimate instead."
            )
        quality_on = st.toggle(
            "Measure quality: FID-MNIST and digit coverage (about 1 s per evaluation on a CPU)",
            value=device().type == "cuda",
            key="train.quality_on",
        )
        if quality_on:
            render_quality_section(run.state, run.baseline, key="train.quality")


def live_panel() -> None:
    run = st.session_state.get("train.run")
    if run is None:
        return
    start = time.perf_counter()
    if st.session_state.get("train.running"):
        slots = trainer_slots()
        if slots.acquire(timeout=chunk_seconds()):
            try:
                run.tick(chunk_seconds())
            finally:
                slots.release()
        else:
            st.caption("Other runs are using every training slot on this server; this one waits its turn.")
        if run.done:
            st.session_state["train.running"] = False
            st.rerun()  # the whole page, so the timer stops and the buttons say Resume
    draw(run)
    # Training plus drawing: the next full rerun sets run_every a little above it (see tick_interval).
    st.session_state["train.tick_wall"] = time.perf_counter() - start


# --- save and load -----------------------------------------------------------------------------------------


def save_section(run: LiveRun) -> None:
    st.subheader("Save, download, load")
    left, right = st.columns(2)
    with left:
        name = st.text_input("Run name", value=f"{run.state.config.preset}-run", key="train.save_name")
        if st.button("Save to checkpoints/", key="train.save"):
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-")
            if not safe:
                st.error("Give the run a name made of letters, digits, '-', '_' or '.'.")
            else:
                card = {
                    "made_by": "Training page",
                    "data": run.state.data.source,
                    "device": describe_device(run.state.device),
                    "wall_seconds": run.state.wall_seconds,
                }
                path = save_checkpoint(run.state, runs_dir() / f"{safe}.pt", card=card)
                if run.baseline is not None:
                    save_checkpoint(run.baseline, runs_dir() / f"{safe}-gan-baseline.pt", card=card)
                st.session_state["train.saved"] = str(path)
        saved = st.session_state.get("train.saved")
        if saved and Path(saved).is_file():
            st.success(f"Saved {saved} at iteration {run.iteration:,}.")
            st.download_button(
                "Download the checkpoint",
                Path(saved).read_bytes(),
                file_name=Path(saved).name,
                mime="application/octet-stream",
                key="train.download",
            )
    with right:
        load_section(replace_current=True)


def load_section(replace_current: bool = False) -> None:
    """Pick a saved full run (or upload one) and resume it; bad files show the library's one-line error."""
    folder = runs_dir()
    saved = sorted(folder.glob("*.pt")) if folder.is_dir() else []
    choice = st.selectbox(
        "Saved runs", [None, *saved], format_func=lambda p: "-" if p is None else p.name, key="train.load_choice"
    )
    upload = st.file_uploader("...or upload a checkpoint (.pt)", type=["pt"], key="train.upload")
    label = "Load and resume (replaces the current run)" if replace_current else "Load and resume"
    if st.button(label, key="train.load", disabled=choice is None and upload is None):
        try:
            if upload is not None:
                # Read through the same loader (torch.load weights_only=True: tensors and primitives only).
                with tempfile.TemporaryDirectory() as folder_name:
                    path = Path(folder_name) / "upload.pt"
                    path.write_bytes(upload.getvalue())
                    try:
                        checkpoint = load_checkpoint(path)
                    except CheckpointError as error:
                        raise CheckpointError(str(error).replace(str(path), upload.name)) from None
            else:
                checkpoint = load_checkpoint(choice)
            data, used, note = cached_images(checkpoint.config.dataset, data_root(), checkpoint.config.split)
            state = restore_state(checkpoint, data, device())
        except (CheckpointError, DataUnavailableError) as error:
            st.error(str(error))
            return
        reset()
        st.session_state["train.run"] = LiveRun(state, None, max(30.0, math.ceil(state.epoch) + 10), 25, note)
        st.session_state["train.running"] = False
        st.rerun()


# --- the page ----------------------------------------------------------------------------------------------

st.title("Train a WGAN")
st.caption(
    f"Training on {describe_device(device())}. Each tick trains about {chunk_seconds():.1f} s, then the "
    "charts redraw; the run lives in this browser tab's session and survives switching pages."
)

run: LiveRun | None = st.session_state.get("train.run")
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
    running = bool(st.session_state.get("train.running"))
    buttons = st.columns([1, 1, 1, 4])
    if running:
        buttons[0].button("Pause", key="train.pause", on_click=pause, type="primary")
    else:
        buttons[0].button("Resume", key="train.resume", on_click=resume, type="primary", disabled=run.done)
    buttons[1].button("Step", key="train.step", on_click=step, help="Pause and train one generator iteration.")
    buttons[2].button("Reset", key="train.reset", on_click=reset, help="Discard this run and choose new settings.")
    config = run.state.config
    buttons[3].caption(
        f"{'Training' if running else 'Paused'}: preset **{config.preset}**, objective {config.objective}, "
        f"{config.dataset} ({len(run.state.data):,} training images), batch {config.batch_size}, "
        f"n_critic {config.n_critic}" + (", with a GAN baseline in lockstep" if run.baseline else "")
    )
    with st.expander("This run's hyperparameters"):
        st.json(config.to_dict(), expanded=False)
    st.fragment(live_panel, run_every=tick_interval() if running else None)()
    save_section(run)
