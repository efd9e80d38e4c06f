"""Sampling: a trained generator's digits, its latent space, interpolation, and a link that reproduces the view."""

import base64
import os
from functools import partial
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from wgan.checkpoint import SHIPPED_DIR, CheckpointError, find_checkpoints, load_checkpoint, load_generator
from wgan.device import configure_cpu_threads
from wgan.latent import (
    GRID_SIZE,
    INTERPOLATIONS,
    apply_edits,
    frozen_generator,
    interpolate,
    path_norms,
    principal_directions,
    randomised_value,
    sample_z,
)
from wgan.sampling import generate, gif_bytes, grid, highlight_tile, noise_from_seed, png_bytes, to_uint8
from wgan.share import (
    AMOUNT_LIMIT,
    MAX_FRAMES,
    MIN_FRAMES,
    N_DIRECTIONS,
    RAW_LIMIT,
    SEED_MAX,
    PageState,
    decode,
    encode,
)

st.set_page_config(page_title="Sampling - WGAN", layout="wide")
st.title("Sampling: explore a trained generator")

# The page reads checkpoints from here; tests point it at a temporary folder.
FOLDER = Path(os.environ.get("WGAN_CHECKPOINT_DIR", str(SHIPPED_DIR)))
COLUMNS = 8  # the 8x8 grid


@st.cache_resource(max_entries=8, show_spinner="Loading the generator...")
def cached_checkpoint(path: str, mtime_ns: int) -> tuple[torch.nn.Module, dict]:
    """Shared by every visitor, so read-only: an eval-mode, frozen fp32 generator plus the checkpoint's facts.

    mtime_ns is part of the cache key only: a retrained file at the same path loads afresh.
    """
    del mtime_ns
    configure_cpu_threads()
    checkpoint = load_checkpoint(path)
    facts = {
        "preset": checkpoint.config.preset,
        "objective": checkpoint.config.objective,
        "dataset": checkpoint.config.dataset,
        "z_dim": checkpoint.config.z_dim,
        "iteration": checkpoint.iteration,
        "card": checkpoint.card,
    }
    return frozen_generator(load_generator(checkpoint, "cpu")), facts


@st.cache_data(max_entries=32, show_spinner=False)
def grid_picture(path: str, mtime_ns: int, seed: int) -> np.ndarray:
    generator, facts = cached_checkpoint(path, mtime_ns)
    images = generate(generator, noise_from_seed(seed, GRID_SIZE, facts["z_dim"]))  # [64, 1, 28, 28]
    return grid(images, columns=COLUMNS)


@st.cache_data(max_entries=64, show_spinner="Finding the directions that change this digit most...")
def directions_for(path: str, mtime_ns: int, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    generator, facts = cached_checkpoint(path, mtime_ns)
    directions, speeds = principal_directions(generator, sample_z(seed, index, facts["z_dim"]), N_DIRECTIONS)
    return directions.numpy(), speeds.numpy()


@st.cache_data(max_entries=32, show_spinner=False)
def interpolation_frames(
    path: str, mtime_ns: int, start: tuple[int, int], end: tuple[int, int], frames: int, method: str
) -> np.ndarray:
    generator, facts = cached_checkpoint(path, mtime_ns)
    z_dim = facts["z_dim"]
    path_z = interpolate(sample_z(*start, z_dim), sample_z(*end, z_dim), frames, method)  # [frames, z_dim]
    return to_uint8(generate(generator, path_z))  # [frames, 28, 28]


@st.cache_data(max_entries=64, show_spinner=False)
def grid_png(path: str, mtime_ns: int, seed: int, index: int) -> str:
    """The grid as shown, tile `index` framed, as a PNG data URI (encoding a 3x picture takes tens of ms)."""
    png = png_bytes(highlight_tile(grid_picture(path, mtime_ns, seed), index, COLUMNS), scale=3)
    return "data:image/png;base64," + base64.b64encode(png).decode()


def clickable_grid(uri: str, size: int, tile: int = 28, padding: int = 2) -> go.Figure:
    """The grid picture with one invisible square marker per tile: st.image has no click events, and
    plotly selections do not work on image or heatmap traces (streamlit#8760), but they do on markers."""
    centres = [padding + (i % COLUMNS) * (tile + padding) + tile / 2 for i in range(GRID_SIZE)]
    rows = [padding + (i // COLUMNS) * (tile + padding) + tile / 2 for i in range(GRID_SIZE)]
    figure = go.Figure(
        go.Scatter(
            x=centres,
            y=rows,
            mode="markers",
            # Each marker covers its tile (in screen pixels), so a click anywhere on a digit picks it.
            marker={"size": 560 / size * tile, "symbol": "square", "opacity": 0.0},
            customdata=list(range(GRID_SIZE)),
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


def pick_from_grid() -> None:
    points = st.session_state["sample.grid_click"].selection.points
    if points:
        st.session_state["sample.index"] = int(points[0]["point_index"])


@st.cache_data(max_entries=32, show_spinner=False)
def strip_png(
    path: str, mtime_ns: int, start: tuple[int, int], end: tuple[int, int], frames: int, method: str
) -> bytes:
    return png_bytes(grid(interpolation_frames(path, mtime_ns, start, end, frames, method), columns=frames), scale=3)


def label(path: Path) -> str:
    name = path.relative_to(FOLDER).as_posix()
    return f"{name}  (shipped)" if path.parent == FOLDER else f"{name}  (your run)"


@st.cache_data(max_entries=128, show_spinner="Checking checkpoints...")
def problem_with(path: str, mtime_ns: int) -> str | None:
    """None if the file loads as a wgan checkpoint, else load_checkpoint's one-line reason (checked once per file)."""
    del mtime_ns
    try:
        load_checkpoint(path)
    except CheckpointError as error:
        return str(error)
    return None


def modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # removed since the folder was listed: load_checkpoint then says so in one line
        return -1


problems = {path: problem_with(str(path), modified(path)) for path in find_checkpoints(FOLDER)}
paths = [path for path, problem in problems.items() if problem is None]
if not paths:
    st.info(
        f"No checkpoint in `{FOLDER}/` yet. Train one on the **Train** page (it saves into `{FOLDER}/runs/`), "
        f"or from a terminal: `python -m wgan train --preset gp --out {FOLDER}/runs/run.pt`."
    )
skipped = {path: problem for path, problem in problems.items() if problem is not None}
if skipped:
    with st.expander(f"Not listed: {len(skipped)} file(s) in `{FOLDER}/` that are not generator checkpoints"):
        for problem in skipped.values():
            st.caption(problem)
if not paths:
    st.stop()
by_name = {path.relative_to(FOLDER).as_posix(): path for path in paths}
names = list(by_name)

# --- state: the URL on a session's first visit, then the widgets; "sample.state" is the canonical copy.
if "sample.state" not in st.session_state:
    decoded, link_warnings = decode(st.query_params.to_dict(), names)
    st.session_state["sample.state"] = decoded
    st.session_state["sample.link_warnings"] = link_warnings
state: PageState = st.session_state["sample.state"]
if state.checkpoint not in by_name:  # the file went away since
    state = PageState(checkpoint=names[0])
widget_defaults = {
    "sample.checkpoint": state.checkpoint,
    "sample.seed": state.seed,
    "sample.index": state.index,
    "sample.start_seed": state.start[0],
    "sample.start_index": state.start[1],
    "sample.end_seed": state.end[0],
    "sample.end_index": state.end[1],
    "sample.frames": state.frames,
    "sample.method": state.method,
    "sample.overrides": state.overrides_dict(),
    "sample.draws": 0,
    "sample.raw_dim": 0,
    **{f"sample.dir{k}": float(amount) for k, amount in enumerate(state.amounts)},
}
for key, value in widget_defaults.items():
    st.session_state.setdefault(key, value)
if st.session_state["sample.checkpoint"] not in by_name:
    st.session_state["sample.checkpoint"] = names[0]
for message in st.session_state.pop("sample.link_warnings", []):
    st.warning(f"Shared link: {message}.")

# --- checkpoint and grid
top = st.columns([2, 1, 1])
name = top[0].selectbox("Checkpoint", names, format_func=lambda n: label(by_name[n]), key="sample.checkpoint")
top[1].number_input("Seed", 0, SEED_MAX, step=1, key="sample.seed")
top[2].number_input(f"Sample to explore (0..{GRID_SIZE - 1}, row by row)", 0, GRID_SIZE - 1, step=1, key="sample.index")
path = by_name[name]
mtime_ns = modified(path)
try:
    generator, facts = cached_checkpoint(str(path), mtime_ns)
except CheckpointError as error:
    st.error(str(error))
    st.stop()
seed, index, z_dim = int(st.session_state["sample.seed"]), int(st.session_state["sample.index"]), facts["z_dim"]
overrides: dict[int, float] = st.session_state["sample.overrides"]
for dim in [dim for dim in overrides if dim >= z_dim]:
    st.warning(f"z dimension {dim} does not exist in this checkpoint (z_dim={z_dim}); edit dropped.")
    del overrides[dim]
if st.session_state["sample.raw_dim"] >= z_dim:
    st.session_state["sample.raw_dim"] = 0

with st.expander(f"About `{name}`: {facts['preset']} preset, {facts['objective']}, {facts['iteration']:,} iterations"):
    card = facts["card"]
    st.write({**{key: card[key] for key in sorted(card)}, "dataset (config)": facts["dataset"], "z_dim": z_dim})

grid_column, explore_column = st.columns([3, 2])
picture = grid_picture(str(path), mtime_ns, seed)
with grid_column:
    st.subheader(f"Seed {seed}: 64 samples")
    st.plotly_chart(
        clickable_grid(grid_png(str(path), mtime_ns, seed, index), picture.shape[0]),
        width="content",
        on_select=pick_from_grid,
        selection_mode="points",
        key="sample.grid_click",
        config={"displayModeBar": False},
    )
    st.caption(f"Click a digit (or type its number above) to explore it; framed: sample {index}.")
    # Downloads get a callable: Streamlit encodes the file only when the button is clicked.
    st.download_button("Download grid (PNG)", partial(png_bytes, picture, 2), f"grid-seed{seed}.png", "image/png")


# --- latent-noise explorer
def reset_edits() -> None:
    st.session_state["sample.overrides"] = {}
    for k in range(N_DIRECTIONS):
        st.session_state[f"sample.dir{k}"] = 0.0


def pin_raw_value() -> None:
    st.session_state["sample.overrides"][int(st.session_state["sample.raw_dim"])] = float(
        st.session_state["sample.raw_value"]
    )


def randomise_dimension(seed: int, index: int) -> None:
    dim = int(st.session_state["sample.raw_dim"])
    st.session_state["sample.draws"] += 1
    value = randomised_value(seed, index, dim, st.session_state["sample.draws"])
    st.session_state["sample.overrides"][dim] = max(-RAW_LIMIT, min(RAW_LIMIT, value))


base_z = sample_z(seed, index, z_dim)  # [z_dim]
directions, speeds = (torch.from_numpy(array) for array in directions_for(str(path), mtime_ns, seed, index))
with explore_column:
    st.subheader(f"Explore sample {index}")
    st.caption(
        "Sliders move z along the directions that change this digit fastest: the top singular vectors of "
        "the generator's Jacobian dG/dz at this z (orthonormal, so each slider does its own thing). "
        "Below, pin any raw dimension of z."
    )
    amounts = [
        st.slider(
            f"Direction {k + 1} (changes the image by {float(speeds[k]):.2f} per unit)",
            -AMOUNT_LIMIT,
            AMOUNT_LIMIT,
            step=0.1,
            key=f"sample.dir{k}",
        )
        for k in range(N_DIRECTIONS)
    ]
    raw = st.columns([1, 2])
    dim = raw[0].selectbox("Raw dimension", range(z_dim), format_func=lambda d: f"z[{d}]", key="sample.raw_dim")
    # The slider only shows the pinned value (or the sample's own); moving it pins the dimension.
    st.session_state["sample.raw_value"] = overrides.get(
        dim, max(-RAW_LIMIT, min(RAW_LIMIT, round(float(base_z[dim]), 2)))
    )
    raw[1].slider(f"z[{dim}]", -RAW_LIMIT, RAW_LIMIT, step=0.01, key="sample.raw_value", on_change=pin_raw_value)
    buttons = st.columns(2)
    buttons[0].button(f"Randomise z[{dim}]", on_click=randomise_dimension, args=(seed, index), key="sample.randomise")
    buttons[1].button("Reset edits", on_click=reset_edits, key="sample.reset")
    edited_z = apply_edits(base_z, directions, amounts, overrides)
    images = generate(generator, torch.stack([base_z, edited_z]))  # [2, 1, 28, 28]
    explored = to_uint8(images)  # [2, 28, 28]
    pinned = ", ".join(f"z[{d}]={v:g}" for d, v in sorted(overrides.items())) or "none"
    st.image(
        png_bytes(grid(explored, columns=2, padding=2), scale=6),
        caption=f"original | edited (pinned: {pinned})",
        output_format="PNG",
    )
    st.download_button(
        "Download edited sample (PNG)",
        partial(png_bytes, explored[1], 4),
        f"seed{seed}-sample{index}-edited.png",
        "image/png",
    )

# --- interpolation
st.subheader("Interpolation")


def use_explored(which: str, seed: int, index: int) -> None:
    st.session_state[f"sample.{which}_seed"] = seed
    st.session_state[f"sample.{which}_index"] = index


ends = st.columns(4)
ends[0].number_input("Start seed", 0, SEED_MAX, step=1, key="sample.start_seed")
ends[1].number_input("Start sample", 0, GRID_SIZE - 1, step=1, key="sample.start_index")
ends[2].number_input("End seed", 0, SEED_MAX, step=1, key="sample.end_seed")
ends[3].number_input("End sample", 0, GRID_SIZE - 1, step=1, key="sample.end_index")
choices = st.columns([1, 1, 2, 2])
choices[0].button("Start = explored", on_click=use_explored, args=("start", seed, index), key="sample.as_start")
choices[1].button("End = explored", on_click=use_explored, args=("end", seed, index), key="sample.as_end")
frames = int(choices[2].slider("Frames", MIN_FRAMES, MAX_FRAMES, step=1, key="sample.frames"))
method = choices[3].radio(
    "Path",
    INTERPOLATIONS,
    format_func=lambda m: {"lerp": "linear (lerp)", "slerp": "spherical (slerp)"}[m],
    horizontal=True,
    key="sample.method",
)
start = (int(st.session_state["sample.start_seed"]), int(st.session_state["sample.start_index"]))
end = (int(st.session_state["sample.end_seed"]), int(st.session_state["sample.end_index"]))
strip = interpolation_frames(str(path), mtime_ns, start, end, frames, method)  # [frames, 28, 28]
st.image(
    strip_png(str(path), mtime_ns, start, end, frames, method),
    caption=f"{method}: {start} -> {end} as (seed, sample)",
    output_format="PNG",
)

downloads, chart = st.columns([1, 2])
with downloads:
    tag = f"{start[0]}-{start[1]}_to_{end[0]}-{end[1]}_{method}"
    st.download_button("Download animation (GIF)", partial(gif_bytes, strip, 100, 4), f"interp_{tag}.gif", "image/gif")
    st.download_button(
        "Download strip (PNG)", partial(png_bytes, grid(strip, columns=frames), 2), f"strip_{tag}.png", "image/png"
    )
    if st.session_state.get("sample.frame", 0) >= frames:
        st.session_state["sample.frame"] = frames - 1
    frame = int(st.number_input("Frame", 0, frames - 1, step=1, key="sample.frame"))
    st.download_button(
        "Download this frame (PNG)", partial(png_bytes, strip[frame], 4), f"frame{frame}_{tag}.png", "image/png"
    )
with chart:
    z_start, z_end = sample_z(*start, z_dim), sample_z(*end, z_dim)
    t = np.linspace(0.0, 1.0, 33)
    figure = go.Figure()
    for kind, dash in (("lerp", "dot"), ("slerp", "solid")):
        norms = path_norms(interpolate(z_start, z_end, len(t), kind))
        figure.add_trace(go.Scatter(x=t, y=norms, name=kind, line={"dash": dash}))
    figure.add_hline(y=z_dim**0.5, line={"color": "gray", "width": 1}, annotation_text=f"sqrt({z_dim})")
    figure.update_layout(
        title="|z| along the path: lerp sags to ~0.7x midway, slerp stays on the shell",
        xaxis_title="t",
        yaxis_title="|z|",
        height=280,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    st.plotly_chart(figure, key="sample.norms")

# --- mirror the view into the URL
amounts_now = tuple(0.0 if a == 0 else float(a) for a in amounts)
state = PageState(name, seed, index, amounts_now, tuple(sorted(overrides.items())), start, end, frames, method)
st.session_state["sample.state"] = state
params = encode(state)
if st.query_params.to_dict() != params:
    st.query_params.from_dict(params)
st.caption("The address bar now holds this view (checkpoint, seed, edits, interpolation): copy it to share it.")
