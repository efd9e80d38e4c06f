"""GAN maths as small pure functions, for image models and 2-D toys alike: losses, estimates, clipping, penalty.

Scores are the critic's raw outputs. For the WGAN objective they are f(x); for the GAN baseline they are
the discriminator's logits, D(x) = sigmoid(score). Means run over the last axis (the samples), so scores
[B] give a scalar and an ensemble's scores [E, B] give one value per member [E].

Two names say what a training loop computes, and every loop (``wgan.train`` on images, ``wgan.toy`` on
points) looks its maths up here by them:
- the objective (``OBJECTIVES``): "wgan", the critic maximises the W estimate mean f(real) - mean f(fake),
  or "gan", the discriminator minimises binary cross-entropy (``critic_loss``, ``generator_loss_for``,
  ``estimate``);
- the Lipschitz control (``LIPSCHITZ``): "clip" (``clip_weights_`` after every critic step), "gp"
  (``gradient_penalty`` added to the critic loss) or "none" (the GAN baseline's).
``METHODS`` names the pairs that make sense, ``METHOD_LABELS`` is how a page shows them. Spectral
normalisation would be one more Lipschitz control, "sn", and one more method, "wgan-sn".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

LOG2 = math.log(2.0)  # the maximum of the Jensen-Shannon divergence, in nats

OBJECTIVES: tuple[str, ...] = ("wgan", "gan")  # what the critic (or discriminator) is trained for
LIPSCHITZ: tuple[str, ...] = ("clip", "gp", "none")  # how the critic is kept (near) 1-Lipschitz

# The (objective, lipschitz) pairs worth training, by name, in the order the toy page shows them.
METHODS: dict[str, tuple[str, str]] = {
    "gan": ("gan", "none"),
    "wgan-clip": ("wgan", "clip"),
    "wgan-gp": ("wgan", "gp"),
}
METHOD_LABELS: dict[str, str] = {"gan": "GAN", "wgan-clip": "WGAN (clip)", "wgan-gp": "WGAN-GP"}

GENERATOR_LOSSES: tuple[str, ...] = ("wgan", "minimax", "nonsaturating")
# The generator loss each objective trains with unless a caller picks another (the toys can pick minimax).
DEFAULT_GENERATOR_LOSS: dict[str, str] = {"wgan": "wgan", "gan": "nonsaturating"}

Loss = TypeVar("Loss", torch.Tensor, float)


def method_name(objective: str, lipschitz: str) -> str:
    """The ``METHODS`` name of an (objective, lipschitz) pair: ("wgan", "gp") -> "wgan-gp"."""
    for name, pair in METHODS.items():
        if pair == (objective, lipschitz):
            return name
    return f"{objective}-{lipschitz}"


def w_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The W estimate mean f(real) - mean f(fake) (WGAN paper, Section 3): minus the critic loss."""
    return real_scores.mean(-1) - fake_scores.mean(-1)


def wgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """mean f(fake) - mean f(real): minus the W estimate (WGAN paper, Algorithm 1, line 6). No log."""
    return fake_scores.mean(-1) - real_scores.mean(-1)


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-mean f(G(z)) (Algorithm 1, line 10). Shifting f by a constant shifts it: its value means nothing."""
    return -fake_scores.mean(-1)


def _bce_with_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Per-sample binary cross-entropy against a constant target, averaged over the last axis."""
    loss = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none")
    return loss.mean(-1)


def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = -E log D(x) - E log(1 - D(G(z))), with the log-sigmoid folded into BCE-with-logits.

    At the optimum D* it equals 2 log 2 - 2 JS (Goodfellow et al. 2014, Theorem 1): see ``js_estimate``.
    """
    return _bce_with_logits(real_logits, 1.0) + _bce_with_logits(fake_logits, 0.0)


def gan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -E log D(G(z)) (Goodfellow et al. 2014, section 3)."""
    return _bce_with_logits(fake_logits, 1.0)


def gan_minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax game's generator loss E log(1 - D(G(z))): it saturates where D rejects the fakes.

    This is the loss of the WGAN paper's Figure 2: its gradient vanishes as D(G(z)) goes to 0.
    """
    return -_bce_with_logits(fake_logits, 0.0)


def generator_loss(fake_scores: torch.Tensor, kind: str) -> torch.Tensor:
    """The generator loss named ``kind``: "wgan" (-f), "minimax" (log(1 - D)) or "nonsaturating" (-log D).

    The non-saturating loss is the usual practical swap for the minimax one: strong gradients where
    D(G(z)) ~ 0, but it is no longer the gradient of JS.
    """
    if kind == "wgan":
        return wgan_generator_loss(fake_scores)
    if kind == "minimax":
        return gan_minimax_generator_loss(fake_scores)
    if kind == "nonsaturating":
        return gan_generator_loss(fake_scores)
    raise ValueError(f"unknown generator loss {kind!r}; expected one of {GENERATOR_LOSSES}")


def js_estimate(discriminator_loss: Loss) -> Loss:
    """The JS divergence (nats) an optimal discriminator would imply: log 2 - L_D / 2.

    At the optimum, -L_D = 2 JS(P_r, P_g) - log 4 (Goodfellow et al. 2014, Theorem 1); the WGAN paper's
    Figure 4 plots this and shows it sitting near log 2 whatever the samples look like. Below the true JS
    when the discriminator is not optimal.
    """
    return LOG2 - 0.5 * discriminator_loss


def generator_loss_for(fake_scores: torch.Tensor, objective: str) -> torch.Tensor:
    """The generator loss ``objective`` trains with (``DEFAULT_GENERATOR_LOSS``): -f, or -log D for the GAN."""
    if objective not in DEFAULT_GENERATOR_LOSS:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    return generator_loss(fake_scores, DEFAULT_GENERATOR_LOSS[objective])


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, objective: str) -> torch.Tensor:
    """The critic's loss for ``objective``, before any penalty: minus the W estimate ("wgan") or L_D ("gan")."""
    if objective == "wgan":
        return wgan_critic_loss(real_scores, fake_scores)
    if objective == "gan":
        return gan_discriminator_loss(real_scores, fake_scores)
    raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")


def estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor, objective: str) -> torch.Tensor:
    """The distance a trained critic reads out: the W estimate ("wgan") or the JS estimate in nats ("gan")."""
    if objective == "wgan":
        return w_estimate(real_scores, fake_scores)
    if objective == "gan":
        return js_estimate(gan_discriminator_loss(real_scores, fake_scores))
    raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
    batch_dims: int = 1,
) -> torch.Tensor:
    """E[(||grad_x f(x_hat)||_2 - 1)^2] on x_hat = eps * real + (1 - eps) * fake (WGAN-GP, Algorithm 1).

    real, fake: [B, ...] (images [B, 1, 28, 28], points [B, 2]), or [E, B, ...] for an ensemble of E
    critics with batch_dims=2 (one penalty per member, [E]). eps ~ U[0, 1] per sample. The norm is taken
    per sample over all of its other dimensions (flattening each sample first avoids the classic dimension
    bug). The graph is kept (create_graph) so the penalty's own gradient reaches the critic's weights.
    """
    eps_shape = real.shape[:batch_dims] + (1,) * (real.dim() - batch_dims)
    # drawn in float32 whatever the inputs' dtype, so a float64 study draws the same eps as a float32 run
    eps = torch.rand(eps_shape, device=real.device, generator=generator).to(real.dtype)
    interpolates = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(interpolates)
    (grads,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    norms = grads.flatten(batch_dims).norm(2, dim=-1)  # [B], or [E, B]
    return ((norms - 1) ** 2).mean(-1)


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
