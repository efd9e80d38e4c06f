"""Critics and discriminators trained to optimality on fixed samples, then read out.

This is the measuring side of the toy page: a GAN discriminator ("gan"), a weight-clipped critic ("wgan-clip",
WGAN paper, Algorithm 1) and a gradient-penalty critic ("wgan-gp", WGAN-GP paper, Algorithm 1) are trained
to (near) optimality against fixed real and fake samples, then read out: the W estimate
mean f(real) - mean f(fake), the JS estimate from the discriminator, and the gradient each hands back to
the generator. The WGAN paper's Example 1 and Figure 2 are measured this way.

Methods are named as in ``wgan.objectives.METHODS`` (an objective and a Lipschitz control each); losses,
penalty, clipping and estimates come from ``wgan.objectives``. All randomness goes through explicit seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wgan import objectives
from wgan.objectives import clip_weights_, critic_loss, generator_loss, gradient_penalty
from wgan.toy.distributions import sample_parallel_lines
from wgan.toy.exact import (
    gaussian_js,
    gaussian_pdf,
    gaussian_w1,
    optimal_discriminator,
    optimal_minimax_gradient,
    parallel_lines_divergences,
    w1_sorted,
)
from wgan.toy.networks import EnsembleMLP

METHODS: tuple[str, ...] = tuple(objectives.METHODS)  # "gan", "wgan-clip", "wgan-gp": GAN first, as the page shows
# the methods whose network is a critic f, not a discriminator D
CRITICS: tuple[str, ...] = tuple(m for m, (objective, _) in objectives.METHODS.items() if objective == "wgan")


@dataclass(frozen=True)
class FitConfig:
    """How a critic or discriminator is trained to (near) optimality on fixed samples."""

    steps: int = 400  # optimiser steps; full batch when batch_size >= the number of samples
    lr: float = 5e-3  # Adam(0.5, 0.9) learning rate of the discriminator and the penalty critic
    lr_clip: float = 1e-3  # RMSProp learning rate of the clipped critic (weights live in [-c, c])
    hidden: int = 64  # width of the MLP's hidden layers
    depth: int = 2  # number of hidden layers
    clip_value: float = 0.01  # c of the clipped critic (WGAN paper's default)
    gp_weight: float = 10.0  # lambda of the penalty critic (WGAN-GP paper's default)
    batch_size: int = 4096  # samples per step (drawn with replacement when smaller than the sample)
    standardize: bool = True  # put a fixed (x - mean) / std of the pooled samples in front of the MLP
    activation: str = "relu"  # "relu" or "silu" (smooth, for pointwise gradients)
    gp_warmup: float = 0.25  # the penalty weight ramps up linearly over this fraction of the steps
    lr_decay: bool = True  # cosine-decay the learning rate to zero, so the fit settles at the end


def fit_critics(method: str, real: torch.Tensor, fake: torch.Tensor, config: FitConfig, seed: int = 0) -> EnsembleMLP:
    """Train E discriminators ("gan"), clipped critics ("wgan-clip") or penalty critics ("wgan-gp") at once.

    real, fake: (E, n, d); member e trains on real[e] and fake[e] only. The GAN discriminator maximises
    mean log D(real) + mean log(1 - D(fake)); the critics maximise the W estimate
    mean f(real) - mean f(fake), under clipping to [-c, c] after every step (WGAN paper, Algorithm 1) or
    minus gp_weight times the gradient penalty (WGAN-GP paper, Algorithm 1). Returns the ensemble in eval
    mode.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    n_models, n, dim = real.shape
    objective, lipschitz = objectives.METHODS[method]
    clip = lipschitz == "clip"
    gen = torch.Generator().manual_seed(seed)
    net = EnsembleMLP(n_models, dim, 1, config.hidden, config.depth, config.activation, seed)
    if config.standardize:
        net.standardize_(torch.cat([real, fake], dim=-2))
    if clip:
        clip_weights_(net.parameters(), config.clip_value)
        base_lr = config.lr_clip
        opt: torch.optim.Optimizer = torch.optim.RMSprop(net.parameters(), lr=base_lr)  # no momentum
    else:
        base_lr = config.lr
        opt = torch.optim.Adam(net.parameters(), lr=base_lr, betas=(0.5, 0.9))  # WGAN-GP's betas
    members = torch.arange(n_models).unsqueeze(1)
    warmup = max(1.0, config.gp_warmup * config.steps)
    for step in range(config.steps):
        if config.lr_decay:
            for group in opt.param_groups:
                group["lr"] = base_lr * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        if config.batch_size >= n:
            r, f = real, fake
        else:
            r = real[members, torch.randint(0, n, (n_models, config.batch_size), generator=gen)]
            f = fake[members, torch.randint(0, n, (n_models, config.batch_size), generator=gen)]
        scores = net(torch.cat([r, f], dim=-2)).squeeze(-1)  # (E, 2 * batch)
        s_r, s_f = scores[:, : r.shape[1]], scores[:, r.shape[1] :]
        loss = critic_loss(s_r, s_f, objective)  # (E,)
        if lipschitz == "gp":
            # ramping the weight up lets the critic find the sign of its slope first; a full-weight
            # penalty from step 0 can lock a critic into slope -1 (a W estimate of -W1)
            weight = config.gp_weight * min(1.0, step / warmup)
            loss = loss + weight * gradient_penalty(net, r, f, gen, batch_dims=2)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # per-member losses summed: members stay independent
        opt.step()
        if clip:
            clip_weights_(net.parameters(), config.clip_value)
    return net.eval()


def fit_critic(method: str, real: torch.Tensor, fake: torch.Tensor, config: FitConfig, seed: int = 0) -> EnsembleMLP:
    """``fit_critics`` for one network: real, fake (n, d); the result maps (n, d) to (n, 1)."""
    return fit_critics(method, real.unsqueeze(0), fake.unsqueeze(0), config, seed)


@torch.no_grad()
def measure(net: nn.Module, real: torch.Tensor, fake: torch.Tensor, objective: str = "wgan") -> float:
    """A trained network's estimate on samples (n, d): a critic's W estimate mean f(real) - mean f(fake)
    ("wgan") or a discriminator's JS estimate log 2 - L_D / 2 in nats ("gan"; GAN paper, Theorem 1)."""
    return float(objectives.estimate(net(real).squeeze(-1), net(fake).squeeze(-1), objective))


def input_gradient(net: nn.Module, x: torch.Tensor, loss: str = "wgan") -> torch.Tensor:
    """d loss / dx at each sample of x, (n, d), for a per-sample generator loss on net's output.

    loss is "wgan" (-f(x)), "minimax" (log(1 - D(x))) or "nonsaturating" (-log D(x)), see
    ``wgan.objectives.generator_loss``. The generator moves each fake sample along minus this gradient.
    """
    x = x.detach().clone().requires_grad_(True)
    out = net(x).squeeze(1)
    per_sample = generator_loss(out, loss) * len(x)  # undo the mean: d/dx_i of the i-th sample's loss
    (grad,) = torch.autograd.grad(per_sample, x)
    return grad


# --------------------------------------------------------------------------------------------------
# The WGAN paper's Example 1 and Figure 2, measured
# --------------------------------------------------------------------------------------------------

# Example 1: small nets, few full-batch steps (the problem is linearly separable after standardising);
# gp_weight 100 keeps the penalty critic's overshoot |theta| / (2 gp_weight) under 1%
LINES_FIT = FitConfig(steps=200, lr=2e-2, hidden=32, depth=2, gp_weight=100.0, batch_size=512)
LINES_THETAS: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.1, 0.5, 1.0)
LINES_N = 512  # samples of each line per theta, for training and again for reading out


def parallel_lines_estimates(
    thetas: tuple[float, ...] = LINES_THETAS, n: int = LINES_N, seed: int = 0, config: FitConfig = LINES_FIT
) -> dict[str, np.ndarray]:
    """JS from a trained discriminator and W from a trained penalty critic, at each theta (Example 1).

    For each theta, n samples of P_0 (real) and of P_theta (fake) train one discriminator and one critic
    (all thetas at once, as ensembles); the estimates are read on fresh samples. Expect JS ~= log 2 at
    every theta != 0 (the discriminator separates the lines perfectly), 0 at theta = 0, and W ~= |theta|.
    Returns arrays keyed theta, JS, W, JS_exact, W_exact.
    """
    gen = torch.Generator().manual_seed(seed)

    def draw(theta: float) -> torch.Tensor:
        return sample_parallel_lines(theta, n, gen)

    real = torch.stack([draw(0.0) for _ in thetas])  # (E, n, 2)
    fake = torch.stack([draw(t) for t in thetas])
    real_eval = torch.stack([draw(0.0) for _ in thetas])
    fake_eval = torch.stack([draw(t) for t in thetas])
    disc = fit_critics("gan", real, fake, config, seed)
    critic = fit_critics("wgan-gp", real, fake, config, seed)
    with torch.no_grad():
        js = objectives.estimate(disc(real_eval).squeeze(-1), disc(fake_eval).squeeze(-1), "gan")
        w = objectives.estimate(critic(real_eval).squeeze(-1), critic(fake_eval).squeeze(-1), "wgan")
    exact = parallel_lines_divergences(np.asarray(thetas))
    return {
        "theta": np.asarray(thetas, dtype=np.float64),
        "JS": js.double().numpy(),
        "W": w.double().numpy(),
        "JS_exact": exact["JS"],
        "W_exact": exact["W"],
    }


# Figure 2: smooth (SiLU) nets so the gradient at one point is meaningful; 150 full-batch steps with a
# cosine-decayed learning rate. With a two-sided penalty the optimal critic's slope is about
# 1 + W1 / (2 gp_weight) (it trades penalty for estimate), so gp_weight 100 keeps the W estimate within
# W1 / 200 of W1 (2% at W1 = 4), where the WGAN-GP paper's 10 would overshoot by 20%.
GAUSS_FIT = FitConfig(steps=150, lr=1e-2, hidden=16, depth=2, gp_weight=100.0, activation="silu")
GAUSS_N = 2048  # samples of each Gaussian for training, and again for reading out


def two_gaussians_experiment(
    mu_real: float,
    mu_fake: float,
    sigma: float,
    n: int = GAUSS_N,
    seed: int = 0,
    config: FitConfig = GAUSS_FIT,
    n_grid: int = 400,
    n_show: int = 200,
) -> dict[str, object]:
    """WGAN paper, Figure 2, measured: real N(mu_real, sigma^2) against fake N(mu_fake, sigma^2).

    Trains, on n samples of each, a GAN discriminator, a weight-clipped critic and a gradient-penalty
    critic to (near) optimality (``config``; full-batch steps), then reads out on fresh samples:
    - curves on the grid "x": both densities "p_real" and "p_fake", the trained "D"(x), the optimal
      "D_star"(x), and "f" {"wgan-clip", "wgan-gp"}: each critic's f(x), shifted so its mean over the real
      samples is 0 (only differences of f matter);
    - "grad" {"minimax", "nonsaturating", "wgan-clip", "wgan-gp"}: the generator's gradient d loss / dx at the
      n_show samples "fake_shown", for the minimax loss log(1 - D), the non-saturating loss -log D and each
      critic's -f; "grad_at_mean" (same keys): its size at the fake mean, and "grad_at_mean_minimax_exact"
      through D*;
    - "W1_exact" (closed form), "W1_sorted" (from sorted samples), "W" {"wgan-clip", "wgan-gp"} (each critic's W
      estimate), "K_clip" (the clipped critic's implied Lipschitz constant K = estimate / W1), "JS_exact"
      (quadrature) and "JS_estimate" (the discriminator's);
    - "ratio_minimax_to_critic": the minimax gradient at the fake mean over the penalty critic's.
    """
    gen = torch.Generator().manual_seed(seed)
    real = (mu_real + sigma * torch.randn(n, 1, generator=gen)).float()
    fake = (mu_fake + sigma * torch.randn(n, 1, generator=gen)).float()
    real_eval = (mu_real + sigma * torch.randn(n, 1, generator=gen)).float()
    fake_eval = (mu_fake + sigma * torch.randn(n, 1, generator=gen)).float()
    nets = {method: fit_critic(method, real, fake, config, seed) for method in METHODS}

    lo, hi = min(mu_real, mu_fake) - 4 * sigma, max(mu_real, mu_fake) + 4 * sigma
    x = torch.linspace(lo, hi, n_grid).unsqueeze(1)
    x_np = x.squeeze(1).double().numpy()
    with torch.no_grad():
        d_x = torch.sigmoid(nets["gan"](x)).squeeze(1).double().numpy()
        f = {m: (nets[m](x) - nets[m](real_eval).mean()).squeeze(1).double().numpy() for m in CRITICS}

    shown = fake_eval[:n_show]
    at_mean = torch.tensor([[float(mu_fake)]])
    losses = {"minimax": ("gan", "minimax"), "nonsaturating": ("gan", "nonsaturating")}
    losses.update({m: (m, "wgan") for m in CRITICS})
    grads = {key: input_gradient(nets[m], shown, loss) for key, (m, loss) in losses.items()}
    grad_at_mean = {key: float(input_gradient(nets[m], at_mean, loss).abs()) for key, (m, loss) in losses.items()}

    w1 = gaussian_w1(mu_real, mu_fake, sigma)
    w = {m: measure(nets[m], real_eval, fake_eval) for m in CRITICS}
    g_gp = grad_at_mean["wgan-gp"]
    return {
        "x": x_np,
        "p_real": gaussian_pdf(x_np, mu_real, sigma),
        "p_fake": gaussian_pdf(x_np, mu_fake, sigma),
        "D": d_x,
        "D_star": optimal_discriminator(x_np, mu_real, mu_fake, sigma),
        "f": f,
        "fake_shown": shown.squeeze(1).double().numpy(),
        "grad": {key: v.squeeze(1).double().numpy() for key, v in grads.items()},
        "grad_at_mean": grad_at_mean,
        "grad_at_mean_minimax_exact": float(abs(optimal_minimax_gradient(mu_fake, mu_real, mu_fake, sigma))),
        "W1_exact": w1,
        "W1_sorted": w1_sorted(real_eval.numpy(), fake_eval.numpy()),
        "W": w,
        "K_clip": w["wgan-clip"] / w1 if w1 > 0 else math.nan,
        "JS_exact": gaussian_js(mu_real, mu_fake, sigma),
        "JS_estimate": measure(nets["gan"], real_eval, fake_eval, "gan"),
        "ratio_minimax_to_critic": grad_at_mean["minimax"] / g_gp if g_gp > 0 else math.nan,
    }
