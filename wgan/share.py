"""The Sampling page's state as a flat dict of strings (for `st.query_params`), so a URL reproduces a view.

`encode(state)` writes every field as a short string; `decode(params, checkpoints)` reads one back and
validates each field on its own: an unknown checkpoint, an out-of-range number or plain garbage gives a
one-line warning and that field's default, never an exception (the input is whatever a visitor pasted).
Floats are written with `repr`, which round-trips exactly, so a decoded link gives the same z bit for bit.
`widget_values` and `state_from_widgets` map the same state to and from the page's widget keys, and the
explorer's buttons change those keys through the functions beside them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace

from wgan.latent import GRID_SIZE, INTERPOLATIONS, randomised_value

N_DIRECTIONS = 5  # explorer sliders along the generator's principal directions
AMOUNT_LIMIT = 5.0  # slider range for a principal direction, in units of |z| (a unit step of 1 is 1/10 of |z|)
RAW_LIMIT = 4.0  # slider range for one raw z dimension (N(0, 1): 4 standard deviations)
SEED_MAX = 2**31 - 1
MIN_FRAMES, MAX_FRAMES = 2, 32
MAX_LENGTH = 2000  # longest parameter value read; anything longer is refused unread

KEYS = ("ckpt", "seed", "sample", "dirs", "z", "from", "to", "frames", "interp")


@dataclass(frozen=True)
class PageState:
    """What the Sampling page shows, every field a plain value.

    checkpoint: file name relative to the checkpoint folder ("wgan-gp.pt", "runs/mine.pt"); "" = the first.
    seed, index: the 8x8 grid's seed and the explored tile (row-major, 0..63).
    amounts: steps along the N_DIRECTIONS principal directions; overrides: (dimension, value) pairs, sorted.
    start, end: interpolation endpoints as (seed, index); frames and method ("lerp" or "slerp").
    """

    checkpoint: str = ""
    seed: int = 0
    index: int = 0
    amounts: tuple[float, ...] = (0.0,) * N_DIRECTIONS
    overrides: tuple[tuple[int, float], ...] = ()
    start: tuple[int, int] = (0, 0)
    end: tuple[int, int] = (1, 0)
    frames: int = 16
    method: str = "slerp"

    def overrides_dict(self) -> dict[int, float]:
        return dict(self.overrides)


def encode(state: PageState) -> dict[str, str]:
    """Flat {key: string} for st.query_params; explorer fields are left out while they are at rest."""
    params = {
        "ckpt": state.checkpoint,
        "seed": str(state.seed),
        "sample": str(state.index),
        "from": f"{state.start[0]}:{state.start[1]}",
        "to": f"{state.end[0]}:{state.end[1]}",
        "frames": str(state.frames),
        "interp": state.method,
    }
    if any(amount != 0 for amount in state.amounts):
        params["dirs"] = ",".join(_float(amount) for amount in state.amounts)
    if state.overrides:
        params["z"] = ",".join(f"{dim}:{_float(value)}" for dim, value in sorted(state.overrides))
    return params


def decode(
    params: Mapping[str, str | Sequence[str]], checkpoints: Sequence[str], z_dim: int = 100
) -> tuple[PageState, list[str]]:
    """(state, warnings) from query parameters; each bad field falls back to its default with a warning.

    checkpoints: names the page can load now (the first is the default). Never raises on any input.
    """
    warnings: list[str] = []
    values: dict[str, str] = {}
    for key, raw in params.items():
        # st.query_params gives strings; a repeated key may arrive as a list (the last one wins there too).
        value = raw[-1] if isinstance(raw, list | tuple) and raw else raw
        if key not in KEYS:
            warnings.append(f"ignored unknown link parameter {_show(str(key))}")
        elif not isinstance(value, str) or len(value) > MAX_LENGTH:
            warnings.append(f"link parameter {key} is empty, too long or not text; using the default")
        else:
            values[key] = value.strip()
    default = PageState(checkpoint=checkpoints[0] if checkpoints else "")
    state = default

    def warn(key: str, why: str) -> None:
        warnings.append(f"link parameter {key}={_show(values[key])} {why}; using the default")

    if "ckpt" in values:
        if values["ckpt"] in checkpoints:
            state = replace(state, checkpoint=values["ckpt"])
        else:
            warn("ckpt", "names no checkpoint available here")
    for key, name, low, high in (("seed", "seed", 0, SEED_MAX), ("sample", "index", 0, GRID_SIZE - 1)):
        if key in values:
            number = _int(values[key], low, high)
            if number is None:
                warn(key, f"is not a whole number in {low}..{high}")
            else:
                state = replace(state, **{name: number})
    if "frames" in values:
        frames = _int(values["frames"], MIN_FRAMES, MAX_FRAMES)
        if frames is None:
            warn("frames", f"is not a whole number in {MIN_FRAMES}..{MAX_FRAMES}")
        else:
            state = replace(state, frames=frames)
    if "interp" in values:
        if values["interp"] in INTERPOLATIONS:
            state = replace(state, method=values["interp"])
        else:
            warn("interp", f"is not one of {', '.join(INTERPOLATIONS)}")
    for key, name in (("from", "start"), ("to", "end")):
        if key in values:
            endpoint = _endpoint(values[key])
            if endpoint is None:
                warn(key, f"is not seed:sample with seed in 0..{SEED_MAX} and sample in 0..{GRID_SIZE - 1}")
            else:
                state = replace(state, **{name: endpoint})
    if "dirs" in values:
        amounts = _amounts(values["dirs"])
        if amounts is None:
            warn("dirs", f"is not up to {N_DIRECTIONS} comma-separated numbers in +-{AMOUNT_LIMIT:g}")
        else:
            state = replace(state, amounts=amounts)
    if "z" in values:
        overrides = _overrides(values["z"], z_dim)
        if overrides is None:
            warn("z", f"is not dimension:value pairs with dimension in 0..{z_dim - 1} and value in +-{RAW_LIMIT:g}")
        else:
            state = replace(state, overrides=overrides)
    return state, warnings


# --- the same view as the page's widgets (session-state keys "sample.*") -------------------------------------


def widget_values(state: PageState) -> dict[str, object]:
    """The widgets' starting values for `state`: what the page sets (unless a widget has its own value)."""
    return {
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
        "sample.draws": 0,  # how often "randomise" was pressed: the draw number of the next value
        "sample.raw_dim": 0,
        **{f"sample.dir{k}": float(amount) for k, amount in enumerate(state.amounts)},
    }


def restore_widgets(widgets: MutableMapping[str, object], params: Mapping[str, str], names: Sequence[str]) -> list[str]:
    """Start the widgets from the link `params` on a session's first visit, then keep their own values.

    widgets["sample.state"] is the canonical copy of the view (the page stores it after each run); `names`
    are the checkpoints listed now (the first is the default). Returns the link's warnings, once.
    """
    warnings: list[str] = []
    if "sample.state" not in widgets:
        widgets["sample.state"], warnings = decode(params, names)
    state = widgets["sample.state"]
    if state.checkpoint not in names:  # the file went away since
        state = PageState(checkpoint=names[0])
    for key, value in widget_values(state).items():
        widgets.setdefault(key, value)
    if widgets["sample.checkpoint"] not in names:
        widgets["sample.checkpoint"] = names[0]
    return warnings


def fit_to_z_dim(widgets: MutableMapping[str, object], z_dim: int) -> list[int]:
    """Drop pinned dimensions a checkpoint with `z_dim` lacks (and the raw-dimension choice); returns them."""
    overrides = widgets["sample.overrides"]
    dropped = [dim for dim in overrides if dim >= z_dim]
    for dim in dropped:
        del overrides[dim]
    if widgets["sample.raw_dim"] >= z_dim:
        widgets["sample.raw_dim"] = 0
    return dropped


def state_from_widgets(widgets: Mapping[str, object], checkpoint: str) -> PageState:
    """The view the widgets show now, with `checkpoint` as the page names it (the inverse of widget_values)."""
    return PageState(
        checkpoint,
        int(widgets["sample.seed"]),
        int(widgets["sample.index"]),
        tuple(0.0 if widgets[f"sample.dir{k}"] == 0 else float(widgets[f"sample.dir{k}"]) for k in range(N_DIRECTIONS)),
        tuple(sorted(widgets["sample.overrides"].items())),
        (int(widgets["sample.start_seed"]), int(widgets["sample.start_index"])),
        (int(widgets["sample.end_seed"]), int(widgets["sample.end_index"])),
        int(widgets["sample.frames"]),
        str(widgets["sample.method"]),
    )


def reset_edits(widgets: MutableMapping[str, object]) -> None:
    """The explorer's "Reset edits": no pinned dimension, every direction slider at 0."""
    widgets["sample.overrides"] = {}
    for k in range(N_DIRECTIONS):
        widgets[f"sample.dir{k}"] = 0.0


def pin_raw_value(widgets: MutableMapping[str, object]) -> None:
    """Moving the raw-dimension slider pins that dimension at the slider's value."""
    widgets["sample.overrides"][int(widgets["sample.raw_dim"])] = float(widgets["sample.raw_value"])


def randomise_dimension(widgets: MutableMapping[str, object], seed: int, index: int) -> None:
    """Pin the chosen raw dimension at a fresh N(0, 1) value (the next draw for this sample and dimension)."""
    dim = int(widgets["sample.raw_dim"])
    widgets["sample.draws"] += 1
    value = randomised_value(seed, index, dim, widgets["sample.draws"])
    widgets["sample.overrides"][dim] = max(-RAW_LIMIT, min(RAW_LIMIT, value))


def pick_tile(widgets: MutableMapping[str, object]) -> None:
    """A click on the grid (a plotly selection in widgets["sample.grid_click"]) explores that tile."""
    points = widgets["sample.grid_click"].selection.points
    if points:
        widgets["sample.index"] = int(points[0]["point_index"])


def use_explored(widgets: MutableMapping[str, object], which: str, seed: int, index: int) -> None:
    """Make the explored sample the interpolation's `which` end ("start" or "end")."""
    widgets[f"sample.{which}_seed"] = seed
    widgets[f"sample.{which}_index"] = index


def _float(value: float) -> str:
    value = float(value)
    return "0.0" if value == 0 else repr(value)  # no "-0.0": the same edit gives the same link


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _int(text: str, low: int, high: int) -> int | None:
    if not re.fullmatch(r"-?[0-9]{1,19}", text):
        return None
    number = int(text)
    return number if low <= number <= high else None


def _number(text: str, limit: float) -> float | None:
    if len(text) > 40:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) and abs(number) <= limit else None


def _endpoint(text: str) -> tuple[int, int] | None:
    seed_text, colon, index_text = text.partition(":")
    if not colon:
        return None
    seed, index = _int(seed_text, 0, SEED_MAX), _int(index_text, 0, GRID_SIZE - 1)
    return None if seed is None or index is None else (seed, index)


def _amounts(text: str) -> tuple[float, ...] | None:
    parts = text.split(",") if text else []
    if len(parts) > N_DIRECTIONS:
        return None
    amounts = [_number(part, AMOUNT_LIMIT) for part in parts]
    if any(amount is None for amount in amounts):
        return None
    padded = [float(amount) for amount in amounts if amount is not None] + [0.0] * (N_DIRECTIONS - len(amounts))
    return tuple(0.0 if amount == 0 else amount for amount in padded)


def _overrides(text: str, z_dim: int) -> tuple[tuple[int, float], ...] | None:
    pairs: dict[int, float] = {}
    for part in text.split(",") if text else []:
        dim_text, colon, value_text = part.partition(":")
        dim, value = _int(dim_text, 0, z_dim - 1), _number(value_text, RAW_LIMIT)
        if not colon or dim is None or value is None or dim in pairs:
            return None
        pairs[dim] = 0.0 if value == 0 else value
    return tuple(sorted(pairs.items()))
