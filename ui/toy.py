"""The Toy distributions page's figures: plain plotly, data in, `go.Figure` out (no Streamlit here).

Each function takes what `wgan.toy` computed (dicts of numpy arrays) and returns a figure; the page
(pages/2_Toy_distributions.py) owns the widgets, the caching and the `st.plotly_chart` keys.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from wgan.objectives import METHOD_LABELS
from wgan.toy import METHODS

COLORS = {
    "real": "#f28e2b",
    "fake": "#59a14f",
    "gan": "#e15759",
    "wgan-clip": "#4e79a7",
    "wgan-gp": "#b07aa1",
}
MARGIN = dict(l=10, r=10, t=40, b=10)
LINES_NAMES = {"W": "W (Wasserstein-1)", "JS": "JS (nats)", "KL": "KL(P_theta || P0)", "TV": "total variation"}


# --- 1. parallel lines ----------------------------------------------------------------------------------


def lines_figure(curves: dict, at_zero: dict, estimates: dict, theta: float) -> go.Figure:
    """W, JS, KL and TV of the parallel lines against theta (WGAN paper, Example 1), one panel each.

    curves: `toy.parallel_lines_curves()` (theta = 0 left out: it is drawn as its own point, where JS, KL
    and TV jump); at_zero: the four values at theta = 0; estimates: `toy.parallel_lines_estimates(...)`
    (crosses for W and JS); theta: the slider's value (dotted line).
    """
    fig = make_subplots(rows=1, cols=4, subplot_titles=list(LINES_NAMES.values()))
    for col, key in enumerate(LINES_NAMES, start=1):
        y = curves[key]
        shown = np.where(np.isinf(y), np.nan, y)
        fig.add_trace(
            go.Scatter(
                x=curves["theta"], y=shown, mode="lines", name="exact", line=dict(color="black"), showlegend=col == 1
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(x=[0], y=[float(at_zero[key])], mode="markers", marker=dict(color="black"), showlegend=False),
            row=1,
            col=col,
        )
        if key in ("W", "JS"):
            label = "critic (gradient penalty)" if key == "W" else "trained discriminator"
            fig.add_trace(
                go.Scatter(
                    x=estimates["theta"],
                    y=estimates[key],
                    mode="markers",
                    name=f"estimated: {label}",
                    marker=dict(size=10, symbol="x", color=COLORS["wgan-gp" if key == "W" else "gan"]),
                ),
                row=1,
                col=col,
            )
        fig.add_vline(x=theta, line_dash="dot", line_color="gray", row=1, col=col)
    fig.add_annotation(
        x=0.5, y=0.5, xref="x3 domain", yref="y3 domain", text="+inf for every theta != 0", showarrow=False
    )
    fig.update_yaxes(range=[-0.05, 1.1], row=1, col=3)
    fig.update_layout(height=300, margin=MARGIN, legend=dict(orientation="h", y=-0.2))
    return fig


# --- 2. two Gaussians -----------------------------------------------------------------------------------


def gaussian_curves_figure(r: dict) -> go.Figure:
    """Densities with the trained D(x) and the optimal D*(x) (left); the two critics f(x) (right).

    r: `toy.two_gaussians_experiment(...)`.
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("densities, D(x) and the optimal D*(x)", "critics f(x) (shifted)"),
        specs=[[{"secondary_y": True}, {"secondary_y": True}]],
    )
    for col in (1, 2):
        for key, name in (("p_real", "real density"), ("p_fake", "fake density")):
            color = COLORS["real" if key == "p_real" else "fake"]
            fig.add_trace(
                go.Scatter(
                    x=r["x"],
                    y=r[key],
                    name=name,
                    fill="tozeroy",
                    line=dict(color=color),
                    opacity=0.4,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
                secondary_y=False,
            )
    fig.add_trace(
        go.Scatter(x=r["x"], y=r["D"], name="D(x), trained", line=dict(color=COLORS["gan"], width=3)),
        row=1,
        col=1,
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(x=r["x"], y=r["D_star"], name="D*(x) = p_r / (p_r + p_g)", line=dict(color="black", dash="dot")),
        row=1,
        col=1,
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=r["x"], y=r["f"]["wgan-gp"], name="f(x), gradient penalty", line=dict(color=COLORS["wgan-gp"], width=3)
        ),
        row=1,
        col=2,
        secondary_y=True,
    )
    k = r["K_clip"] if np.isfinite(r["K_clip"]) and r["K_clip"] > 0 else 1.0
    fig.add_trace(
        go.Scatter(
            x=r["x"],
            y=r["f"]["wgan-clip"] / k,
            name=f"f(x) / K, clipped (K = {k:.2g})",
            line=dict(color=COLORS["wgan-clip"], width=3, dash="dash"),
        ),
        row=1,
        col=2,
        secondary_y=True,
    )
    fig.update_yaxes(title_text="density", row=1, col=1, secondary_y=False)
    fig.update_yaxes(
        title_text="D(x)",
        range=[-0.02, 1.02],
        tickvals=[0, 0.25, 0.5, 0.75, 1],
        showgrid=False,
        row=1,
        col=1,
        secondary_y=True,
    )
    fig.update_yaxes(title_text="f(x)", showgrid=False, tickmode="auto", nticks=6, row=1, col=2, secondary_y=True)
    fig.update_layout(height=340, margin=MARGIN, legend=dict(orientation="h", y=-0.2))
    return fig


def gaussian_gradient_figure(r: dict, closed: dict, gap: float) -> go.Figure:
    """The generator's gradient at each fake sample (left) and at the fake mean against distance (right).

    r: `toy.two_gaussians_experiment(...)`; closed: `toy.gradients_by_distance(sigma)` (through the
    optimal D*, against the distance between the means); gap: |mu_fake - mu_real| (the marks).
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "|d loss / dx| at each fake sample",
            "at the fake mean, by distance (lines: via D*; marks: trained)",
        ),
    )
    series = (
        ("minimax", "GAN, minimax log(1 - D)", COLORS["gan"], "solid"),
        ("nonsaturating", "GAN, non-saturating -log D", COLORS["gan"], "dot"),
        ("wgan-gp", "critic, gradient penalty: -f", COLORS["wgan-gp"], "solid"),
        ("wgan-clip", "critic, clipped: -f", COLORS["wgan-clip"], "solid"),
    )
    order = np.argsort(r["fake_shown"])
    for key, name, color, dash in series:
        fig.add_trace(
            go.Scatter(
                x=r["fake_shown"][order],
                y=np.abs(r["grad"][key][order]),
                name=name,
                mode="lines+markers",
                marker=dict(size=4),
                line=dict(color=color, dash=dash),
            ),
            row=1,
            col=1,
        )
    for key, name, color, dash in (
        ("minimax", "minimax through D* (closed form)", COLORS["gan"], "solid"),
        ("nonsaturating", "non-saturating through D* (closed form)", COLORS["gan"], "dot"),
        ("critic", "1-Lipschitz critic: 1", COLORS["wgan-gp"], "solid"),
    ):
        fig.add_trace(
            go.Scatter(
                x=closed["distance"], y=closed[key], name=name, line=dict(color=color, dash=dash), showlegend=False
            ),
            row=1,
            col=2,
        )
    for key, color, symbol in (
        ("minimax", COLORS["gan"], "x"),
        ("wgan-gp", COLORS["wgan-gp"], "x"),
        ("nonsaturating", COLORS["gan"], "circle-open"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[gap],
                y=[r["grad_at_mean"][key]],
                mode="markers",
                showlegend=False,
                marker=dict(size=12, color=color, symbol=symbol),
            ),
            row=1,
            col=2,
        )
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1)
    fig.update_yaxes(type="log", exponentformat="power", range=[-12, 2], row=1, col=2)
    fig.update_xaxes(title_text="x", row=1, col=1)
    fig.update_xaxes(title_text="|mu_fake - mu_real|", row=1, col=2)
    fig.update_layout(height=360, margin=MARGIN, legend=dict(orientation="h", y=-0.25))
    return fig


# --- 3. live 2-D comparison -----------------------------------------------------------------------------


def arrows_trace(xy: np.ndarray, uv: np.ndarray, color: str) -> go.Scatter:
    """Segments from each fake point along minus the generator-loss gradient; the longest is 0.4 long."""
    norms = np.linalg.norm(uv, axis=1)
    scale = 0.4 / norms.max() if norms.max() > 0 else 0.0
    heads = xy + uv * scale
    x = np.column_stack([xy[:, 0], heads[:, 0], np.full(len(xy), np.nan)]).ravel()
    y = np.column_stack([xy[:, 1], heads[:, 1], np.full(len(xy), np.nan)]).ravel()
    sizes = np.tile([0, 8, 0], len(xy))
    return go.Scatter(
        x=x,
        y=y,
        mode="lines+markers",
        line=dict(color=color, width=1.5),
        showlegend=False,
        marker=dict(symbol="arrow", angleref="previous", size=sizes, color=color),
        hoverinfo="skip",
    )


def live_figure(snap: dict) -> go.Figure:
    """One panel per method: critic (or D) field shaded, real and fake points, the generator's arrows.

    snap: `toy.current_snapshot(run)`.
    """
    titles = [f"{METHOD_LABELS[m]}: mean |grad| {snap[m]['arrow_norm']:.2g}" for m in METHODS]
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.03)
    grid = snap["grid"]
    real = snap["real"]
    for col, m in enumerate(METHODS, start=1):
        s = snap[m]
        fig.add_trace(
            go.Contour(
                x=grid,
                y=grid,
                z=s["field"],
                colorscale="Greys",
                showscale=False,
                opacity=0.5,
                ncontours=20,
                line=dict(width=0.5),
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=real[:, 0],
                y=real[:, 1],
                mode="markers",
                name="real",
                marker=dict(size=3, color=COLORS["real"]),
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=s["fake"][:, 0],
                y=s["fake"][:, 1],
                mode="markers",
                name="fake",
                marker=dict(size=3, color=COLORS["fake"]),
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(arrows_trace(s["arrow_xy"], s["arrow_uv"], COLORS[m]), row=1, col=col)
    extent = float(grid[-1])
    fig.update_xaxes(range=[-extent, extent], showgrid=False)
    fig.update_yaxes(range=[-extent, extent], showgrid=False)
    for col in (1, 2, 3):
        fig.update_yaxes(scaleanchor=f"x{'' if col == 1 else col}", row=1, col=col)
    fig.update_layout(height=430, margin=MARGIN, legend=dict(orientation="h", y=-0.08))
    return fig


def history_figure(history: list[dict], n_eval: int) -> go.Figure:
    """Exact W(fake, real) of each method at each drawn step (the run's `exact_w_history`)."""
    fig = go.Figure()
    steps = [h["step"] for h in history]
    for m in METHODS:
        fig.add_trace(
            go.Scatter(x=steps, y=[h[m] for h in history], name=METHOD_LABELS[m], line=dict(color=COLORS[m]))
        )
    fig.update_layout(
        title=f"exact W(fake, real) on the fixed {n_eval} + {n_eval} samples",
        height=260,
        margin=MARGIN,
        xaxis_title="generator iteration",
        legend=dict(orientation="h", y=-0.35),
    )
    return fig


# --- 4. what clipping does ------------------------------------------------------------------------------


def surfaces_figure(r: dict, clip_value: float) -> go.Figure:
    """The clipped and the penalty critic's surfaces over real and fixed-generator samples.

    r: `toy.clipping_study(dataset)`; clip_value: the clipped critic's c (for its title).
    """
    grid = r["grid"]
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.05,
        subplot_titles=(
            f"clipped critic (c = {clip_value:g}): W estimate {r['w']['wgan-clip']:.2g}",
            f"gradient-penalty critic: W estimate {r['w']['wgan-gp']:.3f}",
        ),
    )
    for col, method in enumerate(("wgan-clip", "wgan-gp"), start=1):
        fig.add_trace(
            go.Contour(
                x=grid,
                y=grid,
                z=r["surface"][method],
                colorscale="Viridis",
                showscale=False,
                ncontours=25,
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )
        for pts, name in ((r["real"], "real"), (r["fake"], "fixed generator: real + N(0, I)")):
            fig.add_trace(
                go.Scatter(
                    x=pts[:, 0],
                    y=pts[:, 1],
                    mode="markers",
                    name=name,
                    showlegend=col == 1,
                    marker=dict(size=3, color=COLORS["real" if name == "real" else "fake"]),
                ),
                row=1,
                col=col,
            )
    extent = float(grid[-1])  # the fixed generator's noise reaches beyond the grid: show the grid only
    fig.update_xaxes(range=[-extent, extent], showgrid=False)
    fig.update_yaxes(range=[-extent, extent], showgrid=False)
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(height=420, margin=MARGIN, legend=dict(orientation="h", y=-0.08))
    return fig


def weights_figure(r: dict) -> go.Figure:
    """Histograms of the two critics' weights (log counts for the clipped one)."""
    hist = make_subplots(rows=1, cols=2, subplot_titles=("clipped critic's weights", "penalty critic's weights"))
    for col, method in enumerate(("wgan-clip", "wgan-gp"), start=1):
        edges = r["hist_edges"][method]
        hist.add_trace(
            go.Bar(
                x=(edges[:-1] + edges[1:]) / 2,
                y=r["hist"][method],
                showlegend=False,
                marker_color=COLORS[method],
            ),
            row=1,
            col=col,
        )
    hist.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=1)
    hist.update_layout(height=320, margin=MARGIN, bargap=0)
    return hist


def deep_norms_figure(r: dict, depth: int) -> go.Figure:
    """Gradient norm at each layer of the deep critics, one line per clip value and one for the penalty."""
    norms = go.Figure()
    palette = ("#e15759", "#4e79a7", "#76b7b2", COLORS["wgan-gp"])
    for (label, values), color in zip(r["deep_norms"].items(), palette, strict=True):
        norms.add_trace(
            go.Scatter(x=r["deep_layers"], y=values, name=label, mode="lines+markers", line=dict(color=color))
        )
    norms.update_yaxes(type="log", exponentformat="power", title_text="gradient norm")
    norms.update_xaxes(title_text="layer (1 = input side)")
    norms.update_layout(
        title=f"{depth}-layer critic: gradient norm at each layer",
        height=320,
        margin=MARGIN,
        legend=dict(orientation="h", y=-0.3),
    )
    return norms
