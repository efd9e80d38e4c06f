import pytest

from wgan.config import PRESETS, ConfigError, TrainConfig, apply_overrides, migrate_config, preset


def test_presets_match_the_reference_table():
    seed = PRESETS["seed"]
    assert (seed.optimizer, seed.lr_critic, seed.lr_generator) == ("rmsprop", 2e-4, 2e-4)
    assert (seed.batch_size, seed.clip_value, seed.n_critic, seed.objective) == (512, 0.01, 1, "wgan")
    assert seed.lipschitz == "clip" and seed.method == "wgan-clip"
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
    assert (gp.objective, gp.lipschitz, gp.optimizer, gp.lr_critic, gp.adam_beta1, gp.adam_beta2) == (
        "wgan",
        "gp",
        "adam",
        1e-4,
        0.0,
        0.9,
    )
    assert (gp.gp_weight, gp.n_critic, gp.batch_size, gp.critic_batch_norm) == (10.0, 5, 64, False)
    assert gp.method == "wgan-gp"

    gan = PRESETS["gan"]
    assert (gan.objective, gan.lipschitz, gan.optimizer, gan.lr_critic) == ("gan", "none", "adam", 2e-4)
    assert gan.adam_beta1 == 0.5
    assert (gan.batch_size, gan.n_critic, gan.method) == (64, 1, "gan")
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


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lipschitz": "none"}, "'wgan' needs a Lipschitz control: lipschitz one of ('clip', 'gp'), not 'none'"),
        ({"lipschitz": "gp", "gp_weight": 0.0}, "lipschitz='gp' needs gp_weight > 0, not 0"),
        ({"lipschitz": "clip", "clip_value": 0.0}, "lipschitz='clip' needs clip_value > 0, not 0"),
        ({"objective": "gan", "lipschitz": "clip"}, "the GAN baseline (objective='gan') has no Lipschitz control"),
        ({"objective": "gan", "lipschitz": "gp"}, "lipschitz='none', not 'gp'"),
        ({"lipschitz": "sn"}, "lipschitz must be one of ('clip', 'gp', 'none'), not 'sn'"),
        ({"objective": "wgan-gp"}, "now objective='wgan' with lipschitz='gp'"),
    ],
)
def test_each_lipschitz_combination_that_does_not_name_itself_is_refused_in_one_line(changes, message):
    with pytest.raises(ConfigError) as refused:
        TrainConfig(**changes)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_the_unused_knob_is_ignored_and_keeps_its_value():
    gp = preset("gp", ["clip_value=0"])  # clip_value means nothing under the penalty
    assert (gp.lipschitz, gp.clip_value) == ("gp", 0.0)
    clip = preset("clip", ["gp_weight=0"])
    assert (clip.lipschitz, clip.gp_weight) == ("clip", 0.0)
    gan = preset("gan", ["clip_value=0", "gp_weight=0"])
    assert gan.lipschitz == "none"
    assert preset("seed", ["lipschitz=gp"]).gp_weight == 10.0  # switching control needs no second override
    with pytest.raises(ConfigError, match="penalty of weight 0"):
        preset("gp", ["gp_weight=0"])  # once trained silently with neither control


@pytest.mark.parametrize(
    "old, objective, lipschitz",
    [
        ({"objective": "wgan-gp", "clip_value": 0.0, "gp_weight": 10.0}, "wgan", "gp"),
        ({"objective": "wgan", "clip_value": 0.01, "gp_weight": 0.0}, "wgan", "clip"),
        ({"objective": "wgan"}, "wgan", "clip"),  # the old defaults: clip 0.01, no penalty
        ({"objective": "wgan", "clip_value": 0.0, "gp_weight": 5.0}, "wgan", "gp"),
        ({"objective": "wgan", "clip_value": 0.0, "gp_weight": 0.0}, "wgan", "none"),
        ({"objective": "gan", "clip_value": 0.0, "gp_weight": 0.0}, "gan", "none"),
        ({"objective": "gan", "clip_value": 0.01}, "gan", "none"),
    ],
)
def test_old_config_dicts_migrate_to_objective_and_lipschitz(old, objective, lipschitz):
    new = migrate_config(old)
    assert (new["objective"], new["lipschitz"]) == (objective, lipschitz)
    assert new["gp_weight"] == old.get("gp_weight", 0.0)  # the old default, not today's 10
    assert "lipschitz" not in old  # a copy: the saved dict is left as it was
    assert migrate_config(new) == new  # a dict that has the field is already today's


def test_old_shipped_style_dicts_load_and_an_unconstrained_old_wgan_is_refused():
    old_gp = {**PRESETS["gp"].to_dict(), "objective": "wgan-gp", "clip_value": 0.0}
    del old_gp["lipschitz"]
    config = TrainConfig.from_dict(old_gp)
    assert (config.objective, config.lipschitz, config.gp_weight, config.method) == ("wgan", "gp", 10.0, "wgan-gp")
    old_gan = {**PRESETS["gan"].to_dict(), "clip_value": 0.0, "gp_weight": 0.0}
    del old_gan["lipschitz"]
    assert TrainConfig.from_dict(old_gan).lipschitz == "none"
    with pytest.raises(ConfigError, match="needs a Lipschitz control"):  # it trained an unconstrained critic
        TrainConfig.from_dict({"objective": "wgan", "clip_value": 0.0, "gp_weight": 0.0})
