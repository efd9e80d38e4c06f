import pickle
import zipfile

import pytest
import torch

from wgan.checkpoint import (
    CheckpointError,
    export_generator,
    find_checkpoints,
    load_checkpoint,
    load_generator,
    restore_state,
    save_checkpoint,
    state_payload,
    write_payload,
)
from wgan.config import preset
from wgan.data import load_images
from wgan.train import capture, init_state, roll_back, train_chunk, train_step

SMALL = {"batch_size": 8, "holdout_size": 32}


@pytest.fixture(scope="module")
def digits(mnist_root):
    return load_images("mnist", mnist_root, "train", download=False)


@pytest.mark.parametrize("name", ["seed", "gp"])
def test_resume_continues_exactly(digits, tmp_path, name):
    straight = init_state(preset(name, **SMALL), digits, "cpu")
    train_chunk(straight, 20)

    first = init_state(preset(name, **SMALL), digits, "cpu")
    train_chunk(first, 10)
    path = save_checkpoint(first, tmp_path / "run.pt")
    del first
    resumed = restore_state(load_checkpoint(path), digits, "cpu")
    assert resumed.iteration == 10
    train_chunk(resumed, 10)

    for metric in ("w_estimate", "critic_loss", "generator_loss"):
        assert resumed.history.columns[metric] == straight.history.columns[metric], metric
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_generator_only_checkpoint_samples_but_cannot_resume(digits, tmp_path):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    train_chunk(state, 1)
    full = load_checkpoint(save_checkpoint(state, tmp_path / "full.pt", card={"note": "x"}))
    small = load_checkpoint(export_generator(full, tmp_path / "small.pt", half=True))
    assert full.full and not small.full and small.iteration == 1 and small.card == {"note": "x"}
    assert (tmp_path / "small.pt").stat().st_size < (tmp_path / "full.pt").stat().st_size
    generator = load_generator(small)
    assert not generator.training and generator.linear1.weight.dtype == torch.float32
    expected = state.generator.state_dict()["linear1.weight"].half().float()
    assert torch.equal(generator.linear1.weight, expected)
    assert find_checkpoints(tmp_path) == [tmp_path / "full.pt", tmp_path / "small.pt"]
    with pytest.raises(CheckpointError, match="only a generator"):
        restore_state(small, digits, "cpu")


class Payload:  # a class: weights_only must refuse to rebuild it
    def __reduce__(self):
        return (print, ("this code must never run",))


def _bad_files(tmp_path, good_path):
    good = good_path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(good[: len(good) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all" * 10)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    torch.save({"format": "wgan-checkpoint", "payload": Payload()}, tmp_path / "code.pt")
    with open(tmp_path / "pickled.pt", "wb") as handle:
        pickle.dump(Payload(), handle)
    payload = torch.load(good_path, weights_only=True)
    torch.save({**payload, "format_version": 99}, tmp_path / "future.pt")
    payload["generator"]["linear1.weight"] = torch.zeros(5, 5)
    torch.save(payload, tmp_path / "shapes.pt")
    return {
        "missing.pt": "no such checkpoint file",
        "truncated.pt": "corrupt or truncated",
        "garbage.pt": "corrupt or truncated",
        "foreign.pt": "not a wgan checkpoint",
        "code.pt": "carries Python objects",
        "pickled.pt": "not a PyTorch checkpoint",
        "future.pt": "format version 99",
        "shapes.pt": "generator weights do not fit",
    }


def test_bad_checkpoints_give_one_line_errors_and_stay_untouched(digits, tmp_path, capsys):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    good = save_checkpoint(state, tmp_path / "good.pt")
    for name, problem in _bad_files(tmp_path, good).items():
        path = tmp_path / name
        before = path.read_bytes() if path.exists() else None
        with pytest.raises(CheckpointError, match=problem) as error:
            load_checkpoint(path)
        message = str(error.value)
        assert "\n" not in message and message.startswith(str(path)), message
        assert (path.read_bytes() if path.exists() else None) == before
    assert "must never run" not in capsys.readouterr().out


def test_checkpoint_is_a_zip_of_plain_data(digits, tmp_path):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    path = save_checkpoint(state, tmp_path / "run.pt")
    assert zipfile.is_zipfile(path)
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == 1 and payload["config"]["batch_size"] == 8
    assert {"generator", "critic", "generator_optimizer", "critic_optimizer", "rng", "history", "fixed_noise"} <= set(
        payload
    )
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write leaves no temporary behind


def test_a_checkpoint_written_before_the_lipschitz_setting_loads_and_resumes_with_its_control(digits, tmp_path):
    state = init_state(preset("gp", **SMALL), digits, "cpu")
    train_chunk(state, 1)
    payload = torch.load(save_checkpoint(state, tmp_path / "run.pt"), weights_only=True)
    old = {key: value for key, value in payload["config"].items() if key != "lipschitz"}
    payload["config"] = {**old, "objective": "wgan-gp", "clip_value": 0.0}  # as the old gp preset saved it
    checkpoint = load_checkpoint(write_payload(payload, tmp_path / "old.pt"))
    assert (checkpoint.config.objective, checkpoint.config.lipschitz, checkpoint.config.gp_weight) == ("wgan", "gp", 10)
    resumed = restore_state(checkpoint, digits, "cpu")
    assert train_step(resumed)["gradient_penalty"].item() > 0  # it goes on penalising, as it trained

    payload["config"] = {**old, "objective": "wgan", "clip_value": 0.0, "gp_weight": 0.0}  # trained unconstrained
    with pytest.raises(CheckpointError, match="bad config .*needs a Lipschitz control") as refused:
        load_checkpoint(write_payload(payload, tmp_path / "unconstrained.pt"))
    assert "\n" not in str(refused.value)


def test_one_record_of_the_run_state_for_rollback_and_checkpoints(digits):
    state = init_state(preset("seed", generator_ema=0.9, **SMALL), digits, "cpu")
    train_chunk(state, 2)
    saved, payload = capture(state), state_payload(state)
    # A checkpoint holds the rollback record under the same keys, and nothing in it differs.
    assert set(saved) == {"generator", "generator_ema", "critic", "generator_optimizer", "critic_optimizer", "rng",
                          "counters"} and set(saved) <= set(payload)  # fmt: skip
    assert saved["rng"].keys() == payload["rng"].keys() == {"data", "noise", "torch_cpu"}
    assert saved["counters"] == payload["counters"] and set(saved["counters"]) >= {"iteration", "wall_seconds"}
    for key in ("generator", "generator_ema", "critic"):
        assert all(torch.equal(saved[key][name], payload[key][name]) for name in saved[key]), key
    train_chunk(state, 3)
    after = {name: list(values) for name, values in state.history.columns.items()}
    # Rolled back from either record, the same three iterations come out again, bit for bit.
    for record in (saved, payload):
        roll_back(state, record)
        assert state.iteration == 2 and len(state.history) == 2
        train_chunk(state, 3)
        for metric in ("w_estimate", "critic_loss", "generator_loss"):
            assert state.history.columns[metric] == after[metric], metric


def test_checkpoints_from_before_the_wall_clock_and_quality_points_still_resume(digits, tmp_path):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    train_chunk(state, 2)
    old = state_payload(state)
    del old["counters"]["wall_seconds"], old["quality"]  # what older code wrote
    torch.save(old, tmp_path / "old.pt")
    resumed = restore_state(load_checkpoint(tmp_path / "old.pt"), digits, "cpu")
    assert resumed.iteration == 2 and resumed.wall_seconds == 0.0 and resumed.quality == {}
