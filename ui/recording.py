"""The shipped recorded run on the Training page: a player before Start, and its frame beside a live run's samples.

A 2-core host cannot train to clean digits in a visitor's first seconds; a recorded run of the page's
default recipe shows the whole arc from noise to digits at once, and, beside the visitor's own run, what
the same recipe drew at the same iteration. Every caption says it is a recording, not the visitor's run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui.quality import fid_seconds_figure as quality_figure_by_seconds
from wgan.recording import Recording, RecordingError, load_recording
from wgan.sampling import grid, png_bytes

FILMSTRIP_FRAMES = 6  # frames shown side by side before Start: noise to digits at a glance


@st.cache_resource(show_spinner=False, max_entries=2)
def cached_recording(path: str, mtime_ns: int) -> Recording | None:
    """The recording at `path` (None when it cannot be read), loaded once per file version for every visitor."""
    del mtime_ns  # part of the cache key only: a rewritten file is read again
    try:
        return load_recording(path)
    except RecordingError:
        return None


def shipped(path: Path) -> Recording | None:
    return cached_recording(str(path), path.stat().st_mtime_ns) if path.is_file() else None


def source(recording: Recording) -> str:
    """Where the recording came from, for every caption: it is never the visitor's run."""
    device = recording.card.get("device", "a CPU")
    return f"a recorded run of the **{recording.config.preset}** preset on {device}, {recording.config.precision}"


def fid_seconds_figure(recording: Recording, marker_seconds: float | None) -> go.Figure:
    """The recording's FID-MNIST against training seconds (ui.quality's chart), the shown frame dotted."""
    fig = quality_figure_by_seconds({"recorded run": recording.quality})
    if marker_seconds is not None:
        fig.add_vline(x=marker_seconds, line_dash="dot", line_color="gray")
    return fig


def _seconds_at(recording: Recording, index: int) -> str:
    seconds = recording.seconds[index]
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def render_player(recording: Recording, key: str = "train.recorded") -> None:
    """Before Start: the recording's frames at a glance, a scrubber, and its FID against seconds."""
    st.subheader("Watch a recorded run while yours starts")
    last = len(recording.iterations) - 1
    st.caption(
        f"This is {source(recording)}, not yours: {recording.iterations[-1]:,} generator iterations in "
        f"{_seconds_at(recording, last)} of training. Press Start for your own; it is shown beside this one, at "
        "the same iteration."
    )
    picks = sorted({round(i * last / (FILMSTRIP_FRAMES - 1)) for i in range(FILMSTRIP_FRAMES)}) if last else [0]
    for column, index in zip(st.columns(len(picks)), picks, strict=True):
        picture = png_bytes(grid(recording.frames[index][:16], columns=4))
        column.image(picture, caption=f"iteration {recording.iterations[index]:,} ({_seconds_at(recording, index)})")
    left, right = st.columns([2, 3])
    with left:
        iteration = st.select_slider(
            "Scrub the recorded run (generator iteration)",
            options=recording.iterations,
            value=recording.iterations[-1],
            key=key,
        )
        index = recording.frame_at(iteration)
        st.image(png_bytes(grid(recording.frames[index], columns=8), scale=2), caption=_frame_caption(recording, index))
    if recording.quality.get("wall_seconds"):
        right.plotly_chart(fid_seconds_figure(recording, recording.seconds[index]), key=f"{key}.fid")


def frame_beside(recording: Recording, iteration: int) -> tuple[np.ndarray, str]:
    """Beside a live run's samples: the recording's frame at the same generator iteration, and its caption."""
    index = recording.frame_at(iteration)
    return recording.frames[index], _frame_caption(recording, index)


def _frame_caption(recording: Recording, index: int) -> str:
    fid = _fid_near(recording, recording.iterations[index])
    quality = f", FID-MNIST {fid:.0f}" if math.isfinite(fid) else ""
    return (
        f"Recorded, not yours: iteration {recording.iterations[index]:,} after {_seconds_at(recording, index)} of "
        f"training{quality} ({source(recording).replace('**', '')})"
    )


def _fid_near(recording: Recording, iteration: int) -> float:
    """The recording's FID-MNIST measured at the last point at or before `iteration` (nan before the first)."""
    points = zip(recording.quality.get("iteration", []), recording.quality.get("fid_mnist", []), strict=False)
    before = [fid for at, fid in points if at <= iteration]
    return before[-1] if before else math.nan
