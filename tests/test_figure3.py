"""wgan.figure3: the one owner of checkpoints/figure3.json's format, used by the benchmark and the app."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from wgan.figure3 import (
    DEFAULT_PATH,
    KIND,
    VERSION,
    Figure3Error,
    Figure3Missing,
    finite_or_none,
    load_figure3,
    write_figure3,
)

REPO = Path(__file__).resolve().parents[1]


def run_record(curve: str) -> dict:
    return {
        "curve": curve,
        "history": {"iteration": [0.0, 1.0], curve: [0.5, float("nan")]},
        "points": {"iteration": [0.0], "fid_mnist": [12.0]},
        "spearman": {"rho": float("nan"), "p": float("nan"), "points": 1},
    }


def test_write_then_load_round_trips_as_strict_json(tmp_path):
    runs = {"wgan": run_record("w_estimate"), "gan": run_record("js_estimate")}
    path = write_figure3({"iterations": 1, "runs": runs}, tmp_path / "sub" / "figure3.json")
    text = path.read_text()
    assert "NaN" not in text and json.loads(text)["runs"]["wgan"]["history"]["w_estimate"] == [0.5, None]
    assert list(json.loads(text))[:2] == ["kind", "version"]  # the marker comes first
    results = load_figure3(path)
    assert results["kind"] == KIND and results["version"] == VERSION and results["iterations"] == 1
    assert not list(path.parent.glob(".*tmp"))  # the atomic write left no temporary file


def test_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(Figure3Missing, match="no results yet"):
        load_figure3(tmp_path / "none.json")
    cases = {
        "garbage": ("{not json", "not readable JSON"),
        "foreign": (json.dumps({"kind": "other", "runs": {}}), "no 'wgan-figure3' marker"),
        "future": (json.dumps({"kind": KIND, "version": VERSION + 1, "runs": {}}), "format version"),
        "half": (json.dumps({"kind": KIND, "version": VERSION, "runs": {"wgan": run_record("w")}}), "gan run"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        with pytest.raises(Figure3Error, match=message) as raised:
            load_figure3(path)
        assert "\n" not in str(raised.value) and str(path) in str(raised.value)
    with pytest.raises(Figure3Error, match="gan run"):  # the writer refuses what the reader would
        write_figure3({"runs": {"wgan": run_record("w")}}, tmp_path / "incomplete.json")
    assert not (tmp_path / "incomplete.json").exists()


def test_the_shipped_results_file_reads():
    shipped = REPO / DEFAULT_PATH
    if not shipped.is_file():
        pytest.skip(f"{DEFAULT_PATH} is not shipped in this checkout")
    results = load_figure3(shipped)
    assert {results["runs"][name]["curve"] for name in ("wgan", "gan")} == {"w_estimate", "js_estimate"}


def test_finite_or_none():
    assert finite_or_none({"a": [1.0, float("nan")], "b": (float("inf"),)}) == {"a": [1.0, None], "b": [None]}
    assert finite_or_none(-math.inf) is None and finite_or_none(3) == 3
