"""Which of the seed architecture's repairs matter: FID-MNIST at a fixed budget, one repair at a time.

    python -m benchmarks.ablation --data-root ../shared/data [--iterations 1500] [--objectives wgan,wgan-gp]
                                  [--samples 5000] [--jobs 2] [--out ablation.json]

For each objective (the preset its shipped checkpoint was trained with: `SHIPPED_PRESETS`, with this
machine's training defaults), trains from the same seed for the same number of generator iterations, on
MNIST's test split:

- `seed`: the blog post's models as they are;
- `+padding`: the critic's stride-2 convolutions padded, so it sees the last row and column;
- `+no dropout`: the critic without dropout (f(x) no longer random);
- `+bn before relu`: the generator normalises before its ReLU, not after;
- `all three`: every repair on the seed's layers;
- `repaired`: the `repaired` architecture (all three, plus a critic that starts at full resolution and a
  generator that upsamples with convolutions), its score a linear read-out of the features;
- `repaired + hidden`: the same with a 256-wide hidden layer before the critic's score (`critic_hidden`,
  what the shipped clipping recipe uses).

then measures FID-MNIST, classes covered and top-class share on `--samples` samples (noise seed 0)
against the training images. Runs `--jobs` trainings at once, one thread each. Prints a Markdown table
(for checkpoints/README.md) and writes every figure to `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from wgan.paths import SHIPPED_CLASSIFIER

SHIPPED_PRESETS = {"wgan": "clip", "wgan-gp": "gp", "gan": "gan"}
VARIANTS = {
    # name: (arch registered below, config changes)
    "seed": ("seed", {}),
    "+padding": ("seed-padded", {}),
    "+no dropout": ("seed", {"critic_dropout": 0.0}),
    "+bn before relu": ("seed-bn-first", {}),
    "all three": ("seed-all-repairs", {"critic_dropout": 0.0}),
    "repaired": ("repaired", {}),
    "repaired + hidden": ("repaired", {"critic_hidden": 256}),
}


def register_variants() -> None:
    """The ablation's single-repair architectures, known to this process only (never shipped)."""
    from wgan import models

    models.ARCHITECTURES["seed-padded"] = (models.SeedGenerator, partial(models.SeedCritic, padding=1))
    models.ARCHITECTURES["seed-bn-first"] = (partial(models.SeedGenerator, norm_before_relu=True), models.SeedCritic)
    models.ARCHITECTURES["seed-all-repairs"] = (
        partial(models.SeedGenerator, norm_before_relu=True),
        partial(models.SeedCritic, padding=1),
    )


def run_one(objective: str, variant: str, args: argparse.Namespace) -> dict:
    """Train one variant in this process and measure it (the worker side of --jobs)."""
    import torch

    register_variants()
    from wgan.classifier import load_classifier
    from wgan.config import PRESETS
    from wgan.data import load_images
    from wgan.live import cpu_training_defaults
    from wgan.metrics import evaluate_generator, reference_statistics
    from wgan.train import init_state, train_chunk

    torch.set_num_threads(1)
    arch, changes = VARIANTS[variant]
    base = replace(PRESETS[SHIPPED_PRESETS[objective]], dataset="mnist", split="test")
    if arch != "repaired":
        changes = {"critic_dropout": 0.5, **changes}  # the seed's own dropout unless the variant removes it
    changes = {"critic_hidden": 0, **changes}  # whatever the preset ships, only the last variant has the layer
    config = replace(base, **cpu_training_defaults(base, torch.device("cpu")), arch=arch, **changes)
    data = load_images(config.dataset, args.data_root, config.split)
    state = init_state(config, data, "cpu")
    torch.set_num_threads(1)
    started = time.perf_counter()
    while state.iteration < args.iterations:
        train_chunk(state, args.iterations - state.iteration)
    seconds = time.perf_counter() - started
    classifier = load_classifier(args.classifier).model
    reference = reference_statistics(classifier, state.data.images)
    report = evaluate_generator(state.sampler, classifier, reference, n=args.samples, seed=0)
    return {
        "objective": objective,
        "variant": variant,
        "config": config.to_dict(),
        "iterations": state.iteration,
        "train_seconds": round(seconds, 1),
        "fid_mnist": round(report.fid_mnist, 2),
        "classes_covered": report.classes_covered,
        "top_class_share": round(report.top_class_share, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--objectives", default="wgan,wgan-gp", help="objectives to ablate: wgan, wgan-gp, gan")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--classifier", default=str(SHIPPED_CLASSIFIER))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="ablation.json")
    parser.add_argument("--worker", nargs=2, metavar=("OBJECTIVE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_one(*args.worker, args)))
        return 0

    jobs = [(o, v) for o in args.objectives.split(",") for v in args.variants.split(",")]
    unknown = [v for _, v in jobs if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--data-root", args.data_root, "--iterations", str(args.iterations), "--samples", str(args.samples),
              "--classifier", args.classifier]  # fmt: skip
    results, running = [], []
    queue = list(jobs)
    while queue or running:
        while queue and len(running) < max(1, args.jobs):
            objective, variant = queue.pop(0)
            command = [sys.executable, "-m", "benchmarks.ablation", *common, "--worker", objective, variant]
            running.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
        process = running.pop(0)
        out, _ = process.communicate()
        if process.returncode != 0:
            print(f"error: a worker failed (exit {process.returncode})", file=sys.stderr)
            return 2
        results.append(json.loads(out.strip().splitlines()[-1]))
        row = results[-1]
        print(f"{row['objective']:8s} {row['variant']:16s} FID-MNIST {row['fid_mnist']:8.2f} "
              f"classes {row['classes_covered']:2d} top {row['top_class_share']:.3f} ({row['train_seconds']:.0f} s)",
              flush=True)  # fmt: skip
    Path(args.out).write_text(json.dumps({"iterations": args.iterations, "samples": args.samples, "rows": results},
                                         indent=1))  # fmt: skip
    print(f"\n| objective | variant | FID-MNIST ({args.samples:,} samples, {args.iterations:,} iterations) "
          "| classes covered | top-class share | training time |")
    print("|---|---|---|---|---|---|")
    for row in sorted(results, key=lambda r: (jobs.index((r["objective"], r["variant"])))):
        print(f"| {row['objective']} | {row['variant']} | {row['fid_mnist']:.1f} | {row['classes_covered']} | "
              f"{row['top_class_share']:.3f} | {row['train_seconds'] / 60:.1f} min |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
