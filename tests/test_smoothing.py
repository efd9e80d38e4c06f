"""wgan.smoothing: the centred running median that draws a curve, the trailing one that reads it at a point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wgan.smoothing import centred_median, odd_window, trailing_median


def test_odd_window_fits_the_data():
    assert [odd_window(w, 7) for w in (0, 1, 2, 3, 4, 101)] == [1, 1, 1, 3, 3, 7]
    assert odd_window(101, 8) == 7 and odd_window(5, 0) == 1


def test_centred_median_of_a_known_curve():
    values = [0.0, 10.0, 1.0, 2.0, 30.0, 3.0, 4.0]
    np.testing.assert_array_equal(centred_median(values, 3), [0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0])
    # the window shrinks to 7; the edges repeat the nearest value, so only the middle sees all seven once
    np.testing.assert_array_equal(centred_median(values, 101), [0.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0])
    assert centred_median([], 25).size == 0


def test_trailing_median_looks_only_backwards_and_skips_nan():
    values = [1.0, 5.0, 2.0, 9.0, float("nan"), 4.0]
    assert trailing_median(values, end=3, window=2) == pytest.approx(3.5)  # median of [5, 2]
    assert trailing_median(values, end=2, window=10) == pytest.approx(3.0)  # fewer at the start
    assert trailing_median(values, end=6, window=3) == pytest.approx(6.5)  # [9, nan, 4]: nan left out
    assert math.isnan(trailing_median(values, end=5, window=1))  # only the nan
    assert math.isnan(trailing_median([], end=0, window=5))
