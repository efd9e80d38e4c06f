"""From seeds to noise to images: reproducible z, sample grids and PNG bytes."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from wgan.models import Generator
from wgan.modes import eval_mode


def noise_from_seed(seed: int, n: int, z_dim: int) -> torch.Tensor:
    """z [n, z_dim] ~ N(0, I) from a CPU torch.Generator: the same numbers on every machine and device."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(
    generator: Generator,
    z: torch.Tensor,
    batch_size: int | None = None,
    precision: str = "fp32",
    device: torch.device | str | None = "cpu",
) -> torch.Tensor:
    """Images [n, 1, 28, 28] in [-1, 1], float32, from z [n, z_dim] (any device): the one way to sample.

    The generator runs in eval mode (batch norm on its running statistics; its own mode is restored after)
    and without autograd, on its own device, `batch_size` noise vectors at a time (all at once by default)
    so memory stays bounded for large n. precision="bf16" runs it under bf16 autocast, as a bf16 training
    run's steps do. The images land on `device` (the CPU by default; None leaves them where they were made).
    """
    own = next(generator.parameters()).device
    chunks = z.split(batch_size) if batch_size else (z,)
    images = []
    with eval_mode(generator), torch.autocast(own.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        for chunk in chunks:
            out = generator(chunk.to(own)).float()
            images.append(out if device is None else out.to(device))
    return torch.cat(images)


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
    """A uint8 picture, grayscale [H, W] or RGB [H, W, 3], as PNG bytes, optionally enlarged by pixel repetition."""
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


def gif_bytes(frames: torch.Tensor | np.ndarray, duration_ms: int = 120, scale: int = 1, bounce: bool = True) -> bytes:
    """An animated, looping GIF of frames ([n, 1, H, W] in [-1, 1], or uint8 [n, H, W]) as bytes.

    bounce=True plays the frames forward then back (a seamless loop for an interpolation); grayscale
    frames are stored in GIF's 256-entry palette exactly, so the GIF holds the same pixels as the PNGs.
    """
    from PIL import Image

    tiles = to_uint8(frames) if isinstance(frames, torch.Tensor) else np.asarray(frames, dtype=np.uint8)
    if scale > 1:
        tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    order = list(range(len(tiles)))
    if bounce and len(tiles) > 2:
        order += order[-2:0:-1]
    images = [Image.fromarray(tiles[i], mode="L") for i in order]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return buffer.getvalue()


def highlight_tile(picture: np.ndarray, index: int, columns: int, tile: int = 28, padding: int = 2) -> np.ndarray:
    """A copy of a `grid` picture with a white frame in the padding around tile `index` (row-major)."""
    marked = picture.copy()
    row, column = divmod(index, columns)
    top, left = row * (tile + padding), column * (tile + padding)  # outer corner of the tile's border
    size = tile + 2 * padding
    marked[top : top + padding, left : left + size] = 255
    marked[top + size - padding : top + size, left : left + size] = 255
    marked[top : top + size, left : left + padding] = 255
    marked[top : top + size, left + size - padding : left + size] = 255
    return marked


def lit_share(images: torch.Tensor, pixels: torch.Tensor | np.ndarray) -> float:
    """Share of the chosen pixels brighter than mid-grey, over images [N, 1, H, W] in [-1, 1]; pixels: bool [H, W].

    E.g. how often a generator draws where its critic cannot see (`~wgan.models.visible_pixels(critic)`):
    real digits almost never have ink on their border, so a generator that does is exploiting the blind spot.
    """
    where = torch.as_tensor(pixels, dtype=torch.bool)
    if images.shape[-2:] != where.shape:
        raise ValueError(f"images {tuple(images.shape[-2:])} and pixels {tuple(where.shape)} differ in shape")
    chosen = images[:, 0][:, where]  # [N, number of chosen pixels]
    return float((chosen > 0).float().mean()) if chosen.numel() else 0.0


def paint(
    picture: np.ndarray, mask: np.ndarray | torch.Tensor, colour: tuple[int, int, int] = (230, 30, 30)
) -> np.ndarray:
    """An RGB copy [H, W, 3] of a grayscale uint8 picture [H, W], the pixels where `mask` [H, W] is True in `colour`.

    E.g. a digit with the pixels a critic cannot see (`~wgan.models.visible_pixels(critic)`) painted red.
    """
    gray = np.asarray(picture, dtype=np.uint8)
    where = np.asarray(mask, dtype=bool)
    if gray.shape != where.shape:
        raise ValueError(f"picture {gray.shape} and mask {where.shape} differ in shape")
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    rgb[where] = colour
    return rgb
