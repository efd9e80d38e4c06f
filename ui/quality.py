"""Measured quality on the Training page: FID-MNIST and class coverage during training.

`render_quality_section(state, baseline=None, ...)` draws into the current Streamlit container: it
evaluates the run (and the GAN baseline, when one runs alongside) every `every` generator iterations with
`wgan.metrics.QualityTracker` and draws the latest figures, the W estimate against FID-MNIST over
training, and the class histograms side by side. The points live in each run's `TrainState.quality`, so a
saved run keeps them and shows them again when it is loaded.

The figure-building functions (`quality_figure`, `histogram_figure`) are plain plotly and can be used
without Streamlit. The Figure 3 reproduction the home page draws lives in ui/home.py and pages/0_Home.py.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from wgan.checkpoint import CheckpointError
from wgan.classifier import MnistClassifier, load_classifier
from wgan.metrics import COVERAGE_FRACTION, FID_BAR, QualityTracker
from wgan.paths import SHIPPED_CLASSIFIER
from wgan.train import TrainState

DEFAULT_CLASSIFIER = SHIPPED_CLASSIFIER
NOT_COMPARABLE = (
    "FID-MNIST is the Frechet distance in the 128-d features of our own small MNIST classifier. It is not "
    "comparable with published FIDs (those use Inception-v3 features); compare it only with other FID-MNIST "
    "figures made with the same classifier and number of samples, and with the anchors."
)
COVERAGE_NOTE = (
    f"A digit counts as covered when at least {COVERAGE_FRACTION * 10:.1%} of the samples are classified as it "
    f"({COVERAGE_FRACTION:g} of the uniform share of 10%). Top-class share 0.10 is perfectly balanced; 1.00 is "
    "total mode collapse."
)


@st.cache_resource(max_entries=2, show_spinner="Loading the MNIST classifier...")
def cached_classifier(path: str) -> MnistClassifier:
    """The classifier in eval mode on the CPU, shared read-only by every session (trackers copy it to a device)."""
    return load_classifier(path).model


def _trackers(
    state: TrainState, baseline: TrainState | None, classifier: MnistClassifier, every: int, n_samples: int, key: str
) -> dict[str, QualityTracker]:
    """This session's trackers for this run, rebuilt when the run (or the settings) change.

    A tracker holds only its settings and the reference statistics: the points are in the runs' states.
    """
    stored = st.session_state.get(key)
    settings = (every, n_samples)
    if (
        stored is None
        or stored["state"] is not state
        or stored["baseline"] is not baseline
        or stored["settings"] != settings
    ):
        # The reference set is the run's own training images, shared with the baseline (the same images).
        wgan = QualityTracker.for_run(state, classifier, n_samples=n_samples, seed=0, every=every)
        trackers = {"wgan": wgan}
        if baseline is not None:
            trackers["gan"] = QualityTracker(classifier, wgan.reference, n_samples=n_samples, seed=0, every=every)
        stored = {"state": state, "baseline": baseline, "settings": settings, "trackers": trackers}
        st.session_state[key] = stored
    return stored["trackers"]


def quality_figure(
    wgan_history: dict[str, list[float]], gan_history: dict[str, list[float]] | None = None
) -> go.Figure:
    """W estimate (left axis) and FID-MNIST (right axis) at each evaluation, against generator iterations."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    x = wgan_history.get("iteration", [])
    figure.add_trace(
        go.Scatter(x=x, y=wgan_history.get("w_estimate", []), name="W estimate (WGAN)", mode="lines+markers"),
        secondary_y=False,
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=wgan_history.get("fid_mnist", []),
            name="FID-MNIST (WGAN)",
            mode="lines+markers",
            line={"dash": "dot"},
        ),
        secondary_y=True,
    )
    if gan_history:
        figure.add_trace(
            go.Scatter(
                x=gan_history.get("iteration", []),
                y=gan_history.get("fid_mnist", []),
                name="FID-MNIST (GAN baseline)",
                mode="lines+markers",
                line={"dash": "dot"},
            ),
            secondary_y=True,
        )
    figure.update_layout(
        title="W estimate against FID-MNIST (lower FID = closer to real digits)",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    figure.update_xaxes(title_text="generator iteration")
    figure.update_yaxes(title_text="W estimate", secondary_y=False)
    figure.update_yaxes(title_text="FID-MNIST", secondary_y=True)
    return figure


def fid_seconds_figure(runs: dict[str, dict[str, list[float]]]) -> go.Figure:
    """FID-MNIST against seconds of training (log scale), one line per run: when the digits arrived.

    runs maps a legend name to a quality record with "wall_seconds" and "fid_mnist" (a TrainState's
    `quality`, or a recording's); records without seconds are left out.
    """
    figure = go.Figure()
    for name, quality in runs.items():
        seconds, fid = quality.get("wall_seconds", []), quality.get("fid_mnist", [])
        if seconds:
            figure.add_trace(go.Scatter(x=seconds, y=fid, name=name, mode="lines+markers"))
    figure.add_hline(y=FID_BAR, line_dash="dash", line_color="gray")  # no annotation: on a log axis it sits at 10^50
    figure.update_layout(
        title="FID-MNIST against seconds of training (dashed: 50, recognisable digits)",
        height=320,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.25},
        xaxis={"title": "seconds of training (evaluations not counted)"},
        yaxis={"title": "FID-MNIST", "type": "log"},
    )
    return figure


def histogram_figure(histograms: dict[str, list[int]]) -> go.Figure:
    """Grouped bars: share of samples classified as each digit, one series per run (e.g. WGAN, GAN)."""
    figure = go.Figure()
    for name, counts in histograms.items():
        total = max(1, sum(counts))
        figure.add_trace(go.Bar(x=list(range(10)), y=[c / total for c in counts], name=name))
    figure.add_hline(y=0.1, line_dash="dot", annotation_text="uniform 10%")
    figure.add_hline(y=COVERAGE_FRACTION / 10, line_dash="dash", annotation_text="covered")
    figure.update_layout(
        title="Digit classes of generated samples",
        barmode="group",
        height=320,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": "digit (classifier's prediction)", "dtick": 1},
        yaxis={"title": "share of samples", "tickformat": ".0%"},
    )
    return figure


def latest_point(quality: dict[str, list]) -> dict | None:
    """The run's latest quality point as {name: value} (a name older points lack reads nan), or None."""
    if not quality.get("iteration"):
        return None
    return {name: values[-1] if values else float("nan") for name, values in quality.items()}


def _metric_row(label: str, quality: dict[str, list]) -> None:
    point = latest_point(quality)
    if point is None:
        return
    cols = st.columns(5)
    cols[0].metric(f"{label}: FID-MNIST", f"{point['fid_mnist']:,.2f}", help=NOT_COMPARABLE)
    cols[1].metric("Classes covered", f"{point['classes_covered']:.0f} / 10", help=COVERAGE_NOTE)
    cols[2].metric("Top-class share", f"{point['top_class_share']:.2f}", help=COVERAGE_NOTE)
    cols[3].metric(
        "Mean confidence",
        f"{point.get('mean_confidence', float('nan')):.2f}",
        help="Mean of the classifier's top probability: low when samples look like no digit in particular.",
    )
    cost = f"{point.get('samples', float('nan')):,.0f} samples, {point.get('eval_seconds', float('nan')):.1f} s"
    cols[4].metric("At iteration", f"{point['iteration']:,.0f}", help=cost)


def render_quality_section(
    state: TrainState,
    baseline: TrainState | None = None,
    *,
    every: int = 100,
    n_samples: int = 1000,
    classifier_path: str | Path = DEFAULT_CLASSIFIER,
    key: str = "train.quality",
    update: bool = True,
    recorded: dict[str, dict[str, list[float]]] | None = None,
) -> None:
    """Measured quality of a training run, for the Training page.

    Args:
        state: the WGAN run's `wgan.train.TrainState` (its generator is evaluated; its W estimate is read
            from `state.history`). Its training images are the FID reference (first 10,000 at most).
        baseline: the GAN baseline's TrainState when one trains alongside, else None. Gets its own tracker
            with the same noise, so the two class histograms are directly comparable.
        every: generator iterations between evaluations (each generates and classifies n_samples images).
        n_samples: generated samples per evaluation (fixed noise, seed 0).
        classifier_path: the classifier file (`python -m wgan classifier` makes it).
        key: session-state key for this section's trackers (prefix it with the page's prefix); they are
            rebuilt when `state` or `baseline` is a different object, or `every`/`n_samples` change. The
            points stay in `state.quality` and `baseline.quality` (and so in a saved run's checkpoint).
        update: False draws what was measured without evaluating (e.g. while scrubbing a paused run).
        recorded: {legend name: quality record} of recorded runs to draw beside it against seconds.

    Call it after the training chunk of a fragment tick (never inside a step): it evaluates only when a
    tracker is due, so most ticks only redraw.
    """
    st.subheader("Measured quality: FID-MNIST and digit coverage")
    try:
        classifier = cached_classifier(str(classifier_path))
    except CheckpointError as error:
        st.info(f"Quality metrics are off: {error}")
        return
    if update:
        trackers = _trackers(state, baseline, classifier, every, n_samples, key)
        trackers["wgan"].maybe_update(state)
        if baseline is not None:
            trackers["gan"].maybe_update(baseline)
    _metric_row("WGAN", state.quality)
    if baseline is not None:
        _metric_row("GAN", baseline.quality)
    st.plotly_chart(
        quality_figure(state.quality, baseline.quality if baseline is not None else None),
        key=f"{key}.chart.w_fid",
    )
    runs = {"your run (WGAN)": state.quality, **({"GAN baseline": baseline.quality} if baseline else {})}
    st.plotly_chart(fid_seconds_figure({**runs, **(recorded or {})}), key=f"{key}.chart.fid_seconds")
    histograms = {}
    for label, run in (("WGAN", state), ("GAN baseline", baseline)):
        latest = latest_point(run.quality) if run is not None else None
        if latest is not None and latest.get("histogram"):
            histograms[label] = latest["histogram"]
    if histograms:
        st.plotly_chart(histogram_figure(histograms), key=f"{key}.chart.histogram")
    st.caption(
        f"Every {every:,} generator iterations, {n_samples:,} samples from fixed noise. {NOT_COMPARABLE} "
        f"{COVERAGE_NOTE}"
    )
