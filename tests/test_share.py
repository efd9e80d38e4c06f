"""wgan.share: page state <-> query parameters; bad links fall back field by field, never raise."""

from __future__ import annotations

import pytest

from wgan import share
from wgan.share import KEYS, N_DIRECTIONS, PageState, decode, encode

NAMES = ["gan.pt", "wgan-gp.pt", "runs/mine.pt"]
EDITED = PageState(
    checkpoint="runs/mine.pt",
    seed=2**31 - 1,
    index=63,
    amounts=(0.1, -4.9, 0.0, 1 / 3, 5.0),
    overrides=((0, -4.0), (17, 0.123456789), (99, 1e-07)),
    start=(3, 0),
    end=(0, 63),
    frames=32,
    method="lerp",
)


@pytest.mark.parametrize("state", [PageState(checkpoint="gan.pt"), EDITED])
def test_round_trip_is_exact(state):
    params = encode(state)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in params.items())
    assert set(params) <= set(KEYS)
    decoded, warnings = decode(params, NAMES)
    assert warnings == []
    assert decoded == state  # floats bit for bit (repr round-trips)
    assert encode(decoded) == params


def test_rest_state_gives_a_short_link_and_missing_keys_are_defaults():
    params = encode(PageState(checkpoint="gan.pt"))
    assert "dirs" not in params and "z" not in params
    assert decode({}, NAMES) == (PageState(checkpoint="gan.pt"), [])
    assert decode({"seed": "5"}, NAMES) == (PageState(checkpoint="gan.pt", seed=5), [])


def test_negative_zero_is_written_as_zero():
    state = PageState(amounts=(-0.0, 1.0) + (0.0,) * (N_DIRECTIONS - 2), overrides=((2, -0.0),))
    assert encode(state)["dirs"].startswith("0.0,") and encode(state)["z"] == "2:0.0"


def test_lists_take_the_last_value_like_st_query_params():
    state, warnings = decode({"seed": ["1", "2"], "frames": []}, NAMES)
    assert state.seed == 2 and state.frames == 16 and len(warnings) == 1 and "frames" in warnings[0]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ckpt", "deleted.pt"),
        ("ckpt", "../../etc/passwd"),
        ("seed", "-1"),
        ("seed", "2147483648"),
        ("seed", "1.5"),
        ("seed", "--5"),
        ("seed", "１２"),  # full-width digits
        ("seed", "9" * 5000),
        ("sample", "64"),
        ("frames", "1"),
        ("frames", "33"),
        ("interp", "SLERP"),
        ("from", "1"),
        ("from", "1:64"),
        ("to", "a:b"),
        ("to", "1:2:3"),
        ("dirs", "nan"),
        ("dirs", "inf,0"),
        ("dirs", "5.01"),
        ("dirs", "1,2,3,4,5,6"),
        ("dirs", "1e400"),
        ("z", "100:1"),
        ("z", "-1:1"),
        ("z", "3:4.5"),
        ("z", "3:1,3:2"),
        ("z", "3"),
        ("z", "3:nan"),
        ("unknown", "1"),
    ],
)
def test_each_bad_field_warns_and_keeps_the_rest(key, value):
    params = {**encode(EDITED), key: value}
    state, warnings = decode(params, NAMES)
    assert len(warnings) == 1 and key in warnings[0]
    expected = {"ckpt": "checkpoint", "seed": "seed", "sample": "index", "frames": "frames", "interp": "method"}
    expected |= {"from": "start", "to": "end", "dirs": "amounts", "z": "overrides"}
    for name in ("checkpoint", "seed", "index", "amounts", "overrides", "start", "end", "frames", "method"):
        if key in expected and expected[key] == name:
            default = "gan.pt" if name == "checkpoint" else getattr(PageState(), name)
            assert getattr(state, name) == default, name
        else:
            assert getattr(state, name) == getattr(EDITED, name), name


def test_short_amount_lists_are_padded_and_empty_fields_mean_no_edits():
    state, warnings = decode({"dirs": "1.5", "z": ""}, NAMES)
    assert warnings == [] and state.amounts == (1.5,) + (0.0,) * (N_DIRECTIONS - 1) and state.overrides == ()


def test_no_checkpoints_and_odd_types_never_raise():
    state, warnings = decode({"ckpt": "x.pt", "seed": None, 3: "x"}, [])  # type: ignore[dict-item]
    assert state.checkpoint == "" and len(warnings) == 3
    assert state.overrides_dict() == {}


def test_widgets_start_from_a_link_and_give_the_same_state_back():
    widgets: dict = {}
    warnings = share.restore_widgets(widgets, encode(EDITED), NAMES)
    assert warnings == [] and widgets["sample.seed"] == EDITED.seed and widgets["sample.dir1"] == -4.9
    assert share.state_from_widgets(widgets, widgets["sample.checkpoint"]) == EDITED
    # Later runs keep the widgets' own values; a bad link warns once, on the first visit only.
    widgets["sample.seed"] = 5
    assert share.restore_widgets(widgets, {"seed": "nonsense"}, NAMES) == [] and widgets["sample.seed"] == 5
    fresh: dict = {}
    assert share.restore_widgets(fresh, {"seed": "nonsense"}, NAMES) and fresh["sample.checkpoint"] == NAMES[0]


def test_explorer_buttons_change_the_widgets():
    widgets: dict = {}
    share.restore_widgets(widgets, encode(EDITED), NAMES)
    widgets["sample.raw_dim"], widgets["sample.raw_value"] = 3, 1.5
    share.pin_raw_value(widgets)
    share.randomise_dimension(widgets, 0, 0)
    assert widgets["sample.draws"] == 1 and abs(widgets["sample.overrides"][3]) <= share.RAW_LIMIT
    widgets["sample.raw_dim"] = 30
    assert share.fit_to_z_dim(widgets, 20) == [99] and 99 not in widgets["sample.overrides"]
    assert widgets["sample.raw_dim"] == 0 and 3 in widgets["sample.overrides"]
    share.use_explored(widgets, "end", 7, 8)
    assert (widgets["sample.end_seed"], widgets["sample.end_index"]) == (7, 8)
    share.reset_edits(widgets)
    assert widgets["sample.overrides"] == {} and widgets["sample.dir1"] == 0.0
    assert share.state_from_widgets(widgets, "gan.pt").amounts == (0.0,) * N_DIRECTIONS
