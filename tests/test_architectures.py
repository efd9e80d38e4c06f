"""Both architectures: shapes, the blind border, training steps, checkpoints of either kind."""

from __future__ import annotations

import pytest
import torch

from wgan.checkpoint import CheckpointError, load_checkpoint, load_generator, restore_state, save_checkpoint
from wgan.config import apply_overrides, preset
from wgan.data import load_images
from wgan.models import ARCHITECTURES, RepairedCritic, SeedCritic, build_critic, build_generator, visible_pixels
from wgan.train import init_state, train_chunk

SMALL = {"batch_size": 8, "holdout_size": 32}


@pytest.fixture(scope="module")
def digits(mnist_root):
    return load_images("mnist", mnist_root, "train", download=False)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("batch_norm", [True, False])
def test_shapes_and_ranges(arch, batch_norm):
    generator, critic = build_generator(arch, 100), build_critic(arch, batch_norm, 0.0)
    images = generator(torch.randn(6, 100))
    assert images.shape == (6, 1, 28, 28) and images.abs().max() <= 1
    assert critic(images).shape == (6,)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules()) == batch_norm


def test_the_repaired_critic_takes_a_hidden_layer_and_keeps_its_weights_names_without_one():
    plain, headed = RepairedCritic(), build_critic("repaired", True, 0.0, hidden=16)
    assert headed.fc.out_features == 16 and isinstance(headed.hidden[0], torch.nn.BatchNorm1d)
    assert headed(torch.randn(6, 1, 28, 28)).shape == (6,)
    assert build_critic("repaired", False, 0.0, hidden=16).hidden[0].__class__ is torch.nn.Identity  # for WGAN-GP
    # Without the layer the state dict is what shipped before it existed: old full runs still load.
    expected = [f"{layer}.{name}" for layer in ("conv0", "conv1", "conv2", "fc") for name in ("weight", "bias")]
    expected += [f"bn.{name}" for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    assert sorted(plain.state_dict()) == sorted(expected)
    with pytest.raises(ValueError, match="critic_hidden needs arch='repaired'"):
        preset("seed", critic_hidden=16)


def test_the_seed_critic_cannot_see_the_last_row_and_column():
    blind = ~visible_pixels(SeedCritic())
    assert blind[27].all() and blind[:, 27].all() and blind.sum() == 28 + 28 - 1
    assert visible_pixels(SeedCritic(padding=1)).all()  # the padding repair alone fixes it
    assert visible_pixels(RepairedCritic()).all()


def test_unknown_architecture_is_a_config_error():
    with pytest.raises(ValueError, match="arch must be one of"):
        preset("gp", arch="resnet")


@pytest.mark.parametrize("name", ["seed", "clip", "gp", "gan"])
def test_a_few_steps_train_both_models(digits, name):
    state = init_state(preset(name, **SMALL), digits, "cpu")
    before_g = [p.detach().clone() for p in state.generator.parameters()]
    before_c = [p.detach().clone() for p in state.critic.parameters()]
    train_chunk(state, 2)
    assert state.iteration == 2
    assert any(not torch.equal(a, b) for a, b in zip(before_g, state.generator.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_c, state.critic.parameters(), strict=True))


def six_steps_and_three_plus_three(config, digits, tmp_path):
    """(6 steps straight, 3 steps saved to tmp_path/run.pt, that file resumed for 3 more): resume must be exact."""
    straight = init_state(config, digits, "cpu")
    train_chunk(straight, 6)
    first = init_state(config, digits, "cpu")
    train_chunk(first, 3)
    resumed = restore_state(load_checkpoint(save_checkpoint(first, tmp_path / "run.pt")), digits, "cpu")
    train_chunk(resumed, 3)
    return straight, first, resumed


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_resume_is_exact_for_either_architecture_with_a_generator_average(digits, tmp_path, arch):
    straight, first, resumed = six_steps_and_three_plus_three(
        preset("gan", arch=arch, generator_ema=0.9, **SMALL), digits, tmp_path
    )
    assert resumed.history.columns["w_estimate"] == straight.history.columns["w_estimate"]
    for a, b in zip(straight.sampler.state_dict().values(), resumed.sampler.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # The average lags the weights it follows, and sampling uses it.
    assert resumed.sampler is resumed.generator_ema
    live, average = resumed.generator.state_dict(), resumed.generator_ema.state_dict()
    assert any(not torch.equal(live[k], average[k]) for k in live if live[k].is_floating_point())
    loaded = load_generator(load_checkpoint(tmp_path / "run.pt"))
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, first.generator_ema.state_dict()[key]), key


def test_resume_is_exact_for_the_clip_recipe_with_its_hidden_critic_layer(digits, tmp_path):
    config = preset("clip", **SMALL)
    assert config.critic_hidden > 0
    straight, _, resumed = six_steps_and_three_plus_three(config, digits, tmp_path)
    assert resumed.history.columns["w_estimate"] == straight.history.columns["w_estimate"]
    for a, b in zip(straight.critic.state_dict().values(), resumed.critic.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_an_old_checkpoint_without_arch_loads_as_the_seed_architecture(digits, tmp_path):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    path = save_checkpoint(state, tmp_path / "old.pt")
    payload = torch.load(path, weights_only=True)
    for key in ("arch", "layout", "generator_ema", "critic_hidden"):  # fields added after version 1 first shipped
        del payload["config"][key]
    torch.save(payload, path)
    checkpoint = load_checkpoint(path)
    assert checkpoint.config.arch == "seed" and checkpoint.config.critic_hidden == 0
    assert type(load_generator(checkpoint)).__name__ == "SeedGenerator"


def test_weights_of_the_other_architecture_are_a_one_line_error(digits, tmp_path):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    path = save_checkpoint(state, tmp_path / "mixed.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["arch"] = "repaired"  # the config says repaired, the weights are the seed's
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert message.startswith(f"{path}: generator weights do not fit the model") and "\n" not in message


def test_the_quick_preset_trains_narrow_models_that_resume_exactly_and_export_at_their_width(digits, tmp_path):
    config = preset("quick", **SMALL)
    straight, _, resumed = six_steps_and_three_plus_three(config, digits, tmp_path)
    assert straight.generator.conv1.out_channels == config.generator_width == 16  # 14x14 channels, 2x at 7x7
    assert straight.generator.linear.out_features == 2 * 16 * 7 * 7
    assert straight.critic.conv0.out_channels == config.critic_width == 16
    assert resumed.history.columns["w_estimate"] == straight.history.columns["w_estimate"]
    path = save_checkpoint(straight, tmp_path / "quick.pt")
    generator = load_generator(load_checkpoint(path))  # built at the saved width, or the weights would not fit
    assert generator.conv1.out_channels == 16


def test_widths_are_the_repaired_models_own():
    assert build_generator("repaired", 100, width=8).conv2.out_channels == 4
    assert build_critic("repaired", True, 0.0, width=8).conv2.out_channels == 32
    with pytest.raises(ValueError, match="generator_width needs arch='repaired'"):
        preset("seed", generator_width=16)
    with pytest.raises(ValueError, match="critic_width must be 0"):
        preset("quick", critic_width=7)
    assert apply_overrides(preset("quick"), ["arch=seed"]).generator_width == 0  # one change from any preset
