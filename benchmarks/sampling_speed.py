"""Time what the Sampling page does, on this CPU: a 64-sample grid, a 16-frame interpolation, the principal
directions of one sample, and a slider change redrawn end to end (an AppTest run of pages/3_Sampling.py).

    OMP_NUM_THREADS=1 python -m benchmarks.sampling_speed [--repeats 20] [--checkpoint checkpoints/wgan-gp.pt]

Targets: grid < 50 ms of model time, 16 frames < 100 ms, slider change < 0.5 s. Uses the first
shipped checkpoint if there is one, else a randomly initialised generator of the same architecture (the same
arithmetic, so the same time). Prints one line per figure, medians over the repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from wgan.checkpoint import FORMAT, FORMAT_VERSION, find_checkpoints, load_checkpoint, load_generator, write_payload
from wgan.config import preset
from wgan.device import configure_cpu_threads
from wgan.latent import frozen_generator, interpolate, principal_directions, sample_z
from wgan.models import SeedGenerator
from wgan.sampling import generate, noise_from_seed

PAGE = Path(__file__).resolve().parents[1] / "pages" / "3_Sampling.py"


def median_ms(function: Callable[[], object], repeats: int, warmup: int = 2) -> str:
    """'wall W ms, cpu C ms': medians of wall-clock and of this process's CPU time (all threads).

    On a shared, busy machine the wall time includes waiting for a core; with one thread the CPU time is
    what the same work takes on an idle core, so both are printed.
    """
    for _ in range(warmup):
        function()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return f"wall {statistics.median(walls) * 1000:7.1f} ms, cpu {statistics.median(cpus) * 1000:7.1f} ms"


def random_checkpoint(folder: Path) -> Path:
    """A generator-only checkpoint with random weights (when nothing is shipped yet)."""
    torch.manual_seed(0)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": preset("gp").to_dict(),
        "generator": SeedGenerator(100).state_dict(),
        "iteration": 0,
        "card": {"note": "random weights, for timing only"},
    }
    return write_payload(payload, folder / "random.pt")


def time_page(folder: Path, repeats: int) -> dict[str, float]:
    """Seconds per AppTest run: first render, a direction-slider change, a raw-dimension change, a new seed."""
    from streamlit.testing.v1 import AppTest

    os.environ["WGAN_CHECKPOINT_DIR"] = str(folder)
    at = AppTest.from_file(str(PAGE), default_timeout=300)
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception[0].value)

    def change(key: str, values: list[float]) -> float:
        times = []
        for value in values:
            widget = at.slider(key=key) if key != "sample.seed" else at.number_input(key=key)
            start = time.perf_counter()
            widget.set_value(value).run()
            times.append(time.perf_counter() - start)
            if at.exception:
                raise RuntimeError(at.exception[0].value)
        return statistics.median(times[1:])  # the first change warms plotly and the caches' code paths

    steps = [round(-2.0 + 0.1 * i, 1) for i in range(repeats + 1)]
    return {
        "first render": first,
        "direction slider": change("sample.dir0", steps),
        "raw z slider": change("sample.raw_value", [round(v / 2, 2) for v in steps]),
        "new seed (grid + directions)": change("sample.seed", [float(i + 1) for i in range(min(6, repeats) + 1)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--checkpoint", default=None, help="default: the first shipped one, else random weights")
    parser.add_argument("--skip-page", action="store_true", help="only the model timings")
    args = parser.parse_args()
    threads = configure_cpu_threads()

    with tempfile.TemporaryDirectory() as temporary:
        shipped = [path for path in find_checkpoints() if path.parent == Path("checkpoints")]
        path = Path(args.checkpoint) if args.checkpoint else (shipped[0] if shipped else None)
        if path is None:
            path = random_checkpoint(Path(temporary))
        page_generator = frozen_generator(load_generator(load_checkpoint(path)))
        channels_last = frozen_generator(load_generator(load_checkpoint(path))).to(memory_format=torch.channels_last)
        print(f"checkpoint: {path}; torch {torch.__version__}, {threads} thread(s)")

        z = noise_from_seed(0, 64, 100)

        def frames() -> None:
            generate(page_generator, interpolate(sample_z(0, 0, 100), sample_z(1, 0, 100), 16, "slerp"))

        rows = [
            ("grid of 64, fp32 (the page and the CLI)", lambda: generate(page_generator, z), "target < 50 ms"),
            ("grid of 64, fp32 channels_last (not used)", lambda: generate(channels_last, z), ""),
            ("grid of 64, bf16 autocast (not used)", lambda: generate(page_generator, z, precision="bf16"), ""),
            ("16-frame slerp interpolation", frames, "target < 100 ms"),
            (
                "principal directions, one sample",
                lambda: principal_directions(page_generator, z[0], 5),
                "cached per sample",
            ),
        ]
        for name, function, note in rows:
            print(f"{name + ':':44s} {median_ms(function, args.repeats)}   {note}")

        if not args.skip_page:
            folder = path.parent if path.parent.name != "runs" else path.parent.parent
            for name, seconds in time_page(folder, args.repeats).items():
                target = "   (target < 0.5 s)" if name == "direction slider" else ""
                print(f"page, AppTest run, {name + ':':29s} wall {seconds:7.3f} s{target}")


if __name__ == "__main__":
    main()
