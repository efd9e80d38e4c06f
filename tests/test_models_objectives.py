import math

import torch

from wgan import objectives
from wgan.models import SeedCritic, SeedGenerator


def test_shapes_and_ranges():
    generator, critic = SeedGenerator(), SeedCritic()
    images = generator(torch.randn(8, 100))
    assert images.shape == (8, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert critic(images).shape == (8,)
    no_bn = SeedCritic(batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())
    assert no_bn(images).shape == (8,)
    # The seed's layer sizes: linear 100 -> 256*7*7 + BN, ConvT 256->128 (3x3) + BN, 128->64 (4x4) + BN, 64->1.
    linear, bns = 100 * 12544 + 12544, 2 * (12544 + 128 + 64)
    deconvs = (256 * 128 * 9 + 128) + (128 * 64 * 16 + 64) + (64 * 16 + 1)
    assert sum(p.numel() for p in generator.parameters()) == linear + bns + deconvs
    assert sum(p.numel() for p in critic.parameters()) == 640 + 73_856 + 256 + 4_609


def test_wgan_loss_signs():
    real, fake = torch.tensor([2.0, 2.0]), torch.tensor([0.5, -0.5])
    assert objectives.wgan_critic_loss(real, fake).item() == -2.0  # = -(W estimate): negative is normal
    assert objectives.wgan_generator_loss(fake).item() == 0.0
    assert objectives.wgan_generator_loss(torch.tensor([1.0])).item() == -1.0


def test_gan_losses_and_js_estimate():
    zeros = torch.zeros(4)
    # D = 1/2 everywhere: L_D = 2 log 2, so the implied JS is 0.
    assert math.isclose(objectives.gan_discriminator_loss(zeros, zeros).item(), 2 * math.log(2), rel_tol=1e-6)
    assert abs(objectives.js_estimate(objectives.gan_discriminator_loss(zeros, zeros)).item()) < 1e-6
    # A perfect discriminator: L_D -> 0, JS -> log 2 (disjoint supports).
    confident = objectives.gan_discriminator_loss(torch.full((4,), 30.0), torch.full((4,), -30.0))
    assert math.isclose(objectives.js_estimate(confident).item(), math.log(2), rel_tol=1e-6)
    # Non-saturating generator loss is large when D rejects the fakes.
    assert objectives.gan_generator_loss(torch.full((4,), -5.0)).item() > 4.9


def test_clipping_bounds_every_parameter():
    critic = SeedCritic()
    objectives.clip_weights_(critic.parameters(), 0.01)
    values = torch.cat([p.detach().flatten() for p in critic.parameters()])
    assert values.abs().max().item() <= 0.01
    assert (values.abs() == 0.01).any()  # batch-norm weights start at 1: clipped to c


def test_gradient_penalty_zero_for_unit_slope_and_positive_otherwise():
    torch.manual_seed(0)
    direction = torch.randn(1, 1, 28, 28)
    direction /= direction.norm()

    def linear_critic(slope: float):
        return lambda x: slope * (x * direction).flatten(1).sum(1)

    real, fake = torch.randn(16, 1, 28, 28), torch.randn(16, 1, 28, 28)
    generator = torch.Generator().manual_seed(0)
    assert objectives.gradient_penalty(linear_critic(1.0), real, fake, generator).item() < 1e-10
    assert math.isclose(
        objectives.gradient_penalty(linear_critic(3.0), real, fake, generator).item(), 4.0, rel_tol=1e-5
    )
    penalty = objectives.gradient_penalty(SeedCritic(batch_norm=False), real, fake, generator)
    assert penalty.item() > 0 and penalty.requires_grad  # its gradient reaches the critic's weights


def test_grad_norm_matches_manual():
    critic = SeedCritic(batch_norm=False)
    critic(torch.randn(4, 1, 28, 28)).sum().backward()
    manual = torch.sqrt(sum((p.grad**2).sum() for p in critic.parameters()))
    assert torch.isclose(objectives.grad_norm(critic.parameters()), manual)
