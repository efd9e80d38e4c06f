"""The toy distributions: 2-D shapes with known modes, the parallel lines of Example 1, a grid over the plane.

Sources: the WGAN paper (Arjovsky, Chintala, Bottou 2017), Example 1 (parallel lines); the WGAN-GP paper
(Gulrajani et al. 2017), Section 5.1 and its ``gan_toy.py`` (8 Gaussians, 25 Gaussians, Swiss roll). The
ring and two moons are added here as two more shapes. All randomness goes through an explicit
``torch.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.distance import cdist

TOY_DATASETS: tuple[str, ...] = ("8gaussians", "25gaussians", "swissroll", "ring", "moons")
TOY_LABELS: dict[str, str] = {
    "8gaussians": "8 Gaussians",
    "25gaussians": "25 Gaussians",
    "swissroll": "Swiss roll",
    "ring": "Ring",
    "moons": "Two moons",
}
RING_RADIUS = 1.5  # radius of the ring (noise std 0.05 across it)
MOONS_SCALE = 1.2  # two moons are centred and scaled by this to fill roughly [-2, 2] x [-1, 1]


# --------------------------------------------------------------------------------------------------
# 2-D toy distributions (WGAN-GP, gan_toy.py)
# --------------------------------------------------------------------------------------------------


def _eight_centres() -> np.ndarray:
    """The 8 Gaussians' centres: a circle of radius 2, then everything divided by 1.414 (gan_toy.py)."""
    angles = np.arange(8) * (2 * np.pi / 8)
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1) / 1.414


def _twentyfive_centres() -> np.ndarray:
    """The 25 Gaussians' centres: a 5x5 grid with spacing 2, then divided by 2.828 (gan_toy.py)."""
    grid = np.arange(-2, 3) * 2.0
    xx, yy = np.meshgrid(grid, grid, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1) / 2.828


def _swissroll_curve(t: np.ndarray) -> np.ndarray:
    """The noiseless Swiss roll (sklearn's make_swiss_roll, columns x and z) divided by 7.5."""
    return np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 7.5


def _moons_curve(t: np.ndarray, upper: bool) -> np.ndarray:
    """The noiseless two moons (sklearn's make_moons), centred and scaled; ``t`` in [0, pi]."""
    if upper:
        xy = np.stack([np.cos(t), np.sin(t)], axis=1)
    else:
        xy = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    return (xy - np.array([0.5, 0.25])) * MOONS_SCALE


def sample_toy(name: str, n: int, generator: torch.Generator) -> torch.Tensor:
    """Draw ``n`` points, shape (n, 2), from the named 2-D toy distribution (float32, CPU).

    8 Gaussians: std 0.02 around 8 centres on a circle of radius 2, all divided by 1.414;
    25 Gaussians: std 0.05 around a 5x5 grid of spacing 2, all divided by 2.828;
    Swiss roll: noise 0.25 on sklearn's roll, columns (x, z), divided by 7.5 (WGAN-GP gan_toy.py).
    Ring: radius 1.5, radial noise std 0.05. Two moons: noise 0.05, centred, scaled by 1.2.
    """
    if name == "8gaussians":
        centres = torch.as_tensor(_eight_centres(), dtype=torch.float32)
        idx = torch.randint(0, 8, (n,), generator=generator)
        return centres[idx] + torch.randn(n, 2, generator=generator) * (0.02 / 1.414)
    if name == "25gaussians":
        centres = torch.as_tensor(_twentyfive_centres(), dtype=torch.float32)
        idx = torch.randint(0, 25, (n,), generator=generator)
        return centres[idx] + torch.randn(n, 2, generator=generator) * (0.05 / 2.828)
    if name == "swissroll":
        t = 1.5 * math.pi * (1.0 + 2.0 * torch.rand(n, generator=generator))
        xy = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
        return (xy + 0.25 * torch.randn(n, 2, generator=generator)) / 7.5
    if name == "ring":
        angle = 2 * math.pi * torch.rand(n, generator=generator)
        radius = RING_RADIUS + 0.05 * torch.randn(n, generator=generator)
        return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    if name == "moons":
        t = math.pi * torch.rand(n, generator=generator)
        upper = torch.rand(n, generator=generator) < 0.5
        x = torch.where(upper, torch.cos(t), 1.0 - torch.cos(t))
        y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
        xy = torch.stack([x, y], dim=1) + 0.05 * torch.randn(n, 2, generator=generator)
        return (xy - torch.tensor([0.5, 0.25])) * MOONS_SCALE
    raise ValueError(f"unknown toy dataset {name!r}; expected one of {TOY_DATASETS}")


@dataclass(frozen=True)
class ModeSpec:
    """Where a toy distribution's modes (or, for curves, its regions) are, for mode counting."""

    centres: np.ndarray  # (k, 2) mode centres, or evenly spaced anchor points along a curve
    radius: float  # a fake sample within this distance of a centre counts for that mode
    kind: str  # "modes" for the Gaussian mixtures, "regions" for curves (ring, roll, moons)


def _min_pairwise_distance(points: np.ndarray) -> float:
    d = cdist(points, points)
    d[np.diag_indices_from(d)] = np.inf
    return float(d.min())


def toy_modes(name: str) -> ModeSpec:
    """Mode centres and a coverage radius for the named toy distribution.

    Mixtures: the component centres, radius a quarter of the closest centres' distance (about 19 std for
    8 Gaussians, 10 std for 25). Curves have no modes; they are cut into regions around evenly spaced
    anchors (8 on the ring; the centres of 8 equal-length pieces of the roll and of 3 of each moon), radius
    half the closest anchors' distance.
    """
    if name in ("8gaussians", "25gaussians"):
        centres = _eight_centres() if name == "8gaussians" else _twentyfive_centres()
        return ModeSpec(centres, 0.25 * _min_pairwise_distance(centres), "modes")
    if name == "ring":
        angles = np.arange(8) * (2 * np.pi / 8)
        centres = RING_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    elif name == "swissroll":
        # centres of 8 pieces of equal arc length (arc length ~ t^2 / 2 for the spiral r = t)
        edges = np.linspace((1.5 * np.pi) ** 2, (4.5 * np.pi) ** 2, 9)
        centres = _swissroll_curve(np.sqrt(0.5 * (edges[:-1] + edges[1:])))
    elif name == "moons":
        t = np.array([np.pi / 6, np.pi / 2, 5 * np.pi / 6])
        centres = np.concatenate([_moons_curve(t, True), _moons_curve(t, False)])
    else:
        raise ValueError(f"unknown toy dataset {name!r}; expected one of {TOY_DATASETS}")
    return ModeSpec(centres, 0.5 * _min_pairwise_distance(centres), "regions")


def count_modes(
    samples: np.ndarray, centres: np.ndarray, radius: float, min_share: float = 0.25
) -> tuple[int, np.ndarray]:
    """How many modes the samples cover, and how many samples fall on each mode.

    A sample belongs to its nearest centre if it lies within ``radius`` of it. A mode is covered when it
    holds at least ``min_share`` of its fair share ``n / k`` of the ``n`` samples (a quarter by default),
    so a handful of stray points does not count as covering a mode.
    Returns (number of covered modes, counts of shape (k,)).
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    d = cdist(samples, centres)  # (n, k)
    nearest = d.argmin(axis=1)
    close = d[np.arange(len(samples)), nearest] <= radius
    counts = np.bincount(nearest[close], minlength=len(centres))
    covered = int((counts >= min_share * len(samples) / len(centres)).sum())
    return covered, counts


# --------------------------------------------------------------------------------------------------
# Example 1 of the WGAN paper: parallel lines
# --------------------------------------------------------------------------------------------------


def sample_parallel_lines(theta: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """Draw ``n`` points (theta, Z), Z ~ U[0, 1], shape (n, 2): P_theta of Example 1 (P_0 at theta = 0)."""
    z = torch.rand(n, generator=generator)
    return torch.stack([torch.full_like(z, float(theta)), z], dim=1)


def plane_grid(extent: float = 3.0, size: int = 64) -> tuple[np.ndarray, torch.Tensor]:
    """A size x size grid over [-extent, extent]^2: (1-D coordinates, points (size*size, 2), x fastest)."""
    coords = np.linspace(-extent, extent, size)
    xx, yy = np.meshgrid(coords, coords)  # row i is y = coords[i]
    points = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], axis=1), dtype=torch.float32)
    return coords, points
