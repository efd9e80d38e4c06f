"""The latent space of a trained generator: pick a sample, edit its z, interpolate between two z's.

Everything here is deterministic: noise comes from seeds through CPU `torch.Generator`s (see
`wgan.sampling.noise_from_seed`), so the same seed, sample index and edits give the same z and, through the
same fp32 generator on the same kind of CPU, the same images bit for bit (what a shared link relies on).

Why slerp (White 2016, "Sampling generative networks"): z ~ N(0, I) in 100 dimensions has |z| close to
sqrt(100) = 10, so almost all the prior's mass lies in a thin shell. The straight line between two such
points cuts through the inside of the shell: at the midpoint |z| = 10 * sqrt(1/2), about 7, a norm the
generator practically never saw while training. Spherical interpolation keeps |z| on the shell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import nn

from wgan.sampling import noise_from_seed

GRID_SIZE = 64  # samples per seed: the page's 8x8 grid; (seed, index) names one of them
Interpolation = Literal["lerp", "slerp"]
INTERPOLATIONS: tuple[Interpolation, ...] = ("lerp", "slerp")


def sample_z(seed: int, index: int, z_dim: int) -> torch.Tensor:
    """z [z_dim] of tile `index` in the grid of `seed` (row-major, 0..63).

    Always drawn as one [64, z_dim] block and indexed, because torch's CPU normal sampler fills blocks of
    16 numbers: the first 100 numbers of a 6,400-number draw differ from a 100-number draw.
    """
    if not 0 <= index < GRID_SIZE:
        raise ValueError(f"sample index {index} outside 0..{GRID_SIZE - 1}")
    return noise_from_seed(seed, GRID_SIZE, z_dim)[index].clone()


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1. z0, z1 [d]; t scalar or [n] -> [d] or [n, d]."""
    t = torch.as_tensor(t, dtype=z0.dtype)
    t = t.unsqueeze(-1) if t.dim() else t
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation along the great circle from z0 to z1 (Shoemake 1985; White 2016 for GANs).

    sin((1-t) w) / sin(w) z0 + sin(t w) / sin(w) z1 with w the angle between them. The norm is interpolated
    too, so endpoints of different lengths still meet exactly and |z| changes monotonically between them.
    Near-parallel or near-antiparallel vectors (sin(w) < eps) make the formula 0/0; for those it falls back
    to the straight line (parallel) or to one fixed great circle (antiparallel: no unique one exists).
    z0, z1 [d]; t scalar or [n] -> [d] or [n, d]. Computed in float64 and returned in z0's dtype.
    """
    dtype = z0.dtype
    a, b = z0.double(), z1.double()
    t64 = torch.as_tensor(t, dtype=torch.float64)
    t_col = t64.unsqueeze(-1) if t64.dim() else t64
    norm_a, norm_b = a.norm(), b.norm()
    if norm_a == 0 or norm_b == 0:
        return lerp(a, b, t64).to(dtype)
    unit_a, unit_b = a / norm_a, b / norm_b
    omega = torch.arccos((unit_a @ unit_b).clamp(-1.0, 1.0))
    sin_omega = torch.sin(omega)
    if sin_omega < eps and unit_a @ unit_b > 0:  # parallel: the arc is the straight line, renormalised
        direction = lerp(unit_a, unit_b, t64)
        direction = direction / direction.norm(dim=-1, keepdim=True)
    elif sin_omega < eps:  # antiparallel: every great circle through both fits; take a fixed one
        axis = torch.zeros_like(unit_a)
        axis[unit_a.abs().argmin()] = 1.0
        perpendicular = axis - (axis @ unit_a) * unit_a
        perpendicular = perpendicular / perpendicular.norm()
        direction = torch.cos(math.pi * t_col) * unit_a + torch.sin(math.pi * t_col) * perpendicular
    else:
        direction = (torch.sin((1 - t_col) * omega) * unit_a + torch.sin(t_col * omega) * unit_b) / sin_omega
    norm = (1 - t_col) * norm_a + t_col * norm_b
    return (direction * norm).to(dtype)


def interpolate(
    z0: torch.Tensor, z1: torch.Tensor, n_frames: int, method: Interpolation = "slerp"
) -> torch.Tensor:
    """n_frames latent vectors [n_frames, d] from z0 to z1 inclusive, evenly spaced in t (method "lerp" or "slerp")."""
    if n_frames < 2:
        raise ValueError(f"an interpolation needs at least 2 frames, got {n_frames}")
    t = torch.linspace(0.0, 1.0, n_frames, dtype=torch.float64)
    if method == "lerp":
        path = lerp(z0.double(), z1.double(), t).to(z0.dtype)
    elif method == "slerp":
        path = slerp(z0, z1, t)
    else:
        raise ValueError(f"unknown interpolation method {method!r}; use one of {INTERPOLATIONS}")
    path[0], path[-1] = z0, z1  # exact endpoints: the first and last frames are the two samples themselves
    return path


def path_norms(path: torch.Tensor) -> list[float]:
    """|z| of each row of a path [n, d], as floats for a chart."""
    return [float(value) for value in path.double().norm(dim=-1)]


JACOBIAN_CHUNK = 20  # z dimensions per batched Jacobian-vector product: memory against call overhead


def principal_directions(generator: nn.Module, z: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The k unit directions in z-space along which the image G(z) changes fastest, and how fast.

    Choice: the top-k right-singular vectors of the generator's Jacobian J = dG(z)/dz [784, z_dim] at this
    very sample. A small step eps * v changes the image by about eps * J v, so the v maximising |J v| is the
    first right-singular vector, the next best orthogonal one the second, and so on; the singular values
    say how many pixel-units per unit of z each direction moves. Why this and not PCA of many generated
    images: PCA finds directions in image space (784-d) that would have to be mapped back to z, which the
    generator does not allow, and it describes the whole distribution rather than the sample being
    explored; the Jacobian's directions live in z-space, are orthonormal by construction (so sliders do
    not fight each other) and are local to the chosen sample. Computed with batched forward passes of copies
    of z and two backward passes each (torch.autograd.functional.jvp's double-vjp trick), not torch.func:
    forward-mode AD imports torch._dynamo, whose memory a shared server would then hold for good
    (benchmarks/load.py measures it).

    The generator must be in eval mode (batch norm uses its running statistics, so G is a function of one
    z). Returns directions [k, z_dim] (rows orthonormal, float32) and singular values [k]. The SVD runs in
    float64 and each direction's sign is fixed (largest-magnitude entry positive), so the result is the
    same on every run.
    """
    if generator.training:
        raise ValueError("principal_directions needs the generator in eval mode (batch norm running stats)")
    z_dim = z.numel()
    k = max(1, min(k, z_dim))

    def images(copies: torch.Tensor) -> torch.Tensor:  # [chunk, z_dim] -> [chunk, 784]
        return generator(copies).flatten(1)

    columns = []  # J e_i for each z dimension i, JACOBIAN_CHUNK at a time (bounded activation memory)
    with torch.inference_mode(False), torch.enable_grad():
        for tangents in torch.eye(z_dim).split(JACOBIAN_CHUNK):  # [chunk, z_dim]
            # Each row of `copies` is z; in eval mode row i of the images depends on row i of `copies` alone,
            # so one Jacobian-vector product with the rows e_i gives the columns J e_i. autograd's jvp is the
            # double-backward trick, not forward mode: nothing imports torch._dynamo.
            copies = z.detach().float().reshape(1, z_dim).repeat(len(tangents), 1)
            columns.append(torch.autograd.functional.jvp(images, copies, tangents)[1])  # [chunk, 784]
    jacobian = torch.cat(columns).T  # [784, z_dim]
    _, singular, vh = torch.linalg.svd(jacobian.double(), full_matrices=False)  # vh [z_dim, z_dim]
    directions = vh[:k]
    # Fix the sign ambiguity of singular vectors so the "+" end of a slider means the same every time.
    pivots = directions.abs().argmax(dim=1)
    signs = torch.sign(directions[torch.arange(k), pivots])
    directions = directions * signs.unsqueeze(1)
    return directions.float(), singular[:k].float()


def apply_edits(
    z: torch.Tensor,
    directions: torch.Tensor | None = None,
    amounts: Sequence[float] = (),
    overrides: Mapping[int, float] | None = None,
) -> torch.Tensor:
    """The explorer's z: z + sum_k amounts[k] * directions[k], then raw dimensions set to given values.

    z [z_dim]; directions [K, z_dim] (K >= len(amounts)); overrides {dimension: value}. Overrides come last
    so a raw dimension the user pinned keeps the value its slider shows. Returns a new tensor.
    """
    edited = z.detach().clone()
    if directions is not None and len(amounts):
        if len(amounts) > directions.shape[0]:
            raise ValueError(f"{len(amounts)} amounts for {directions.shape[0]} directions")
        weights = torch.tensor([float(a) for a in amounts], dtype=directions.dtype)
        edited = edited + (weights.unsqueeze(1) * directions[: len(amounts)]).sum(0).to(edited.dtype)
    for dimension, value in (overrides or {}).items():
        if not 0 <= int(dimension) < edited.numel():
            raise ValueError(f"z dimension {dimension} outside 0..{edited.numel() - 1}")
        edited[int(dimension)] = float(value)
    return edited


def randomised_value(seed: int, index: int, dimension: int, draw: int, decimals: int = 2) -> float:
    """A fresh N(0, 1) value for one z dimension, from an explicit seed: "randomise this dimension".

    The stream is seeded by (seed, index, dimension, draw), so the n-th click on the same sample and
    dimension always gives the same number; it is rounded to `decimals` so a slider can show it exactly
    and a link carries it as a short string.
    """
    mixed = hash_seed(seed, index, dimension, draw)
    value = torch.randn(1, generator=torch.Generator().manual_seed(mixed), dtype=torch.float64).item()
    return round(value, decimals)


def hash_seed(*parts: int) -> int:
    """Mix a few integers into one 63-bit seed (splitmix64 steps; stable across Python runs, unlike hash())."""
    state = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    for part in parts:
        state = (state ^ (int(part) & mask)) & mask
        state = (state + 0x9E3779B97F4A7C15) & mask
        state = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        state = ((state ^ (state >> 27)) * 0x94D049BB133111EB) & mask
        state ^= state >> 31
    return state & ((1 << 63) - 1)


def frozen_generator(generator: nn.Module) -> nn.Module:
    """The generator in eval mode with its parameters frozen, as pages share it: read-only, fp32, default layout.

    Kept in plain float32 and the default memory layout on purpose, so the page draws the same pixels as
    `python -m wgan sample` and a shared link the same pixels everywhere: channels_last and bf16 autocast
    are faster but round differently (bf16 differently on CPUs with and without bf16 units), so a link
    would not reproduce. benchmarks/sampling_speed.py times the variants.
    """
    generator = generator.eval()
    generator.requires_grad_(False)
    return generator
