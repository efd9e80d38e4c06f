import math

import pytest
import torch

from wgan import objectives
from wgan.config import preset
from wgan.data import load_images
from wgan.train import METRICS, History, evaluate_holdout, init_state, kept_rows, thin_oldest, train_chunk, train_step

SMALL = {"batch_size": 16, "holdout_size": 32}


@pytest.fixture(scope="module")
def digits(mnist_root):
    return load_images("mnist", mnist_root, "train", download=False)


def test_seed_preset_steps_clip_and_report(digits):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    metrics = train_step(state)
    assert set(metrics) == set(METRICS) - {"js_estimate"}
    assert all(isinstance(value, torch.Tensor) and value.dim() == 0 for value in metrics.values())
    weights = torch.cat([p.detach().flatten() for p in state.critic.parameters()])
    assert weights.abs().max().item() <= 0.01 + 1e-9
    # The W estimate is minus the critic loss when there is no penalty.
    assert math.isclose(metrics["w_estimate"].item(), -metrics["critic_loss"].item(), rel_tol=1e-5, abs_tol=1e-7)
    result = train_chunk(state, 3)
    assert result.iterations == 3 and result.images_per_s > 0
    assert state.iteration == 4 and state.real_images_seen == 4 * 16 and len(state.history) == 4
    assert state.history.columns["iteration"] == [0.0, 1.0, 2.0, 3.0]
    assert all(len(values) == 4 for values in state.history.columns.values())


def test_generator_and_critic_both_learn(digits):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    generator_before = [p.detach().clone() for p in state.generator.parameters()]
    critic_before = [p.detach().clone() for p in state.critic.parameters()]
    train_chunk(state, 2)
    assert any(not torch.equal(a, b) for a, b in zip(generator_before, state.generator.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, state.critic.parameters(), strict=True))


def test_gp_preset_penalty_and_gan_js(digits):
    gp = init_state(preset("gp", **SMALL), digits, "cpu")
    metrics = train_step(gp)
    assert gp.critic_updates == 5 and metrics["gradient_penalty"].item() > 0
    gan = init_state(preset("gan", **SMALL), digits, "cpu")
    metrics = train_step(gan)
    # The estimate is the identity of Goodfellow et al.'s Theorem 1 applied to the step's own loss.
    js, critic_loss = metrics["js_estimate"].item(), metrics["critic_loss"].item()
    assert js == pytest.approx(math.log(2) - critic_loss / 2, abs=1e-6)


@pytest.mark.parametrize("objective, lipschitz", [("wgan", "clip"), ("wgan", "gp"), ("gan", "none")])
def test_train_step_clips_iff_clip_and_penalises_iff_gp(digits, monkeypatch, objective, lipschitz):
    calls = {"clip": 0, "gp": 0}
    clip_weights_, gradient_penalty = objectives.clip_weights_, objectives.gradient_penalty

    def counted(name, function):
        def spy(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return spy

    monkeypatch.setattr(objectives, "clip_weights_", counted("clip", clip_weights_))
    monkeypatch.setattr(objectives, "gradient_penalty", counted("gp", gradient_penalty))
    # Both knobs set, whatever the control: only the named one may act.
    config = preset("seed", objective=objective, lipschitz=lipschitz, clip_value=1e-3, gp_weight=10.0, **SMALL)
    state = init_state(config, digits, "cpu")
    metrics = train_step(state)
    largest = max(p.detach().abs().max().item() for p in state.critic.parameters())
    assert (calls["clip"], calls["gp"]) == (int(lipschitz == "clip"), int(lipschitz == "gp"))
    assert (largest <= 1e-3 * (1 + 1e-6)) == (lipschitz == "clip")  # 1e-3 in float32
    assert (metrics["gradient_penalty"].item() > 0) == (lipschitz == "gp")
    if lipschitz != "gp":  # no penalty in the loss: the critic loss is the objective's own
        expected = -metrics["w_estimate"] if objective == "wgan" else math.log(4) - 2 * metrics["js_estimate"]
        assert metrics["critic_loss"].item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)


def test_paper_warmup_runs_its_extra_critic_steps(digits):
    state = init_state(preset("paper", batch_size=8, holdout_size=32, warmup_n_critic=12), digits, "cpu")
    train_step(state)
    assert state.critic_updates == 12
    off = init_state(preset("paper", ["critic_warmup=false"], batch_size=8, holdout_size=32), digits, "cpu")
    train_step(off)
    assert off.critic_updates == 5


@pytest.mark.parametrize("arch", ["seed", "repaired"])
def test_same_seed_same_start_for_wgan_and_gan(digits, arch):
    # What the Training page's baseline relies on: same seed and architecture, same start.
    wgan = init_state(preset("seed", arch=arch, **SMALL), digits, "cpu")
    gan = init_state(preset("gan", arch=arch, **SMALL), digits, "cpu")
    assert torch.equal(wgan.fixed_noise, gan.fixed_noise)
    for a, b in zip(wgan.generator.parameters(), gan.generator.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(wgan.data.sample(8, wgan.data_rng), gan.data.sample(8, gan.data_rng))


def test_bf16_autocast_trains(digits):
    state = init_state(preset("seed", precision="bf16", **SMALL), digits, "cpu")
    train_chunk(state, 2)
    assert all(math.isfinite(v) for v in state.history.columns["w_estimate"])
    assert all(p.dtype == torch.float32 for p in state.critic.parameters())


def test_holdout_evaluation(digits):
    state = init_state(preset("seed", **SMALL), digits, "cpu")
    train_chunk(state, 2)
    figures = evaluate_holdout(state)
    assert set(figures) == {"w_train", "w_holdout"} and all(math.isfinite(v) for v in figures.values())
    assert state.critic.training  # restored after the evaluation


def test_one_thinning_rule_keeps_the_first_row_the_newest_rows_and_thins_the_older_ones():
    assert kept_rows(10, 2000) == list(range(10))
    keep = kept_rows(10_000, 600)
    assert len(keep) <= 600 and keep[0] == 0
    assert keep[-300:] == list(range(9_700, 10_000))  # the newest max_rows // 2 at full resolution
    older = keep[:-300]
    assert len({b - a for a, b in zip(older, older[1:], strict=False)}) == 1  # the older part evenly thinned
    # Thinned as it grows, a history gives up one row in two of its older part at a time.
    assert kept_rows(7, 6) == [0, 2, 4, 5, 6]
    columns = {"iteration": [float(i) for i in range(7)], "histogram": [[i] for i in range(7)]}
    thin_oldest(columns, 6)
    assert columns == {"iteration": [0.0, 2.0, 4.0, 5.0, 6.0], "histogram": [[0], [2], [4], [5], [6]]}
    with pytest.raises(ValueError, match="at least 1"):
        kept_rows(3, 0)


def test_history_forgets_the_rows_of_later_iterations_even_after_thinning():
    history = History(columns={"iteration": [0.0, 2.0, 4.0, 5.0, 6.0], "w_estimate": [0.0, 2.0, 4.0, 5.0, 6.0]})
    history.forget_from(5)
    assert history.columns == {"iteration": [0.0, 2.0, 4.0], "w_estimate": [0.0, 2.0, 4.0]}
    history.forget_from(0)
    assert len(history) == 0
