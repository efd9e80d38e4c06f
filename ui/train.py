"""The Training page's charts (plotly figures from a run's history) and the words beside them, no Streamlit inside."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from wgan.config import TrainConfig
from wgan.live import LiveRun
from wgan.objectives import LOG2
from wgan.smoothing import centred_median
from wgan.train import kept_rows

MAX_CHART_POINTS = 600  # per trace: long runs are thinned (kept_rows), so the browser redraws each tick quickly


def _pick(values, keep: list[int]):
    """The points of `values` (a list or an array) at the rows `keep` (`kept_rows`), of the same kind."""
    return values[keep] if isinstance(values, np.ndarray) else [values[i] for i in keep]


# What each chart means, in the caption under it.
CHART_NOTES = {
    "w": "The W estimate approximates the Wasserstein distance (up to the critic's Lipschitz constant): it should "
    "be positive and fall as the samples improve. The critic loss is its negative.",
    "js": "The GAN's discriminator-based JS estimate sits near log 2 whatever the samples look like: it says "
    "nothing about quality (WGAN paper, Figure 4).",
    "holdout": "Held-out images are never shown to the critic. A growing gap between the two curves means the "
    "critic memorises its training images (WGAN-GP, section 5).",
    "generator": "Shifting the critic by a constant shifts the generator loss too, so its level means nothing for "
    "a WGAN; watch the W estimate instead.",
    "quality": "Evaluates 1,000 samples every 100 iterations: about a second each on a CPU.",
}


# What the default preset's first minutes look like, from `python -m benchmarks.time_to_quality` (the page's
# Start, through its run controller; FID-MNIST from 5,000 samples; checkpoints/README.md has the tables).
EXPECTATIONS = (
    "What to expect from the default (quick) preset: recognisable digits (FID-MNIST 50, all ten classes) after "
    "about 60 s of training on a 2-core CPU with bf16 matrix units (AMX), 90-120 s on the same CPU in fp32, "
    "about 2.5 minutes on a 2-core host half as fast, and about 17 s on an H200 GPU."
)


def _line(fig: go.Figure, x, y, name: str, **style) -> None:
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, **style))


def _layout(fig: go.Figure, title: str, y_title: str, marker: int | None) -> go.Figure:
    if marker is not None:
        fig.add_vline(x=marker, line_dash="dot", line_color="gray")
    # Fixed margins, nothing sized to fit: these charts redraw every tick while a run trains, and plotly's
    # automatic margins (axis labels, the legend below) measure text and lay the chart out again each time,
    # which the browser's CPU pays for, on a shared machine the training threads too.
    fig.update_layout(
        title=title,
        xaxis_title="generator iteration",
        yaxis_title=y_title,
        height=320,
        margin=dict(l=70, r=10, t=40, b=85, autoexpand=False),
        legend=dict(orientation="h", y=-0.3, yanchor="top"),
    )
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    return fig


def smoothed_figure(
    columns: dict, name: str, title: str, window: int, marker: int | None, reference: float | None = None
) -> go.Figure:
    """One metric against generator iterations: raw (faint) and running median (bold)."""
    x, y = columns.get("iteration", []), columns.get(name, [])
    keep = kept_rows(len(x), MAX_CHART_POINTS)
    fig = go.Figure()
    _line(fig, _pick(x, keep), _pick(y, keep), "raw", opacity=0.3, line=dict(width=1))
    _line(fig, _pick(x, keep), centred_median(y, window)[keep], f"median of {window}", line=dict(width=3))
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dash", annotation_text="log 2", line_color="firebrick")
    return _layout(fig, title, name.replace("_", " "), marker)


def w_figure(run: LiveRun, window: int, marker: int | None) -> go.Figure:
    """The WGAN's W estimate: the chart to watch."""
    return smoothed_figure(
        run.state.history.columns, "w_estimate", "W estimate: mean f(real) - mean f(fake)", window, marker
    )


def js_figure(run: LiveRun, window: int, marker: int | None) -> go.Figure:
    """The GAN baseline's JS estimate with the log 2 it stays near (the run must have a baseline)."""
    columns = run.baseline.history.columns
    return smoothed_figure(columns, "js_estimate", "GAN baseline: JS estimate log 2 - L_D / 2", window, marker, LOG2)


def critic_figure(columns: dict, window: int, marker: int | None) -> go.Figure:
    x = columns.get("iteration", [])
    keep = kept_rows(len(x), MAX_CHART_POINTS)
    fig = go.Figure()
    for name, label in (("critic_real", "mean f(real)"), ("critic_fake", "mean f(fake)")):
        _line(fig, _pick(x, keep), centred_median(columns.get(name, []), window)[keep], label)
    return _layout(fig, "Critic mean on real and on fake images (median-smoothed)", "critic score", marker)


def generator_figure(run: LiveRun, window: int, marker: int | None) -> go.Figure:
    fig = go.Figure()
    for label, state in (("WGAN", run.state), ("GAN baseline", run.baseline)):
        if state is None:
            continue
        columns = state.history.columns
        x = columns.get("iteration", [])
        keep = kept_rows(len(x), MAX_CHART_POINTS)
        _line(fig, _pick(x, keep), centred_median(columns.get("generator_loss", []), window)[keep], label)
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


def defaults_note(base: TrainConfig, suggested: dict[str, Any]) -> str:
    """Why a new run starts from `suggested` (wgan.live.page_defaults) instead of the preset `base`."""
    return (
        "No GPU here, so the run starts with "
        + ", ".join(f"**{key} = {value}**" for key, value in suggested.items())
        + " instead of the preset's "
        + ", ".join(f"{key} = {getattr(base, key)}" for key in suggested)
        + " (bf16: this CPU has bf16 matrix instructions, so autocast is faster, weights stay fp32; batch 64: many "
        "more generator updates per second, so digits form within minutes). Change them under Advanced."
    )


def run_summary(status: str, run: LiveRun) -> str:
    """One line beside the buttons: the run's status (wgan.controller.RunStatus's value) and its recipe."""
    config = run.state.config
    lockstep = ", with a GAN baseline in lockstep" if run.baseline else ""
    return (
        f"{status.capitalize()}: preset **{config.preset}**, {config.arch} models, objective {config.objective}, "
        f"lipschitz {config.lipschitz}, {config.dataset} ({len(run.state.data):,} training images), "
        f"batch {config.batch_size}, n_critic {config.n_critic}{lockstep}"
    )


def run_metrics(run: LiveRun) -> list[tuple[str, str, str | None]]:
    """The row of numbers above the charts: (label, value, help) each."""
    return [
        ("Epoch", f"{run.epoch:.2f} / {run.target_epochs:g}", None),
        ("Generator iteration", f"{run.iteration:,}", None),
        (
            "Images/s, whole run",
            f"{run.overall_rate():,.0f}",
            "Real images through the critic per second since the models were built (you pressed Start), pauses "
            "excluded: training, redrawing and waiting all counted (both runs when comparing).",
        ),
        ("Images/s, training", f"{run.last_rate:,.0f}", "Inside the last chunk of training only."),
        ("Seconds per epoch", "-" if run.epoch == 0 else f"{run.seconds_per_epoch():,.1f}", None),
        ("ETA", "stopped" if run.done else format_seconds(run.eta_seconds()), None),
    ]


# The "More charts" choices drawn from the run alone: name -> (key, figure) for (run, window, marker).
MORE_CHARTS = {
    "critic means": lambda run, window, marker: ("critic", critic_figure(run.state.history.columns, window, marker)),
    "held-out check": lambda run, window, marker: ("holdout", holdout_figure(run, marker)),
    "generator loss": lambda run, window, marker: ("generator", generator_figure(run, window, marker)),
}
