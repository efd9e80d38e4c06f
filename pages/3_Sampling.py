"""Sampling: a trained generator's digits, its latent space, interpolation, and a link that reproduces the view.

Read top to bottom at the end of the file: the lesson (why the seed's samples draw along their bottom and
right edges), then choose a checkpoint, its 8x8 grid, the latent explorer, interpolation, and the view
mirrored into the URL. Generators are shared read-only by every visitor (`st.cache_resource`); pictures
are cached by their inputs (`st.cache_data`, bounded). Figures come from ui/sampling.py.
"""

from __future__ import annotations

import base64
from functools import partial
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import ui.sampling
from ui.navigation import leave_pages_folder_mode
from wgan import catalog, latent, lesson, share
from wgan.catalog import CheckpointFacts
from wgan.checkpoint import CheckpointError, load_checkpoint, load_generator
from wgan.device import configure_cpu_threads
from wgan.hosting import Hosting
from wgan.latent import GRID_SIZE, INTERPOLATIONS, interpolate, sample_z
from wgan.sampling import generate, gif_bytes, grid, highlight_tile, noise_from_seed, paint, png_bytes, to_uint8
from wgan.share import AMOUNT_LIMIT, MAX_FRAMES, MIN_FRAMES, N_DIRECTIONS, RAW_LIMIT, SEED_MAX, PageState

# The page reads checkpoints from here (absolute by default); tests point it at a temporary folder.
FOLDER = catalog.checkpoint_folder()
COLUMNS = 8  # the 8x8 grid
# The lesson compares these two shipped files: same recipe and length, the seed's models against the repaired.
SEED_ARCH_FILE = "wgan-clip-seed-arch.pt"
REPAIRED_FILE = "wgan-clip.pt"
LESSON_FILES = (("seed", SEED_ARCH_FILE, "Seed's models"), ("repaired", REPAIRED_FILE, "Repaired models"))
BLIND_COLOUR = (230, 30, 30)  # red: the pixels the seed's critic never reads
LESSON_PICTURE_WIDTH = 280  # pixels: the three lesson pictures side by side in one row


# --- cached loads and pictures ---------------------------------------------------------------------------


@st.cache_resource(max_entries=8, show_spinner="Loading the generator...")
def cached_checkpoint(path: str, mtime_ns: int) -> tuple[torch.nn.Module, CheckpointFacts]:
    """Shared by every visitor, so read-only: an eval-mode, frozen fp32 generator plus the checkpoint's facts.

    mtime_ns is part of the cache key only: a retrained file at the same path loads afresh.
    """
    del mtime_ns
    configure_cpu_threads()
    checkpoint = load_checkpoint(path)
    return latent.frozen_generator(load_generator(checkpoint, "cpu")), CheckpointFacts.of(checkpoint)


@st.cache_data(max_entries=128, show_spinner="Checking checkpoints...")
def checkpoint_entry(path: str, mtime_ns: int) -> catalog.Entry:
    """The file's facts, or why it is set aside (read once per file version)."""
    return catalog.read_entry(path)


@st.cache_data(max_entries=32, show_spinner=False)
def grid_picture(path: str, mtime_ns: int, seed: int) -> np.ndarray:
    generator, facts = cached_checkpoint(path, mtime_ns)
    images = generate(generator, noise_from_seed(seed, GRID_SIZE, facts.z_dim))  # [64, 1, 28, 28]
    return grid(images, columns=COLUMNS)


@st.cache_data(max_entries=64, show_spinner=False)
def grid_png(path: str, mtime_ns: int, seed: int, index: int) -> str:
    """The grid as shown, tile `index` framed, as a PNG data URI (encoding a 3x picture takes tens of ms)."""
    png = png_bytes(highlight_tile(grid_picture(path, mtime_ns, seed), index, COLUMNS), scale=3)
    return "data:image/png;base64," + base64.b64encode(png).decode()


@st.cache_data(max_entries=64, show_spinner="Finding the directions that change this digit most...")
def directions_for(path: str, mtime_ns: int, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    generator, facts = cached_checkpoint(path, mtime_ns)
    directions, speeds = latent.principal_directions(generator, sample_z(seed, index, facts.z_dim), N_DIRECTIONS)
    return directions.numpy(), speeds.numpy()


@st.cache_data(max_entries=32, show_spinner=False)
def interpolation_frames(
    path: str, mtime_ns: int, start: tuple[int, int], end: tuple[int, int], frames: int, method: str
) -> np.ndarray:
    generator, facts = cached_checkpoint(path, mtime_ns)
    z_dim = facts.z_dim
    path_z = interpolate(sample_z(*start, z_dim), sample_z(*end, z_dim), frames, method)  # [frames, z_dim]
    return to_uint8(generate(generator, path_z))  # [frames, 28, 28]


@st.cache_data(max_entries=32, show_spinner=False)
def strip_png(
    path: str, mtime_ns: int, start: tuple[int, int], end: tuple[int, int], frames: int, method: str
) -> bytes:
    return png_bytes(grid(interpolation_frames(path, mtime_ns, start, end, frames, method), columns=frames), scale=3)


blind_pixels = st.cache_data(max_entries=1, show_spinner=False)(lesson.blind_pixels)
real_blind_lit_share = st.cache_data(max_entries=1, show_spinner="Reading 5,000 real digits...")(lesson.real_lit_share)


@st.cache_data(max_entries=8, show_spinner=False)
def lesson_grid_png(path: str, mtime_ns: int) -> bytes:
    """The first 16 samples of seed 0 as a 4x4 grid, twice the size (lines along an edge stay visible)."""
    tiles = grid_picture(path, mtime_ns, 0)[ui.sampling.corner_slices(4, 4)]
    return png_bytes(tiles, scale=2)


@st.cache_data(max_entries=8, show_spinner="Measuring where the generator draws...")
def blind_lit_share(path: str, mtime_ns: int) -> float:
    """Share of the seed critic's blind pixels lit by the generator at `path` (wgan.lesson)."""
    generator, facts = cached_checkpoint(path, mtime_ns)
    return lesson.generator_lit_share(generator, facts.z_dim, blind_pixels()[0])


@st.cache_data(max_entries=8, show_spinner=False)
def mask_png(path: str | None, mtime_ns: int) -> bytes:
    """One digit (sample 0 of seed 0 from `path`; mid-grey without one) with the seed critic's blind pixels red."""
    if path is None:
        digit = np.full((28, 28), 96, np.uint8)
    else:
        digit = grid_picture(path, mtime_ns, 0)[ui.sampling.tile_slices(0, COLUMNS)]
    return png_bytes(paint(digit, blind_pixels()[0], BLIND_COLOUR), scale=8)


# --- the page's sections, called top to bottom at the end -----------------------------------------------


def list_checkpoints() -> tuple[dict[str, Path], list[str]]:
    """Loadable checkpoints by name (catalog.listed's order), and why each other file is set aside."""
    paths = catalog.listed(FOLDER, Hosting.from_environment().hosted)
    entries = [checkpoint_entry(str(path), catalog.modified_ns(path)) for path in paths]
    by_name = {catalog.name_in(entry.path, FOLDER): entry.path for entry in entries if entry.facts is not None}
    return by_name, [entry.problem for entry in entries if entry.problem is not None]


def restore_view(names: list[str]) -> None:
    """The URL on a session's first visit (nonsense warned about and dropped), then the widgets' own values."""
    for message in share.restore_widgets(st.session_state, st.query_params.to_dict(), names):
        st.warning(f"Shared link: {message}.")


def lesson_file(by_name: dict[str, Path], name: str, arch: str) -> tuple[Path, CheckpointFacts] | None:
    """The shipped file `name` with its facts if it is there and holds the `arch` architecture, else None."""
    path = by_name.get(name)
    if path is None:
        return None
    try:
        _, facts = cached_checkpoint(str(path), catalog.modified_ns(path))
    except CheckpointError:
        return None
    return (path, facts) if facts.arch == arch else None


def fid_caption(facts: CheckpointFacts) -> str:
    return "FID-MNIST not measured" if facts.fid_mnist is None else f"FID-MNIST {facts.fid_mnist:.1f}"


def lesson_section(by_name: dict[str, Path]) -> None:
    """Why the seed's generator draws along the bottom and right edges: its critic cannot see there.

    Side by side when both shipped files are there: the seed-architecture grid, the repaired grid (each
    with its FID-MNIST from the card and how often it draws in the blind pixels), and a digit with the seed
    critic's blind pixels in red.
    """
    st.subheader("Why the seed's generator draws along the bottom and right edges")
    seed_blind, repaired_blind = blind_pixels()
    found = {arch: lesson_file(by_name, name, arch) for arch, name, _ in LESSON_FILES}
    pictures, captions = [], []
    for arch, name, title in LESSON_FILES:
        if found[arch] is not None:
            path, facts = found[arch]
            pictures.append(lesson_grid_png(str(path), catalog.modified_ns(path)))
            lit = blind_lit_share(str(path), catalog.modified_ns(path))
            captions.append(f"{title} (`{name}`): {fid_caption(facts)}, lights {lit:.2%} of the red pixels")
    # The digit under the mask: the repaired generator's, else any listed one's (mid-grey without any).
    digit = (found["repaired"] or found["seed"] or (next(iter(by_name.values()), None), None))[0]
    pictures.append(mask_png(None if digit is None else str(digit), 0 if digit is None else catalog.modified_ns(digit)))
    captions.append(f"Red: the {int(seed_blind.sum())} pixels the seed's critic never sees")
    st.image(pictures, caption=captions, width=LESSON_PICTURE_WIDTH, output_format="PNG")  # one row
    st.markdown(
        "**The seed's critic never reads the last row and column** (red): its 3x3 stride-2 convolutions have "
        "no padding and stop one pixel short, so nothing stops the generator from drawing there. "
        "The repaired critic pads its convolutions and sees every pixel "
        f"({28 * 28 - repaired_blind} of {28 * 28})."
    )
    real = real_blind_lit_share(seed_blind)
    if real is not None:
        st.caption(
            f"Real MNIST digits light {real:.2%} of the red pixels (5,000 digits); each generator's share is measured "
            f"on its first {lesson.LESSON_SAMPLES:,} samples (noise seed 0), a pixel lit when brighter than mid-grey."
        )
    missing = [f"`{name}` ({arch} architecture)" for arch, name, _ in LESSON_FILES if found[arch] is None]
    if missing:
        st.caption(f"The side-by-side comparison needs {' and '.join(missing)} in `{FOLDER}`: not there yet.")


def not_listed(skipped: list[str]) -> None:
    if skipped:
        with st.expander(f"Not listed: {len(skipped)} file(s) in `{FOLDER}/` that are not generator checkpoints"):
            for problem in skipped:
                st.caption(problem)


def choose_checkpoint(by_name: dict[str, Path]) -> tuple[Path, torch.nn.Module, CheckpointFacts, int, int]:
    """Checkpoint, seed and sample widgets; returns (path, generator, facts, seed, index). Stops on a bad file."""
    names = list(by_name)
    top = st.columns([2, 1, 1])
    name = top[0].selectbox(
        "Checkpoint", names, format_func=lambda n: catalog.label(by_name[n], FOLDER), key="sample.checkpoint"
    )
    top[1].number_input("Seed", 0, SEED_MAX, step=1, key="sample.seed")
    top[2].number_input(
        f"Sample to explore (0..{GRID_SIZE - 1}, row by row)", 0, GRID_SIZE - 1, step=1, key="sample.index"
    )
    path = by_name[name]
    try:
        generator, facts = cached_checkpoint(str(path), catalog.modified_ns(path))
    except CheckpointError as error:
        st.error(str(error))
        st.stop()
    z_dim = facts.z_dim
    for dim in share.fit_to_z_dim(st.session_state, z_dim):
        st.warning(f"z dimension {dim} does not exist in this checkpoint (z_dim={z_dim}); edit dropped.")
    about = f"{facts.preset} preset, {facts.objective}, {facts.arch} architecture"
    with st.expander(f"About `{name}`: {about}, {facts.iteration:,} iterations"):
        card = facts.card
        st.write({**{key: card[key] for key in sorted(card)}, "dataset (config)": facts.dataset, "z_dim": z_dim})
    return path, generator, facts, int(st.session_state["sample.seed"]), int(st.session_state["sample.index"])


def grid_section(path: Path, seed: int, index: int) -> None:
    """The 8x8 grid of seed `seed` (sample `index` framed); a click on a digit explores it."""
    mtime_ns = catalog.modified_ns(path)
    picture = grid_picture(str(path), mtime_ns, seed)
    st.subheader(f"Seed {seed}: 64 samples")
    st.plotly_chart(
        ui.sampling.clickable_grid(grid_png(str(path), mtime_ns, seed, index), picture.shape[0], COLUMNS, GRID_SIZE),
        width="content",
        on_select=partial(share.pick_tile, st.session_state),
        selection_mode="points",
        key="sample.grid_click",
        config={"displayModeBar": False},
    )
    st.caption(f"Click a digit (or type its number above) to explore it; framed: sample {index}.")
    # Downloads get a callable: Streamlit encodes the file only when the button is clicked.
    st.download_button("Download grid (PNG)", partial(png_bytes, picture, 2), f"grid-seed{seed}.png", "image/png")


def explorer_section(path: Path, generator: torch.nn.Module, z_dim: int, seed: int, index: int) -> None:
    """Sliders along the principal directions and pins on raw z dimensions, the sample before and after."""
    overrides: dict[int, float] = st.session_state["sample.overrides"]
    base_z = sample_z(seed, index, z_dim)  # [z_dim]
    directions, speeds = (
        torch.from_numpy(a) for a in directions_for(str(path), catalog.modified_ns(path), seed, index)
    )
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
    widgets = st.session_state  # the callbacks change widget values through wgan.share
    pin = {"on_change": share.pin_raw_value, "args": (widgets,)}
    raw[1].slider(f"z[{dim}]", -RAW_LIMIT, RAW_LIMIT, step=0.01, key="sample.raw_value", **pin)
    buttons = st.columns(2)
    buttons[0].button(
        f"Randomise z[{dim}]", on_click=share.randomise_dimension, args=(widgets, seed, index), key="sample.randomise"
    )
    buttons[1].button("Reset edits", on_click=share.reset_edits, args=(widgets,), key="sample.reset")
    edited_z = latent.apply_edits(base_z, directions, amounts, overrides)
    explored = to_uint8(generate(generator, torch.stack([base_z, edited_z])))  # [2, 28, 28]
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


def interpolation_section(path: Path, z_dim: int, seed: int, index: int) -> None:
    """A path through z between two (seed, sample) ends, its frames and downloads, and |z| along it."""
    st.subheader("Interpolation")
    ends = st.columns(4)
    ends[0].number_input("Start seed", 0, SEED_MAX, step=1, key="sample.start_seed")
    ends[1].number_input("Start sample", 0, GRID_SIZE - 1, step=1, key="sample.start_index")
    ends[2].number_input("End seed", 0, SEED_MAX, step=1, key="sample.end_seed")
    ends[3].number_input("End sample", 0, GRID_SIZE - 1, step=1, key="sample.end_index")
    choices = st.columns([1, 1, 2, 2])
    for column, which in ((choices[0], "start"), (choices[1], "end")):
        column.button(
            f"{which.capitalize()} = explored",
            on_click=share.use_explored,
            args=(st.session_state, which, seed, index),
            key=f"sample.as_{which}",
        )
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
    mtime_ns = catalog.modified_ns(path)
    strip = interpolation_frames(str(path), mtime_ns, start, end, frames, method)  # [frames, 28, 28]
    st.image(
        strip_png(str(path), mtime_ns, start, end, frames, method),
        caption=f"{method}: {start} -> {end} as (seed, sample)",
        output_format="PNG",
    )
    downloads, chart = st.columns([1, 2])
    with downloads:
        tag = f"{start[0]}-{start[1]}_to_{end[0]}-{end[1]}_{method}"
        st.download_button(
            "Download animation (GIF)", partial(gif_bytes, strip, 100, 4), f"interp_{tag}.gif", "image/gif"
        )
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
        norms = {kind: latent.path_norms(interpolate(z_start, z_end, len(t), kind)) for kind in ("lerp", "slerp")}
        st.plotly_chart(ui.sampling.norms_figure(t, norms, z_dim), key="sample.norms")


def share_link(state: PageState) -> None:
    """Mirror the view into the URL (and keep it as the canonical copy for the next run)."""
    st.session_state["sample.state"] = state
    params = share.encode(state)
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    st.caption("The address bar now holds this view (checkpoint, seed, edits, interpolation): copy it to share it.")


# --- the page ---------------------------------------------------------------------------------------------

leave_pages_folder_mode()  # a shared deep link opened first on a fresh server
st.set_page_config(page_title="Sampling a trained generator - WGAN", page_icon="🎲", layout="wide")
st.title("Sampling: explore a trained generator")
checkpoints, skipped = list_checkpoints()
if checkpoints:
    restore_view(list(checkpoints))
lesson_section(checkpoints)
if not checkpoints:
    st.info(
        f"No checkpoint in `{FOLDER}/` yet. Train one on the **Train** page (it saves into `{FOLDER}/runs/`), "
        f"or from a terminal: `python -m wgan train --preset gp --out {FOLDER}/runs/run.pt`."
    )
not_listed(skipped)
if not checkpoints:
    st.stop()
path, generator, facts, seed, index = choose_checkpoint(checkpoints)
grid_column, explore_column = st.columns([3, 2])
with grid_column:
    grid_section(path, seed, index)
with explore_column:
    explorer_section(path, generator, facts.z_dim, seed, index)
interpolation_section(path, facts.z_dim, seed, index)
share_link(share.state_from_widgets(st.session_state, catalog.name_in(path, FOLDER)))
