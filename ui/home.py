"""The home page's figures: plain plotly, data in, `go.Figure` out (no Streamlit here).

`lines_figure` and `earth_figure` draw the two explanations (WGAN paper, Example 1; earth moving);
`figure3_figure` draws one run of the Figures 3/4 reproduction that `python -m benchmarks.figure3` wrote
(pages/0_Home.py reads the file through `wgan.figure3` and lays the two runs out).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wgan.objectives import LOG2
from wgan.smoothing import centred_median, odd_window


def lines_figure(theta: float) -> go.Figure:
    """W = |theta| against JS (log 2 unless theta = 0) for real (0, Z) and fake (theta, Z), Z ~ U[0, 1]."""
    thetas = np.linspace(-1, 1, 401)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=thetas, y=np.abs(thetas), name="Wasserstein W = |theta|", line=dict(width=3)))
    js = np.where(np.abs(thetas) < 1e-9, 0.0, LOG2)
    fig.add_trace(go.Scatter(x=thetas, y=js, name="Jensen-Shannon (log 2 unless theta = 0)", line=dict(width=3)))
    fig.add_vline(x=theta, line_dash="dot", line_color="gray")
    fig.update_layout(
        title="Real points on x = 0, fake on x = theta (WGAN paper, Example 1)",
        xaxis_title="theta",
        yaxis_title="distance",
        height=340,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def earth_figure(shift: float) -> go.Figure:
    """Two unit Gaussians `shift` apart: W1 between them is the shift, the work of moving all the mass."""
    x = np.linspace(-3, 7, 400)
    real = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    fake = np.exp(-0.5 * (x - shift) ** 2) / math.sqrt(2 * math.pi)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=real, fill="tozeroy", name="real"))
    fig.add_trace(go.Scatter(x=x, y=fake, fill="tozeroy", name="generated"))
    if shift > 0:
        fig.add_annotation(
            x=shift,
            y=0.2,
            ax=0,
            ay=0.2,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            text=f"move all the mass by {shift:.2f}",
        )
    fig.update_layout(
        height=300,
        margin=dict(l=10, r=10, t=30, b=10),
        title=f"W1 = {shift:.2f}",
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def number(value: Any) -> float:
    """A number from the Figure 3 file, NaN for a missing one (JSON has no NaN)."""
    return float("nan") if value is None else float(value)


def figure3_figure(run: dict[str, Any], title: str, window: int = 25) -> go.Figure:
    """One run: its loss curve (every iteration, light; median-filtered, bold) and FID-MNIST (right axis)."""
    curve = run["curve"]
    history, points = run["history"], run["points"]
    x = history.get("iteration", [])
    values = np.array([number(v) for v in history.get(curve, [])], dtype=np.float64)
    label = "W estimate" if curve == "w_estimate" else "JS estimate"
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Scatter(x=x, y=values, name=label, mode="lines", opacity=0.3, line={"width": 1}), secondary_y=False
    )
    if values.size:
        smoothed = centred_median(np.nan_to_num(values), window)
        size = odd_window(window, values.size)
        figure.add_trace(go.Scatter(x=x, y=smoothed, name=f"{label}, median of {size}"), secondary_y=False)
    if curve == "js_estimate":
        figure.add_hline(y=LOG2, line_dash="dot", annotation_text="log 2", secondary_y=False)
    figure.add_trace(
        go.Scatter(
            x=points.get("iteration", []),
            y=[number(v) for v in points.get("fid_mnist", [])],
            name="FID-MNIST",
            mode="lines+markers",
            line={"dash": "dot"},
        ),
        secondary_y=True,
    )
    figure.update_layout(
        title=title, height=340, margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "h", "y": -0.25}
    )
    figure.update_xaxes(title_text="generator iteration")
    figure.update_yaxes(title_text=label, secondary_y=False)
    figure.update_yaxes(title_text="FID-MNIST", secondary_y=True)
    return figure
