"""Critic and generator objectives as small pure functions, plus weight clipping and the gradient penalty.

Scores are the critic's raw outputs, shape [B]. For the WGAN objectives they are f(x); for the GAN
baseline they are the discriminator's logits, D(x) = sigmoid(score).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

LOG2 = math.log(2.0)


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """mean f(fake) - mean f(real): minus the W estimate (WGAN paper, Algorithm 1, line 6). No log."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-mean f(G(z)) (Algorithm 1, line 10). Shifting f by a constant shifts it: its value means nothing."""
    return -fake_scores.mean()


def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = -E log D(x) - E log(1 - D(G(z))), with the log-sigmoid folded into BCE-with-logits."""
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_term + fake_term


def gan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -E log D(G(z)) (Goodfellow et al. 2014, section 3)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def js_estimate(discriminator_loss: torch.Tensor) -> torch.Tensor:
    """The JS divergence (nats) an optimal discriminator would imply: log 2 - L_D / 2.

    At the optimum, -L_D = 2 JS(P_r, P_g) - log 4 (Goodfellow et al. 2014, Theorem 1); the WGAN paper's
    Figure 4 plots this and shows it sitting near log 2 whatever the samples look like.
    """
    return LOG2 - 0.5 * discriminator_loss


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """E[(||grad_x f(x_hat)||_2 - 1)^2] on x_hat = eps * real + (1 - eps) * fake (WGAN-GP, Algorithm 1).

    real, fake: [B, ...]; eps ~ U[0, 1] per sample, shape [B, 1, ...]. The norm is taken per sample over
    all of its non-batch dimensions (flattening each sample first avoids the classic dimension bug).
    The graph is kept (create_graph) so the penalty's own gradient reaches the critic's weights.
    """
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, device=real.device, dtype=real.dtype, generator=generator)
    interpolates = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates)
    (grads,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    norms = grads.flatten(1).norm(2, dim=1)  # [B]
    return ((norms - 1) ** 2).mean()


@torch.no_grad()
def clip_weights_(parameters: Iterable[nn.Parameter], clip_value: float) -> None:
    """Clamp every parameter to [-c, c] in place (WGAN paper, Algorithm 1, line 7).

    As in the seed and the official code this includes batch-norm weights and biases. One foreach call
    per bound instead of a kernel per tensor.
    """
    params = [p for p in parameters]
    if params:
        torch._foreach_clamp_min_(params, -clip_value)
        torch._foreach_clamp_max_(params, clip_value)


def grad_norm(parameters: Iterable[nn.Parameter]) -> torch.Tensor:
    """Global L2 norm of the parameters' gradients as a device tensor (no host sync)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
