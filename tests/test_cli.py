import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from wgan.checkpoint import load_checkpoint
from wgan.classifier import MnistClassifier, save_classifier
from wgan.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "batch_size=8", "--set", "holdout_size=32"]


def test_train_resume_and_sample_end_to_end(mnist_root, tmp_path, capsys):
    out = tmp_path / "run.pt"
    common = ["--data-root", str(mnist_root), "--device", "cpu", "--out", str(out)]
    assert main(["train", "--preset", "seed", "--split", "test", "--steps", "3", *TINY, *common]) == 0
    checkpoint = load_checkpoint(out)
    assert checkpoint.iteration == 3 and checkpoint.config.split == "test" and checkpoint.config.batch_size == 8
    assert checkpoint.card["command"].startswith("python -m wgan train --preset seed --split test --steps 3")

    # --steps counts from where the run stands.
    assert main(["train", "--resume", "--steps", "2", *common]) == 0
    assert load_checkpoint(out).iteration == 5
    commands = load_checkpoint(out).card["commands"]
    assert len(commands) == 2 and commands[1].startswith("python -m wgan train --resume --steps 2")
    assert len(load_checkpoint(out).payload["history"]["w_estimate"]) == 5

    grid = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(out), "--seed", "0", "--n", "16", "--out", str(grid)]) == 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again.png"
    main(["sample", "--checkpoint", str(out), "--seed", "0", "--n", "16", "--out", str(again)])
    assert again.read_bytes() == grid.read_bytes()  # the same seed gives the same picture


def test_train_by_epochs_and_refuses_to_clobber(mnist_root, tmp_path, capsys):
    out = tmp_path / "epochs.pt"
    common = ["--data-root", str(mnist_root), "--device", "cpu", "--out", str(out), *TINY]
    # 300 test images - 32 held out = 268; batch 8 -> 33.5 iterations per epoch; 0.1 epoch -> 4 iterations.
    assert main(["train", "--split", "test", "--epochs", "0.1", *common]) == 0
    assert load_checkpoint(out).iteration == 4
    before = out.read_bytes()
    assert main(["train", "--split", "test", "--steps", "1", *common]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before


def test_bad_inputs_are_one_line_errors(mnist_root, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00" * 100)
    assert main(["train", "--resume", "--out", str(corrupt), "--data-root", str(mnist_root)]) == 2
    assert corrupt.read_bytes() == b"\x00" * 100  # never overwritten
    assert main(["train", "--set", "n_critic=zero", "--out", str(tmp_path / "x.pt")]) == 2
    assert main(["sample", "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) >= 3 and "corrupt" in errors[0] and "n_critic" in errors[1] and "no such" in errors[2]


def test_print_config_and_module_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "wgan", "train", "--preset", "gp", "--print-config", "--set", "gp_weight=5"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    assert '"gp_weight": 5.0' in completed.stdout and '"lipschitz": "gp"' in completed.stdout


def test_a_penalty_of_weight_zero_is_refused_in_one_line(capsys):
    # Before the lipschitz setting this printed a config that trained with neither clipping nor a penalty.
    assert main(["train", "--preset", "gp", "--print-config", "--set", "gp_weight=0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("error: lipschitz='gp' needs gp_weight > 0")


def test_fid_every_records_quality_points_in_the_checkpoint_and_carries_on_after_resume(mnist_root, tmp_path):
    torch.manual_seed(0)
    classifier = save_classifier(MnistClassifier().eval(), tmp_path / "classifier.pt")
    out = tmp_path / "run.pt"
    common = ["--data-root", str(mnist_root), "--device", "cpu", "--out", str(out), "--fid-every", "2",
              "--fid-samples", "16", "--classifier", str(classifier)]  # fmt: skip
    assert main(["train", "--split", "test", "--steps", "3", *TINY, *common]) == 0
    quality = load_checkpoint(out).payload["quality"]
    assert quality["iteration"] == [0.0, 2.0, 3.0]  # every 2 iterations, and the end of the run
    assert quality["wall_seconds"][0] == 0.0 and quality["wall_seconds"] == sorted(quality["wall_seconds"])
    assert all(len(values) == 3 for values in quality.values()) and len(quality["histogram"][0]) == 10
    assert main(["train", "--resume", "--steps", "2", *common]) == 0
    assert load_checkpoint(out).payload["quality"]["iteration"] == [0.0, 2.0, 3.0, 5.0]


def test_export_writes_a_small_generator_with_its_card(mnist_root, tmp_path):
    run = tmp_path / "run.pt"
    argv = ["train", "--split", "test", "--steps", "2", "--data-root", str(mnist_root), "--out", str(run), *TINY]
    assert main(argv) == 0
    shipped = tmp_path / "shipped.pt"
    assert main(["export", "--checkpoint", str(run), "--out", str(shipped), "--half"]) == 0
    checkpoint = load_checkpoint(shipped)
    assert not checkpoint.full and shipped.stat().st_size < run.stat().st_size / 2
    card = checkpoint.card
    assert (card["preset"], card["split"], card["iterations"], card["z_dim"]) == ("seed", "test", 2, 100)
    assert (card["objective"], card["lipschitz"]) == ("wgan", "clip")
    assert card["command"].startswith("python -m wgan train --split test --steps 2")
    assert oct(shipped.stat().st_mode & 0o777) == "0o644"


def test_sigterm_saves_the_run_before_exiting(mnist_root, tmp_path):
    out = tmp_path / "killed.pt"
    command = [sys.executable, "-m", "wgan", "train", "--split", "test", "--steps", "100000", "--data-root",
               str(mnist_root), "--device", "cpu", "--out", str(out), *TINY]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in iter(process.stdout.readline, ""):  # wait until training has started
        if "iterations to go" in line:
            break
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130
    assert load_checkpoint(out).iteration > 0


def test_force_starts_afresh_and_resume_refuses_set_and_generator_only_files(mnist_root, tmp_path, capsys):
    out = tmp_path / "run.pt"
    common = ["--data-root", str(mnist_root), "--split", "test", "--device", "cpu", "--out", str(out), *TINY]
    assert main(["train", "--steps", "3", *common]) == 0
    assert main(["train", "--steps", "1", "--force", *common]) == 0
    assert load_checkpoint(out).iteration == 1  # a new run of one iteration replaced the three
    before = out.read_bytes()
    assert main(["train", "--resume", "--steps", "1", "--set", "lr_critic=1e-4", *common]) == 2
    assert "--set and --seed do not apply" in capsys.readouterr().err and out.read_bytes() == before
    exported = tmp_path / "generator.pt"
    assert main(["export", "--checkpoint", str(out), "--out", str(exported)]) == 0
    resume_export = ["train", "--resume", "--steps", "1", "--data-root", str(mnist_root), "--out", str(exported)]
    assert main(resume_export) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "holds only a generator" in err
