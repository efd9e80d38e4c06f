"""Shared fixtures: tiny MNIST-format files written by the tests themselves (no network, no ../shared)."""

from __future__ import annotations

import gzip
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.browser import CHROMIUM, serve
from benchmarks.browser import chromium as chromium_browser

torch.set_num_threads(min(2, torch.get_num_threads()))


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """Write a uint8 array in MNIST's IDX format (magic 0x00000800 | ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def fake_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 images of a bright vertical or horizontal bar (label = bar position), uint8."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    for i, label in enumerate(labels):
        position = 4 + 2 * int(label)
        if i % 2:
            images[i, 4:24, position : position + 3] = 255
        else:
            images[i, position : position + 3, 4:24] = 255
    return images, labels


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with MNIST/raw: the train split uncompressed (600 images), the test split as .gz (300)."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n, compress, seed in (("train", 600, False, 0), ("t10k", 300, True, 1)):
        images, labels = fake_digits(n, seed)
        write_idx(raw / f"{split}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels, compress)
    return root


# --- real-browser tests: the app served headless, Debian's Chromium driven by Playwright -------------------


@pytest.fixture()
def streamlit_server(tmp_path: Path):
    """A function that starts `streamlit run <entrypoint>` (app.py by default) headless with extra environment
    variables (benchmarks.browser.serve) and returns its URL; every server started is stopped afterwards."""
    with ExitStack() as stack:
        # One torch thread: the browser and pytest share the CI machine's cores with the server.
        yield (
            lambda entrypoint="app.py", **env: (
                stack.enter_context(serve(tmp_path, entrypoint, **{"OMP_NUM_THREADS": "1", **env})).url
            )
        )


@pytest.fixture()
def chromium():
    """A headless Chromium browser (Playwright); the test is skipped when Chromium or Playwright is missing."""
    pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with chromium_browser() as browser:
        yield browser
