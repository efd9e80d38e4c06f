"""wgan.objectives serves images and 2-D toys alike: per-sample penalties, per-member means, named losses."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from wgan import objectives


def linear(slope: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(x) = x . slope per sample, for x [..., d]; its input gradient has norm |slope| everywhere."""
    return lambda x: (x * slope).sum(-1)


def test_gradient_penalty_on_points_and_on_an_ensemble():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    unit = torch.tensor([0.6, 0.8])
    assert objectives.gradient_penalty(linear(unit), real, fake, g).item() < 1e-10
    assert objectives.gradient_penalty(linear(3 * unit), real, fake, g).item() == pytest.approx(4.0, rel=1e-5)
    # an ensemble [E, B, d] with batch_dims=2: one penalty per member, slopes 1, 2 and 0.5
    slopes = torch.tensor([[1.0], [2.0], [0.5]]).unsqueeze(1) * unit  # [3, 1, 2]
    members = objectives.gradient_penalty(linear(slopes), real.expand(3, -1, -1), fake.expand(3, -1, -1), g, 2)
    assert members.shape == (3,)
    torch.testing.assert_close(members, torch.tensor([0.0, 1.0, 0.25]), atol=1e-6, rtol=1e-5)


def test_gradient_penalty_flattens_each_image():
    # f sums 784 pixels with weight 1/28: its gradient per image has norm 1 only if all pixels count
    real, fake = torch.randn(4, 1, 28, 28), torch.randn(4, 1, 28, 28)
    penalty = objectives.gradient_penalty(lambda x: x.flatten(1).sum(1) / 28, real, fake)
    assert penalty.item() < 1e-10


def test_float64_inputs_draw_the_same_eps_as_float32():
    def eps_of(dtype: torch.dtype) -> torch.Tensor:
        real = torch.zeros(8, 2, dtype=dtype)
        fake = torch.ones(8, 2, dtype=dtype)
        seen = []

        def critic(x: torch.Tensor) -> torch.Tensor:
            seen.append(x.detach())
            return x.sum(-1)

        objectives.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(3))
        return 1 - seen[0][:, 0]  # x_hat = eps * 0 + (1 - eps) * 1

    torch.testing.assert_close(eps_of(torch.float64).float(), eps_of(torch.float32))


def test_losses_average_over_the_last_axis_only():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(3, 50, generator=g), torch.randn(3, 50, generator=g)
    together = objectives.gan_discriminator_loss(real, fake)
    assert together.shape == (3,)
    for member in range(3):
        alone = objectives.gan_discriminator_loss(real[member], fake[member])
        torch.testing.assert_close(together[member], alone)
    torch.testing.assert_close(objectives.w_estimate(real, fake), -objectives.wgan_critic_loss(real, fake))
    torch.testing.assert_close(objectives.w_estimate(real, fake), real.mean(1) - fake.mean(1))


def test_generator_losses_by_name():
    logits = torch.tensor([-3.0, 0.0, 2.0])
    d = torch.sigmoid(logits)
    torch.testing.assert_close(objectives.generator_loss(logits, "wgan"), -logits.mean())
    torch.testing.assert_close(objectives.generator_loss(logits, "minimax"), torch.log(1 - d).mean())
    torch.testing.assert_close(objectives.generator_loss(logits, "nonsaturating"), -torch.log(d).mean())
    with pytest.raises(ValueError, match="unknown generator loss"):
        objectives.generator_loss(logits, "hinge")


def test_critic_losses_estimates_and_generator_losses_by_objective():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(2, 40, generator=g), torch.randn(2, 40, generator=g) - 1.0
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    l_d = -torch.log(d_real).mean(-1) - torch.log(1 - d_fake).mean(-1)  # Goodfellow et al., written out
    torch.testing.assert_close(objectives.critic_loss(real, fake, "wgan"), fake.mean(-1) - real.mean(-1))
    torch.testing.assert_close(objectives.critic_loss(real, fake, "gan"), l_d)
    torch.testing.assert_close(objectives.estimate(real, fake, "wgan"), real.mean(-1) - fake.mean(-1))
    torch.testing.assert_close(objectives.estimate(real, fake, "gan"), math.log(2) - l_d / 2)
    torch.testing.assert_close(objectives.generator_loss_for(fake, "wgan"), -fake.mean(-1))
    torch.testing.assert_close(objectives.generator_loss_for(fake, "gan"), -torch.log(d_fake).mean(-1))
    for lookup in (objectives.critic_loss, objectives.estimate):
        with pytest.raises(ValueError, match="unknown objective 'wgan-gp'"):
            lookup(real, fake, "wgan-gp")
    with pytest.raises(ValueError, match="unknown objective"):
        objectives.generator_loss_for(fake, "lsgan")


def test_methods_name_each_objective_and_lipschitz_pair_once():
    pairs = list(objectives.METHODS.values())
    assert len(set(pairs)) == len(pairs) and set(objectives.METHOD_LABELS) == set(objectives.METHODS)
    for name, (objective, lipschitz) in objectives.METHODS.items():
        assert objective in objectives.OBJECTIVES and lipschitz in objectives.LIPSCHITZ
        assert objectives.method_name(objective, lipschitz) == name
    assert objectives.method_name("wgan", "sn") == "wgan-sn"  # a control added later names itself


def test_js_estimate_of_a_float_and_of_a_tensor():
    assert objectives.js_estimate(2 * math.log(2)) == pytest.approx(0.0, abs=1e-15)  # D = 1/2 everywhere
    assert objectives.js_estimate(torch.tensor(0.0)).item() == pytest.approx(objectives.LOG2)
    assert objectives.LOG2 == math.log(2)
