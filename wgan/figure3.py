"""The results file of the WGAN paper's Figure 3 reproduction: its format, written and read here only.

`python -m benchmarks.figure3` measures and calls `write_figure3`; the app calls `load_figure3`. The file
is strict JSON (nan and infinities stored as null) holding the format marker, the run's settings and, for
each of the runs "wgan" and "gan", its "curve" name, per-iteration "history", evaluation "points" and
"spearman" correlation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from wgan.paths import FIGURE3_FILE

KIND = "wgan-figure3"  # the format marker
VERSION = 1
DEFAULT_PATH = FIGURE3_FILE
RUNS = ("wgan", "gan")
RUN_KEYS = frozenset({"history", "points", "spearman", "curve"})


class Figure3Error(ValueError):
    """The results file is not what benchmarks.figure3 writes; one-line message."""


class Figure3Missing(Figure3Error):
    """No results file yet (not an error: the script has not been run)."""


def finite_or_none(value: Any) -> Any:
    """nan and infinities -> None (JSON null), so the file is strict JSON that any reader accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(item) for item in value]
    return value


def check_figure3(results: Any, where: str | Path) -> dict[str, Any]:
    """`results` if it is a Figure 3 results dict, else Figure3Error naming `where`."""
    if not isinstance(results, dict) or results.get("kind") != KIND or "runs" not in results:
        raise Figure3Error(f"{where}: not a Figure 3 results file (no '{KIND}' marker)")
    if results.get("version") != VERSION:
        raise Figure3Error(f"{where}: format version {results.get('version')!r}, this code reads version {VERSION}")
    for name in RUNS:
        run = results["runs"].get(name)
        if not isinstance(run, dict) or not RUN_KEYS <= run.keys():
            raise Figure3Error(f"{where}: the {name} run is missing or incomplete")
    return results


def write_figure3(results: dict[str, Any], path: str | Path) -> Path:
    """Write `results` (the marker added first) as strict JSON, atomically; refuses an incomplete one."""
    path = Path(path)
    payload = check_figure3({"kind": KIND, "version": VERSION, **results}, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(finite_or_none(payload), indent=1, allow_nan=False))
    temporary.replace(path)
    return path


def load_figure3(path: str | Path) -> dict[str, Any]:
    """Read and check a results file written by `python -m benchmarks.figure3`."""
    path = Path(path)
    if not path.is_file():
        raise Figure3Missing(f"{path}: no results yet (make them with: python -m benchmarks.figure3 --out {path})")
    try:
        results = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Figure3Error(f"{path}: not readable JSON ({str(error).splitlines()[0][:120]})") from None
    return check_figure3(results, path)
