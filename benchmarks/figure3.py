"""The WGAN paper's Figures 3 and 4, measured: does the loss curve track sample quality?

    python -m benchmarks.figure3 [--iterations 1000] [--eval-every 50] [--n-samples 1000] [--out PATH]

Trains a WGAN (paper preset: RMSprop 5e-5, batch 64, five critic steps, clipping 0.01, the official code's
critic warm-up of 100 critic steps for the first 25 and every 500th generator iteration) and the GAN baseline
(gan preset) from the same seed on the same data (default: the 5,000 offline MNIST digits), both with bf16
autocast on the CPU, and every `--eval-every` generator iterations measures FID-MNIST on `--n-samples`
samples from fixed noise (wgan.metrics.QualityTracker). It then reports the Spearman rank correlation of
each run's loss curve with FID-MNIST over those points (iteration 0 left out: no curve yet):

- WGAN: the W estimate, median-filtered over the `--window` generator iterations before each point (the
  paper median-filters with a window of 101). The paper's claim is a strong positive correlation.
- GAN: the JS estimate log 2 - L_D / 2 (same filter). The paper's claim is that it does not track quality.

Everything is written to a JSON file (default checkpoints/figure3.json, format in wgan.figure3) that the
app draws; the printed correlations are whatever this run measured, and the file records the wall time.
`--set` applies config overrides to both runs, `--wgan-set` / `--gan-set` to one (replacing the defaults
below).

The WGAN run's critic warm-up dominates its cost. Shortening it (e.g. `--iterations 300 --eval-every 25
--window 25 --wgan-set warmup_iterations=10 --wgan-set warmup_n_critic=25`) makes a run too short to show
anything: the W estimate still rises while the shortened warm-up trains the critic.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from scipy.stats import spearmanr

from wgan.classifier import load_classifier
from wgan.config import DATASETS, apply_overrides, preset
from wgan.data import load_images
from wgan.device import configure_cpu_threads, describe_device, pick_device
from wgan.figure3 import DEFAULT_PATH, write_figure3
from wgan.metrics import QualityTracker, reference_statistics
from wgan.paths import SHIPPED_CLASSIFIER
from wgan.smoothing import trailing_median
from wgan.train import TrainState, init_state, train_chunk

DEFAULT_WGAN_SET = ("precision=bf16",)
DEFAULT_GAN_SET = ("precision=bf16",)


def spearman(x: list[float], y: list[float]) -> dict[str, float]:
    """Spearman's rho and its p-value over the pairs where both are finite (nan with fewer than 3 pairs)."""
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if math.isfinite(a) and math.isfinite(b)]
    if len(pairs) < 3:
        return {"rho": float("nan"), "p": float("nan"), "points": len(pairs)}
    result = spearmanr([a for a, _ in pairs], [b for _, b in pairs])
    return {"rho": float(result.statistic), "p": float(result.pvalue), "points": len(pairs)}


def run_one(
    state: TrainState, tracker: QualityTracker, iterations: int, curve: str, window: int, label: str
) -> dict[str, Any]:
    """Train `iterations` generator iterations, evaluating every tracker.every; return the run's record."""
    started = time.perf_counter()
    tracker.update(state)  # iteration 0: the untrained generator
    while state.iteration < iterations:
        train_chunk(state, min(tracker.every - state.iteration % tracker.every, iterations - state.iteration))
        point = tracker.maybe_update(state)
        if point is not None:
            print(
                f"{label} iteration {point.iteration:5d}: W estimate {point.w_estimate:+.4f}"
                + (f", JS estimate {point.js_estimate:.4f}" if curve == "js_estimate" else "")
                + f", FID-MNIST {point.report.fid_mnist:9.3f}, classes {point.report.classes_covered:2d}, "
                f"top share {point.report.top_class_share:.3f} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    history = state.history.columns
    smoothed_at = state.quality["iteration"]
    smoothed = [
        trailing_median(history.get(curve, []), int(it), window) if it > 0 else float("nan") for it in smoothed_at
    ]
    # The single iteration just before each point, unfiltered (for comparison with the filtered curve).
    raw = [trailing_median(history.get(curve, []), int(it), 1) if it > 0 else float("nan") for it in smoothed_at]
    points = {name: list(values) for name, values in state.quality.items()}  # "histogram" included
    points[f"{curve}_median"] = smoothed
    points[f"{curve}_last"] = raw
    return {
        "config": state.config.to_dict(),
        "curve": curve,
        "history": {name: history[name] for name in ("iteration", "w_estimate", "js_estimate") if name in history},
        "points": points,
        "spearman": spearman(smoothed, points["fid_mnist"]),
        "spearman_raw": spearman(raw, points["fid_mnist"]),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.figure3", description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000, help="generator iterations for each run")
    parser.add_argument("--eval-every", type=int, default=50, help="generator iterations between FID-MNIST points")
    parser.add_argument("--n-samples", type=int, default=1000, help="generated samples per FID-MNIST point")
    parser.add_argument("--window", type=int, default=101, help="median filter over this many iterations")
    parser.add_argument("--seed", type=int, default=0, help="the same seed for both runs (and the FID noise)")
    parser.add_argument("--dataset", choices=DATASETS, default="digits-offline")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--classifier", default=str(SHIPPED_CLASSIFIER))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--wgan-preset", default="paper")
    parser.add_argument("--gan-preset", default="gan")
    parser.add_argument("--set", dest="both_set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--wgan-set", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--gan-set", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--out", default=DEFAULT_PATH)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.iterations < args.eval_every or args.eval_every < 1 or args.n_samples < 2:
        print("error: need --iterations >= --eval-every >= 1 and --n-samples >= 2", file=sys.stderr)
        return 2
    device = pick_device(args.device)
    threads = configure_cpu_threads() if device.type == "cpu" else None
    data = load_images(args.dataset, args.data_root, args.split)
    classifier = load_classifier(args.classifier).model.to(device)
    # FID-MNIST against the whole set the generators learn from (training images and held-out ones).
    reference = reference_statistics(classifier, data.images)
    wgan_set = DEFAULT_WGAN_SET if args.wgan_set is None else tuple(args.wgan_set)
    gan_set = DEFAULT_GAN_SET if args.gan_set is None else tuple(args.gan_set)
    configs = {
        name: apply_overrides(
            preset(name_preset, seed=args.seed, dataset=args.dataset, split=args.split), [*args.both_set, *overrides]
        )
        for name, name_preset, overrides in (("wgan", args.wgan_preset, wgan_set), ("gan", args.gan_preset, gan_set))
    }
    if configs["gan"].objective != "gan" or configs["wgan"].objective == "gan":
        print("error: --wgan-preset must be a WGAN objective and --gan-preset the GAN one", file=sys.stderr)
        return 2
    print(
        f"Figure 3 on {describe_device(device)}: {args.iterations} generator iterations each, FID-MNIST on "
        f"{args.n_samples} samples every {args.eval_every}; data {data.source} ({len(data)} images)",
        flush=True,
    )
    started = time.perf_counter()
    runs = {}
    for name, curve in (("wgan", "w_estimate"), ("gan", "js_estimate")):
        config = configs[name]
        state = init_state(config, data, device)
        tracker = QualityTracker(classifier, reference, args.n_samples, args.seed, args.eval_every)
        runs[name] = run_one(state, tracker, args.iterations, curve, args.window, name.upper())
    results = {
        "command": "python -m benchmarks.figure3 " + " ".join(argv),
        "device": describe_device(device),
        "threads": threads,
        "torch": torch.__version__,
        "iterations": args.iterations,
        "eval_every": args.eval_every,
        "n_samples": args.n_samples,
        "window": args.window,
        "seed": args.seed,
        "data": f"{data.source} ({len(data)} images)",
        "reference": f"all {len(data)} images of {args.dataset} ({args.split}); FID-MNIST, not comparable with "
        "published Inception FIDs",
        "classifier": args.classifier,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "runs": runs,
        "spearman": {
            "wgan_w_estimate_vs_fid": runs["wgan"]["spearman"]["rho"],
            "gan_js_estimate_vs_fid": runs["gan"]["spearman"]["rho"],
        },
    }
    out = write_figure3(results, Path(args.out))
    w, js = runs["wgan"]["spearman"], runs["gan"]["spearman"]
    print(f"wrote {out} ({results['wall_seconds']:.0f} s)")
    print(f"Spearman(W estimate, FID-MNIST), WGAN: rho={w['rho']:+.3f} (p={w['p']:.2g}, {w['points']} points)")
    print(f"Spearman(JS estimate, FID-MNIST), GAN: rho={js['rho']:+.3f} (p={js['p']:.2g}, {js['points']} points)")
    print(f"spearman_wgan_w={w['rho']:.4f} spearman_gan_js={js['rho']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
