import pytest

from wgan.config import PRESETS, ConfigError, TrainConfig, apply_overrides, preset


def test_presets_match_the_reference_table():
    seed = PRESETS["seed"]
    assert (seed.optimizer, seed.lr_critic, seed.lr_generator) == ("rmsprop", 2e-4, 2e-4)
    assert (seed.batch_size, seed.clip_value, seed.n_critic, seed.objective) == (512, 0.01, 1, "wgan")
    assert seed.critic_batch_norm and not seed.critic_warmup

    paper = PRESETS["paper"]
    assert (paper.optimizer, paper.lr_critic, paper.lr_generator) == ("rmsprop", 5e-5, 5e-5)
    assert (paper.batch_size, paper.clip_value, paper.n_critic) == (64, 0.01, 5)
    assert paper.critic_warmup and (paper.warmup_n_critic, paper.warmup_iterations, paper.warmup_every) == (
        100,
        25,
        500,
    )

    gp = PRESETS["gp"]
    assert (gp.objective, gp.optimizer, gp.lr_critic, gp.adam_beta1, gp.adam_beta2) == (
        "wgan-gp",
        "adam",
        1e-4,
        0.0,
        0.9,
    )
    assert (gp.gp_weight, gp.n_critic, gp.batch_size, gp.clip_value, gp.critic_batch_norm) == (10.0, 5, 64, 0.0, False)

    gan = PRESETS["gan"]
    assert (gan.objective, gan.optimizer, gan.lr_critic, gan.adam_beta1) == ("gan", "adam", 2e-4, 0.5)
    assert (gan.batch_size, gan.n_critic, gan.clip_value, gan.gp_weight) == (64, 1, 0.0, 0.0)
    assert all(config.z_dim == 100 for config in PRESETS.values())


def test_paper_warmup_schedule_and_switch():
    paper = PRESETS["paper"]
    assert [paper.n_critic_at(i) for i in (0, 24, 25, 26, 499, 500, 1000)] == [100, 100, 5, 5, 5, 100, 100]
    off = apply_overrides(paper, ["critic_warmup=false"])
    assert {off.n_critic_at(i) for i in (0, 500)} == {5}


def test_overrides_parse_by_field_type_and_round_trip():
    config = preset("seed", ["lr_critic=1e-4", "n_critic=3", "critic_batch_norm=no", "dataset=fashion-mnist"])
    assert (config.lr_critic, config.n_critic, config.critic_batch_norm, config.dataset) == (
        1e-4,
        3,
        False,
        "fashion-mnist",
    )
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert '"lr_critic": 0.0001' in config.to_json()


@pytest.mark.parametrize(
    "override, message",
    [
        ("nonsense=1", "bad override"),
        ("n_critic=two", "not a int"),
        ("batch_size=0", "at least 1"),
        ("objective=lsgan", "objective must be"),
        ("lr_critic", "bad override"),
    ],
)
def test_bad_overrides_say_what_is_wrong(override, message):
    with pytest.raises(ValueError, match=message):
        preset("seed", [override])


def test_unknown_preset_and_unknown_saved_keys():
    with pytest.raises(ValueError, match="unknown preset"):
        preset("dcgan")
    with pytest.raises(ValueError, match="unknown config keys: colour"):
        TrainConfig.from_dict({"colour": "red"})


def test_choosing_the_seed_architecture_drops_the_repaired_critics_hidden_layer():
    clip = preset("clip")
    assert clip.critic_hidden > 0 and clip.arch == "repaired"
    assert apply_overrides(clip, ["arch=seed"]).critic_hidden == 0
    assert apply_overrides(clip, ["lr_critic=1e-4"]).critic_hidden == clip.critic_hidden
    with pytest.raises(ConfigError, match="critic_hidden needs arch='repaired'"):
        apply_overrides(clip, ["arch=seed", "critic_hidden=8"])  # asked for both: said, not silently changed
