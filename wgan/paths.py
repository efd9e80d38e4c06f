"""The project's own files, found from this package's location, so every default works from any folder."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DIR = PROJECT_ROOT / "checkpoints"  # committed, generator-only checkpoints with a card each
RUNS_DIR = SHIPPED_DIR / "runs"  # the local app's and the command line's own runs (not committed)
SHIPPED_RECORDING = SHIPPED_DIR / "recordings" / "quick.pt"  # a run of the page's default recipe, to watch
SHIPPED_CLASSIFIER = SHIPPED_DIR / "classifier" / "mnist-classifier.pt"  # FID-MNIST's feature network
FIGURE3_FILE = SHIPPED_DIR / "figure3.json"  # written by benchmarks/figure3.py, drawn by the home page
DATA_ROOT = PROJECT_ROOT / "data"  # where MNIST is downloaded to unless told otherwise (WGAN_DATA_ROOT)
