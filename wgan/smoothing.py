"""Running medians of a logged curve: centred for drawing it, trailing for reading it at a point.

The WGAN paper median-filters its loss curves (window 101). Drawing a whole curve wants the centred
median: each point is the median of the values around it, so a drop is not drawn late. Reading the curve
at an evaluation point (to set it against FID-MNIST measured there) wants the trailing median: only
values logged before the point, so the reading does not look into the future.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import median_filter


def odd_window(window: int, n: int) -> int:
    """The largest odd window of at most ``window`` points that fits ``n`` values (at least 1)."""
    size = min(max(1, int(window)), max(1, n))
    return size - (1 - size % 2)


def centred_median(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Running median over ``odd_window(window, len(values))`` points centred on each value.

    Edges repeat the nearest value. An empty input gives an empty array.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return array
    return median_filter(array, size=odd_window(window, array.size), mode="nearest")


def trailing_median(values: Sequence[float], end: int, window: int) -> float:
    """Median of values[end - window : end] (fewer at the start), nan values left out; nan when none remain."""
    chunk = [v for v in values[max(0, end - window) : end] if not math.isnan(v)]
    return statistics.median(chunk) if chunk else float("nan")
