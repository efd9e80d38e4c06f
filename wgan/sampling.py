"""From seeds to noise to images: reproducible z, sample grids and PNG bytes."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from wgan.models import Generator


def noise_from_seed(seed: int, n: int, z_dim: int) -> torch.Tensor:
    """z [n, z_dim] ~ N(0, I) from a CPU torch.Generator: the same numbers on every machine and device."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def generate(generator: Generator, z: torch.Tensor) -> torch.Tensor:
    """Images [n, 1, 28, 28] in [-1, 1] from z [n, z_dim]; the generator must be in eval mode."""
    device = next(generator.parameters()).device
    return generator(z.to(device)).float().cpu()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[n, 1, H, W] in [-1, 1] -> uint8 [n, H, W] in [0, 255]."""
    scaled = (images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).squeeze(1).numpy()


def grid(images: torch.Tensor | np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile images into one uint8 [rows*(H+p)+p, cols*(W+p)+p] picture with a dark border between them."""
    tiles = to_uint8(images) if isinstance(images, torch.Tensor) else np.asarray(images, dtype=np.uint8)
    n, height, width = tiles.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * (height + padding) + padding, columns * (width + padding) + padding), np.uint8)
    for index in range(n):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        canvas[top : top + height, left : left + width] = tiles[index]
    return canvas


def png_bytes(picture: np.ndarray, scale: int = 1) -> bytes:
    """A grayscale uint8 picture as PNG bytes, optionally enlarged by pixel repetition."""
    from PIL import Image

    if scale > 1:
        picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(picture: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(picture, scale))
    return path
