"""The Training page's charts: plotly figures from a run's history, no Streamlit inside."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from wgan.live import LiveRun
from wgan.smoothing import centred_median
from wgan.train import kept_rows

MAX_CHART_POINTS = 600  # per trace: long runs are thinned (kept_rows), so the browser redraws each tick quickly


def _pick(values, keep: list[int]):
    """The points of `values` (a list or an array) at the rows `keep` (`kept_rows`), of the same kind."""
    return values[keep] if isinstance(values, np.ndarray) else [values[i] for i in keep]


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
