"""benchmarks.bench's fairness logic against stand-in scripts that record how they were called."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import bench

STAND_IN = """
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
for a in ('--data', '--epochs', '--device', '--max-steps', '--preset', '--profile'):
    p.add_argument(a)
p.add_argument('--set', action='append', default=[])
args = p.parse_args()
rate = {rate!r}
if args.set and any(s == 'precision=fp32' for s in args.set):
    rate = rate / 2
with open({log!r}, 'a') as log:
    log.write(json.dumps({{'who': {who!r}, 'argv': sys.argv[1:], 'threads': os.environ.get('OMP_NUM_THREADS'),
                          'mkl': os.environ.get('MKL_NUM_THREADS'), 'at': time.monotonic()}}) + '\\n')
print('epoch 0: warm-up')
print('iterations_per_s=2.5')
if args.profile:
    print('profile_forward_ms=30.0'); print('profile_backward_ms=60.0'); print('profile_step_ms=100.0')
print(f'images_per_s={{rate}}')
"""


def stand_in(tmp_path: Path, who: str, rates: list[float], log: Path) -> Path:
    """A script that prints the next rate from `rates` each time it runs (round by round)."""
    counter = tmp_path / f"{who}.count"
    script = tmp_path / f"{who}.py"
    body = STAND_IN.format(rate=0.0, log=str(log), who=who).replace(
        "rate = 0.0",
        f"import pathlib\nc = pathlib.Path({str(counter)!r})\nn = int(c.read_text()) if c.exists() else 0\n"
        f"c.write_text(str(n + 1))\nrate = {rates!r}[n % {len(rates)}]",
    )
    script.write_text(body)
    return script


def test_rounds_alternate_with_equal_threads_and_medians(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "our_default_precision", lambda device, overrides: "bf16")
    monkeypatch.setattr(bench, "cpu_has_native_bf16", lambda: True)
    log = tmp_path / "calls.jsonl"
    seed = stand_in(tmp_path, "seed", [100.0, 300.0, 200.0], log)
    # Ours: one rate per call; the fp32 run of each round prints half of its rate.
    ours = stand_in(tmp_path, "ours", [600.0, 600.0, 900.0, 900.0, 500.0, 500.0, 800.0], log)
    argv = ["--baseline", str(seed), "--ours", str(ours), "--data-root", "DATA", "--rounds", "3", "--max-steps", "4",
            "--presets", "gp", "--profile-steps", "2", "--set", "layout=contiguous"]  # fmt: skip
    assert bench.main(argv) == 0
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # seed, ours, ours-fp32, three times, then the preset and the profile: interleaved, never batched.
    assert [c["who"] for c in calls[:9]] == ["seed", "ours", "ours"] * 3
    assert all("precision=fp32" in c["argv"] for c in calls[2:9:3])
    assert all(c["threads"] == calls[0]["threads"] == c["mkl"] for c in calls)
    assert all(c["argv"][:8] == ["--data", "DATA", "--epochs", "2", "--device", "cpu", "--max-steps", "4"]
               for c in calls[:9])  # fmt: skip
    assert all("layout=contiguous" in c["argv"] for c in calls if c["who"] == "ours")
    assert "layout=contiguous" not in calls[0]["argv"]  # --set changes our side only
    assert calls[9]["argv"][calls[9]["argv"].index("--preset") + 1] == "gp"
    out = capsys.readouterr().out.strip().splitlines()
    # Medians: seed of (100, 300, 200), ours of (600, 900, 500), ours fp32 of (300, 450, 250).
    assert out[-1] == f"speedup={600.0 / 200.0:.3f}"
    assert "seed_images_per_s=200.0" in out and "ours_images_per_s=600.0" in out
    assert "ours_fp32_images_per_s=300.0" in out
    assert any("min 100.0, max 300.0" in line for line in out)
    assert any(line.startswith("gp preset: 2.50 generator iterations/s") for line in out)
    assert any("forward 30.0 ms (30%)" in line and "backward 60.0 ms (60%)" in line for line in out)


def test_a_cpu_without_native_bf16_races_in_fp32_only_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "our_default_precision", lambda device, overrides: "fp32")
    monkeypatch.setattr(bench, "cpu_has_native_bf16", lambda: False)
    log = tmp_path / "calls.jsonl"
    seed = stand_in(tmp_path, "seed", [100.0, 300.0, 200.0], log)
    ours = stand_in(tmp_path, "ours", [600.0, 900.0, 500.0, 800.0], log)
    assert bench.main(["--baseline", str(seed), "--ours", str(ours), "--data-root", "DATA"]) == 0  # the defaults
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["who"] for c in calls[:6]] == ["seed", "ours"] * 3  # no bf16 side in any round
    assert not any("precision=bf16" in c["argv"] for c in calls)
    assert all(c["argv"][c["argv"].index("--max-steps") + 1] == str(bench.CPU_STEPS_FP32_ONLY) for c in calls[:6])
    out = capsys.readouterr().out.strip().splitlines()
    assert [line for line in out if "bf16" in line] == [bench.NO_NATIVE_BF16]  # one line, saying why
    assert "ours_images_per_s=600.0" in out and out[-1] == f"speedup={600.0 / 200.0:.3f}"


def test_the_race_plan_follows_the_cpus_bf16():
    native = bench.plan_race("cpu", "bf16", native_bf16=True)
    assert native == bench.Plan(("bf16", "fp32"), bench.CPU_STEPS)
    emulated = bench.plan_race("cpu", "fp32", native_bf16=False)
    assert emulated == bench.Plan(("fp32",), bench.CPU_STEPS_FP32_ONLY, bench.NO_NATIVE_BF16)
    assert bench.plan_race("cpu", "fp32", native_bf16=False, max_steps=7).max_steps == 7
    assert bench.plan_race("cuda", "fp32", native_bf16=False) == bench.Plan(("fp32", "bf16"), 0)  # whole epochs
    # The defaults within five minutes on a 2-core host without native bf16, twice as slow as the one where
    # a seed-preset step at batch 512 in fp32 takes 0.39 s (ours) and 0.58 s (the seed's loop); each
    # process start (torch, MNIST) counted as 10 s. Per round: two epochs of each side; then the profile.
    seed_step, our_step, start = 2 * 0.58, 2 * 0.39, 10.0
    steps, profile_steps = emulated.max_steps, 5
    per_round = 2 * steps * (seed_step + our_step) + 2 * start
    total = bench.DEFAULT_ROUNDS * per_round + (2 * steps + profile_steps) * our_step + start
    assert total < 300  # 232 s at 12 iterations per timed epoch


def test_a_failing_side_is_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import sys\nprint('no rate here')\nsys.exit(3)\n")
    argv = ["--baseline", str(broken), "--ours", str(broken), "--data-root", "DATA", "--rounds", "1"]
    assert bench.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: seed loop failed (exit 3)") and len(error.splitlines()) == 1


def test_missing_script_is_refused(tmp_path, capsys):
    assert bench.main(["--baseline", str(tmp_path / "nope.py"), "--data-root", "DATA"]) == 2
    assert "script not found" in capsys.readouterr().err


def test_our_worker_runs_end_to_end(mnist_root):
    """The real worker on the tests' tiny MNIST: prints the contract's lines."""
    import subprocess

    completed = subprocess.run(
        [sys.executable, str(bench.OURS), "--data", str(mnist_root), "--epochs", "2", "--max-steps", "2",
         "--set", "batch_size=8", "--profile", "1"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].startswith("images_per_s=") and float(lines[-1].partition("=")[2]) > 0
    assert any(line.startswith("profile_backward_ms=") for line in lines)


def test_the_cli_loop_trains_on_command_for_the_page_benchmark(mnist_root, monkeypatch, capsys):
    # benchmarks.page_run alternates this loop with the Training page: one line in, one rate line out, the
    # same run carried on from turn to turn.
    import io

    from benchmarks import train_rate

    monkeypatch.setattr("sys.stdin", io.StringIO("0.2\n0.2\n"))
    argv = ["--data", str(mnist_root), "--preset", "clip", "--set", "batch_size=8", "--set", "precision=fp32",
            "--phases"]  # fmt: skip
    assert train_rate.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    turns = [dict(pair.split("=") for pair in line.split()) for line in lines]
    assert all(float(turn["iterations_per_s"]) > 0 for turn in turns)
    # clip preset: n_critic 1, so 8 real images per generator iteration; up to the printed rounding (0.05 of
    # images_per_s, 8 x 0.0005 of iterations_per_s), which a busy machine's rates of ~0.3 iterations/s make
    # larger than a tenth of the ratio
    assert all(abs(float(turn["images_per_s"]) - 8 * float(turn["iterations_per_s"])) <= 0.0541 for turn in turns)
    assert 0 < int(turns[0]["iteration"]) < int(turns[1]["iteration"])
