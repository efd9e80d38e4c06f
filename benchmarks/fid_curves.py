"""FID-MNIST against generator iterations for every shipped generator, drawn from the files themselves.

    python -m benchmarks.fid_curves [--out checkpoints/img/fid-curves.png]

Each shipped checkpoint keeps the FID-MNIST points its training run measured (`python -m wgan train
--fid-every 500 --fid-samples 2000`, in the file's `quality`), so the curves in checkpoints/README.md are
redrawn from the weights' own record, not typed in. Prints one Markdown table row per file (the points)
and writes one PNG: log-scale FID-MNIST against iterations, the bar (50) dashed. Pillow only, no plotting
library needed.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from wgan.checkpoint import CheckpointError, load_checkpoint
from wgan.metrics import FID_BAR as BAR  # FID-MNIST the shipped generators must reach
from wgan.paths import SHIPPED_DIR

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]
SIZE, MARGIN = (900, 520), (70, 30, 30, 60)  # left, top, right, bottom


def curves(folder: Path) -> dict[str, tuple[list[float], list[float]]]:
    """{file stem: (iterations, FID-MNIST)} for each checkpoint in `folder` (not its runs/) that recorded any."""
    found = {}
    for path in sorted(folder.glob("*.pt")):
        try:
            quality = load_checkpoint(path).payload.get("quality", {})
        except CheckpointError:
            continue
        if quality.get("fid_mnist"):
            found[path.stem] = (list(quality["iteration"]), list(quality["fid_mnist"]))
    return found


def draw(series: dict[str, tuple[list[float], list[float]]], out: Path) -> None:
    image = Image.new("RGB", SIZE, "white")
    pen = ImageDraw.Draw(image)
    left, top, right, bottom = MARGIN[0], MARGIN[1], SIZE[0] - MARGIN[2], SIZE[1] - MARGIN[3]
    x_max = max(max(xs) for xs, _ in series.values())
    y_low, y_high = math.log10(10.0), math.log10(2000.0)

    def at(x: float, y: float) -> tuple[float, float]:
        fraction = (math.log10(min(max(y, 10.0), 2000.0)) - y_low) / (y_high - y_low)
        return left + (right - left) * x / x_max, bottom - (bottom - top) * fraction

    pen.rectangle([left, top, right, bottom], outline="black")
    for tick in (10, 20, 50, 100, 200, 500, 1000, 2000):
        _, y = at(0, tick)
        pen.line([left - 5, y, left, y], fill="black")
        pen.text((8, y - 6), f"{tick:>5}", fill="black")
    step = 5000 if x_max > 15000 else 2000 if x_max > 5000 else 500
    for tick in range(0, int(x_max) + 1, step):
        x, _ = at(tick, 10.0)
        pen.line([x, bottom, x, bottom + 5], fill="black")
        pen.text((x - 15, bottom + 8), f"{tick:,}", fill="black")
    pen.text(((left + right) // 2 - 60, SIZE[1] - 22), "generator iteration", fill="black")
    pen.text((8, 8), "FID-MNIST (2,000 samples, log scale); dashed: the bar, 50", fill="black")
    _, bar_y = at(0, BAR)
    for x in range(left, right, 12):
        pen.line([x, bar_y, min(x + 6, right), bar_y], fill="gray")
    for index, (name, (xs, ys)) in enumerate(sorted(series.items())):
        colour = COLOURS[index % len(COLOURS)]
        pen.line([at(x, y) for x, y in zip(xs, ys, strict=True)], fill=colour, width=2)
        pen.text((right - 230, top + 10 + 16 * index), f"- {name}", fill=colour)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fid_curves", description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(SHIPPED_DIR))
    parser.add_argument("--out", default=str(SHIPPED_DIR / "img" / "fid-curves.png"))
    args = parser.parse_args(argv)
    series = curves(Path(args.folder))
    if not series:
        print(f"error: no checkpoint in {args.folder} recorded FID-MNIST points", file=sys.stderr)
        return 2
    for name, (xs, ys) in sorted(series.items()):
        points = ", ".join(f"{int(x):,}: {y:.0f}" for x, y in zip(xs, ys, strict=True))
        print(f"{name}: {points}")
    draw(series, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
