"""The Sampling page's figures: plain plotly, data in, `go.Figure` out (no Streamlit here); and where each
tile sits in a grid picture (wgan.sampling.grid's geometry), for the figures and the page's crops."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

TILE, PADDING = 28, 2  # wgan.sampling.grid's defaults: 28x28 digits, 2 pixels between and around them


def tile_slices(index: int, columns: int, tile: int = TILE, padding: int = PADDING) -> tuple[slice, slice]:
    """(rows, columns) of tile `index` (row-major, `columns` per row) inside a grid picture."""
    top = padding + (index // columns) * (tile + padding)
    left = padding + (index % columns) * (tile + padding)
    return slice(top, top + tile), slice(left, left + tile)


def corner_slices(rows: int, columns: int, tile: int = TILE, padding: int = PADDING) -> tuple[slice, slice]:
    """The top-left `rows` x `columns` tiles of a grid picture with their padding: a smaller grid picture."""
    return slice(0, rows * (tile + padding) + padding), slice(0, columns * (tile + padding) + padding)


def clickable_grid(
    uri: str, size: int, columns: int, count: int, tile: int = TILE, padding: int = PADDING
) -> go.Figure:
    """The grid picture (a PNG data URI, `size` pixels square) with one invisible square marker per tile.

    st.image has no click events, and plotly selections do not work on image or heatmap traces
    (streamlit#8760), but they do on markers: a click anywhere on a digit selects marker `index`
    (row-major, `columns` per row, `count` in all).
    """
    centres = [padding + (i % columns) * (tile + padding) + tile / 2 for i in range(count)]
    rows = [padding + (i // columns) * (tile + padding) + tile / 2 for i in range(count)]
    figure = go.Figure(
        go.Scatter(
            x=centres,
            y=rows,
            mode="markers",
            # Each marker covers its tile (in screen pixels), so a click anywhere on a digit picks it.
            marker={"size": 560 / size * tile, "symbol": "square", "opacity": 0.0},
            customdata=list(range(count)),
            hovertemplate="sample %{customdata}: click to explore<extra></extra>",
        )
    )
    figure.add_layout_image(
        source=uri, x=0, y=0, sizex=size, sizey=size, xref="x", yref="y", layer="below", sizing="stretch"
    )
    figure.update_xaxes(range=[0, size], visible=False, fixedrange=True)
    figure.update_yaxes(range=[size, 0], visible=False, fixedrange=True, scaleanchor="x")
    figure.update_layout(height=560, width=560, margin={"l": 0, "r": 0, "t": 0, "b": 0}, dragmode=False)
    return figure


def norms_figure(t: Sequence[float], norms: dict[str, Sequence[float]], z_dim: int) -> go.Figure:
    """|z| along an interpolation path, one line per method ("lerp" dotted, "slerp" solid), against t."""
    figure = go.Figure()
    for kind, values in norms.items():
        figure.add_trace(
            go.Scatter(x=list(t), y=list(values), name=kind, line={"dash": "dot" if kind == "lerp" else "solid"})
        )
    figure.add_hline(y=z_dim**0.5, line={"color": "gray", "width": 1}, annotation_text=f"sqrt({z_dim})")
    figure.update_layout(
        title="|z| along the path: lerp sags to ~0.7x midway, slerp stays on the shell",
        xaxis_title="t",
        yaxis_title="|z|",
        height=280,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure
