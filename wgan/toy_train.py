"""Toy MLPs, their losses, and critics/discriminators trained to optimality on fixed distributions.

This is the measuring side of the toy page: a GAN discriminator, a weight-clipped critic (WGAN paper,
Algorithm 1) and a gradient-penalty critic (WGAN-GP paper, Algorithm 1) are trained to (near) optimality
against fixed real and fake samples, then read out: the W estimate mean f(real) - mean f(fake), the JS
estimate from the discriminator, and the gradient each hands back to the generator.

Losses are small pure functions here (the toy page does not depend on the image-model objectives).
All randomness goes through an explicit ``torch.Generator`` or seed; nothing runs at import time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wgan.objectives import clip_weights_
from wgan.toy_data import (
    LOG2,
    gaussian_js,
    gaussian_pdf,
    gaussian_w1,
    optimal_minimax_gradient,
    parallel_lines_divergences,
    sample_parallel_lines,
    w1_sorted,
)

CriticKind = Literal["gan", "clip", "gp"]
CRITIC_KINDS: tuple[CriticKind, ...] = ("gan", "clip", "gp")


# --------------------------------------------------------------------------------------------------
# Models and losses
# --------------------------------------------------------------------------------------------------


@contextmanager
def limit_threads(n: int = 1) -> Iterator[None]:
    """Run a block with at most ``n`` intra-op torch threads, then restore the previous setting.

    The toy networks are far too small to gain from intra-op threads, and on a shared 2-core machine
    OpenMP's default spin-waiting made 2 threads 30 to 60 times slower than 1 (measured; the setting
    ``OMP_WAIT_POLICY=PASSIVE`` also cures it). torch keeps this setting per calling thread (it is also
    the default for threads started meanwhile), so wrap only the caller's own work.
    """
    before = torch.get_num_threads()
    if before > n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU}


def toy_mlp(
    in_dim: int, out_dim: int, hidden: int = 64, depth: int = 3, activation: str = "relu"
) -> nn.Sequential:
    """An MLP with ``depth`` hidden layers of width ``hidden``, ReLU (or SiLU) and no normalisation.

    The toy generator (2 -> 2) and critic (2 -> 1) of WGAN-GP's gan_toy.py have this shape with
    hidden = 512, depth = 3, ReLU; the critic has no sigmoid (WGAN paper, Section 3): a GAN discriminator
    is the same network read as a logit. SiLU gives smooth functions whose gradient at a single point is
    meaningful (used for the 1-D measurements).
    """
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def seeded_mlp(
    seed: int, in_dim: int, out_dim: int, hidden: int = 64, depth: int = 3, activation: str = "relu"
) -> nn.Sequential:
    """``toy_mlp`` with weights drawn from ``seed`` only (same seed, same weights, whatever ran before)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return toy_mlp(in_dim, out_dim, hidden, depth, activation)


class EnsembleMLP(nn.Module):
    """E independent MLPs of one shape, evaluated together with batched matrix products.

    Member e maps x[e], shape (n, in_dim), to (n, out_dim); a 2-D input (n, in_dim) goes to every
    member. Output (E, n, out_dim), or (n, out_dim) when E = 1 and the input is 2-D. A fixed input map
    (x - shift) / scale per member (buffers, no parameters) comes first. Each member is initialised like
    ``nn.Linear`` (weights and biases uniform in +-1/sqrt(fan_in)).

    Losses summed over members give every member exactly the gradient it would get alone, and Adam,
    RMSProp and clipping act elementwise, so training the ensemble is training E networks separately,
    with one set of kernel launches per step instead of E.
    """

    def __init__(
        self,
        n_models: int,
        in_dim: int,
        out_dim: int,
        hidden: int = 64,
        depth: int = 2,
        activation: str = "relu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        dims = [in_dim] + [hidden] * depth + [out_dim]
        self.n_models = n_models
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            w = (2 * torch.rand(n_models, fan_in, fan_out, generator=gen) - 1) * bound
            b = (2 * torch.rand(n_models, 1, fan_out, generator=gen) - 1) * bound
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
        self.activation = ACTIVATIONS[activation]()
        self.register_buffer("shift", torch.zeros(n_models, 1, in_dim))
        self.register_buffer("scale", torch.ones(n_models, 1, in_dim))

    def standardize_(self, samples: torch.Tensor) -> EnsembleMLP:
        """Set each member's input map to (x - mean) / std of its samples, shape (E, n, in_dim)."""
        self.shift.copy_(samples.mean(-2, keepdim=True))
        self.scale.copy_(samples.std(-2, keepdim=True).clamp_min(1e-6))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = x.dim() == 2
        if single:
            x = x.unsqueeze(0).expand(self.n_models, -1, -1)
        h = (x - self.shift) / self.scale
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)  # (E, n, fan_out)
            if i < last:
                h = self.activation(h)
        return h.squeeze(0) if single and self.n_models == 1 else h


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss mean f(fake) - mean f(real): minus the W estimate (WGAN paper, Algorithm 1).

    Means run over the last axis (samples); leading axes index independent models.
    """
    return fake_scores.mean(-1) - real_scores.mean(-1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """GAN discriminator loss -[mean log D(real) + mean log(1 - D(fake))], from logits, stably.

    At the optimum D* it equals 2 log 2 - 2 JS (GAN paper, Theorem 1), so JS = log 2 - loss / 2.
    Means over the last axis, like ``critic_loss``.
    """
    return F.softplus(-real_logits).mean(-1) + F.softplus(fake_logits).mean(-1)


GeneratorLoss = Literal["wgan", "minimax", "nonsaturating"]


def generator_loss(fake_scores: torch.Tensor, kind: GeneratorLoss | str) -> torch.Tensor:
    """Generator loss on the critic's/discriminator's output at fake samples (mean over the last axis).

    wgan: -mean f(G(z)) (WGAN paper, Algorithm 1). minimax: mean log(1 - D(G(z))), the loss of the GAN
    game and of the WGAN paper's Figure 2. nonsaturating: -mean log D(G(z)), the usual practical swap: it
    gives strong gradients where D(G(z)) ~ 0 but is no longer the gradient of JS.
    """
    if kind == "wgan":
        return -fake_scores.mean(-1)
    if kind == "minimax":
        return -F.softplus(fake_scores).mean(-1)  # log(1 - sigmoid(l)) = -softplus(l)
    if kind == "nonsaturating":
        return F.softplus(-fake_scores).mean(-1)  # -log sigmoid(l) = softplus(-l)
    raise ValueError(f"unknown generator loss {kind!r}")


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """WGAN-GP penalty mean (||grad f(x_hat)|| - 1)^2 at random interpolates (WGAN-GP paper, Algorithm 1).

    x_hat = eps * real + (1 - eps) * fake, one eps ~ U[0, 1] per pair. real and fake are (n, d), or
    (E, n, d) for an ensemble (then one penalty per member, shape (E,)).
    """
    eps = torch.rand(*real.shape[:-1], 1, generator=generator)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=-1) - 1.0) ** 2).mean(-1)


# --------------------------------------------------------------------------------------------------
# Training a critic or discriminator to optimality against fixed samples
# --------------------------------------------------------------------------------------------------


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


def fit_critics(
    kind: CriticKind, real: torch.Tensor, fake: torch.Tensor, config: FitConfig, seed: int = 0
) -> EnsembleMLP:
    """Train E discriminators ("gan"), clipped critics ("clip") or penalty critics ("gp") at once.

    real, fake: (E, n, d); member e trains on real[e] and fake[e] only. The GAN discriminator maximises
    mean log D(real) + mean log(1 - D(fake)); the critics maximise the W estimate
    mean f(real) - mean f(fake), under clipping to [-c, c] after every step (WGAN paper, Algorithm 1) or
    minus gp_weight times the gradient penalty (WGAN-GP paper, Algorithm 1). Returns the ensemble in eval
    mode.
    """
    if kind not in CRITIC_KINDS:
        raise ValueError(f"unknown critic kind {kind!r}; expected one of {CRITIC_KINDS}")
    n_models, n, dim = real.shape
    clip = kind == "clip"
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
        loss = discriminator_loss(s_r, s_f) if kind == "gan" else critic_loss(s_r, s_f)  # (E,)
        if kind == "gp":
            # ramping the weight up lets the critic find the sign of its slope first; a full-weight
            # penalty from step 0 can lock a critic into slope -1 (a W estimate of -W1)
            weight = config.gp_weight * min(1.0, step / warmup)
            loss = loss + weight * gradient_penalty(net, r, f, gen)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # per-member losses summed: members stay independent
        opt.step()
        if clip:
            clip_weights_(net.parameters(), config.clip_value)
    return net.eval()


def fit_critic(
    kind: CriticKind, real: torch.Tensor, fake: torch.Tensor, config: FitConfig, seed: int = 0
) -> EnsembleMLP:
    """``fit_critics`` for one network: real, fake (n, d); the result maps (n, d) to (n, 1)."""
    return fit_critics(kind, real.unsqueeze(0), fake.unsqueeze(0), config, seed)


@torch.no_grad()
def w_estimate(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """The W estimate mean f(real) - mean f(fake) (minus the critic loss; WGAN paper, Section 3)."""
    return float(-critic_loss(critic(real).squeeze(-1), critic(fake).squeeze(-1)))


@torch.no_grad()
def js_estimate(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """JS estimate (nats) log 2 - L_D / 2 from a discriminator's loss L_D (GAN paper, Theorem 1).

    Exact when the discriminator is optimal; below the true JS otherwise.
    """
    loss = discriminator_loss(discriminator(real).squeeze(1), discriminator(fake).squeeze(1))
    return LOG2 - 0.5 * float(loss)


def input_gradient(net: nn.Module, x: torch.Tensor, loss: str = "wgan") -> torch.Tensor:
    """d loss / dx at each sample of x, (n, d), for a per-sample generator loss on net's output.

    loss is "wgan" (-f(x)), "minimax" (log(1 - D(x))) or "nonsaturating" (-log D(x)), see
    ``generator_loss``. The generator moves each fake sample along minus this gradient.
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
    critic = fit_critics("gp", real, fake, config, seed)
    with torch.no_grad():
        js = LOG2 - 0.5 * discriminator_loss(disc(real_eval).squeeze(-1), disc(fake_eval).squeeze(-1))
        w = -critic_loss(critic(real_eval).squeeze(-1), critic(fake_eval).squeeze(-1))
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
) -> dict[str, np.ndarray | float]:
    """WGAN paper, Figure 2, measured: real N(mu_real, sigma^2) against fake N(mu_fake, sigma^2).

    Trains, on n samples of each, a GAN discriminator, a weight-clipped critic and a gradient-penalty
    critic to (near) optimality (``config``; full-batch steps), then reads out on fresh samples:
    - curves on a grid: both densities, D(x), the optimal D*(x), f_clip(x) and f_gp(x) (each critic
      shifted so its mean over the real samples is 0, as only differences of f matter);
    - the generator's gradient d loss / dx at n_show fake samples for the minimax loss log(1 - D),
      the non-saturating loss -log D and each critic's -f;
    - exact W1 (closed form and from sorted samples), each critic's W estimate, the clipped critic's
      implied Lipschitz constant K = estimate / W1, exact JS (quadrature) and the discriminator's JS;
    - the minimax gradient at the fake mean against the penalty critic's (the vanishing-gradient ratio).
    """
    gen = torch.Generator().manual_seed(seed)
    real = (mu_real + sigma * torch.randn(n, 1, generator=gen)).float()
    fake = (mu_fake + sigma * torch.randn(n, 1, generator=gen)).float()
    real_eval = (mu_real + sigma * torch.randn(n, 1, generator=gen)).float()
    fake_eval = (mu_fake + sigma * torch.randn(n, 1, generator=gen)).float()
    nets = {kind: fit_critic(kind, real, fake, config, seed) for kind in CRITIC_KINDS}

    lo, hi = min(mu_real, mu_fake) - 4 * sigma, max(mu_real, mu_fake) + 4 * sigma
    x = torch.linspace(lo, hi, n_grid).unsqueeze(1)
    x_np = x.squeeze(1).double().numpy()
    with torch.no_grad():
        d_x = torch.sigmoid(nets["gan"](x)).squeeze(1).double().numpy()
        f_clip = (nets["clip"](x) - nets["clip"](real_eval).mean()).squeeze(1).double().numpy()
        f_gp = (nets["gp"](x) - nets["gp"](real_eval).mean()).squeeze(1).double().numpy()
    d_star = 1.0 / (1.0 + np.exp(-((x_np - mu_fake) ** 2 - (x_np - mu_real) ** 2) / (2 * sigma**2)))

    shown = fake_eval[:n_show]
    grads = {
        "minimax": input_gradient(nets["gan"], shown, "minimax"),
        "nonsaturating": input_gradient(nets["gan"], shown, "nonsaturating"),
        "clip": input_gradient(nets["clip"], shown, "wgan"),
        "gp": input_gradient(nets["gp"], shown, "wgan"),
    }
    at_mean = torch.tensor([[float(mu_fake)]])
    g_minimax = float(input_gradient(nets["gan"], at_mean, "minimax").abs())
    g_nonsat = float(input_gradient(nets["gan"], at_mean, "nonsaturating").abs())
    g_clip = float(input_gradient(nets["clip"], at_mean, "wgan").abs())
    g_gp = float(input_gradient(nets["gp"], at_mean, "wgan").abs())

    w1 = gaussian_w1(mu_real, mu_fake, sigma)
    w_clip = w_estimate(nets["clip"], real_eval, fake_eval)
    return {
        "x": x_np,
        "p_real": gaussian_pdf(x_np, mu_real, sigma),
        "p_fake": gaussian_pdf(x_np, mu_fake, sigma),
        "D": d_x,
        "D_star": d_star,
        "f_clip": f_clip,
        "f_gp": f_gp,
        "fake_shown": shown.squeeze(1).double().numpy(),
        **{f"grad_{k}": v.squeeze(1).double().numpy() for k, v in grads.items()},
        "W1_exact": w1,
        "W1_sorted": w1_sorted(real_eval.numpy(), fake_eval.numpy()),
        "W_clip": w_clip,
        "K_clip": w_clip / w1 if w1 > 0 else math.nan,
        "W_gp": w_estimate(nets["gp"], real_eval, fake_eval),
        "JS_exact": gaussian_js(mu_real, mu_fake, sigma),
        "JS_gan": js_estimate(nets["gan"], real_eval, fake_eval),
        "grad_at_mean_minimax": g_minimax,
        "grad_at_mean_nonsaturating": g_nonsat,
        "grad_at_mean_clip": g_clip,
        "grad_at_mean_gp": g_gp,
        "grad_at_mean_minimax_exact": float(abs(optimal_minimax_gradient(mu_fake, mu_real, mu_fake, sigma))),
        "ratio_minimax_to_gp": g_minimax / g_gp if g_gp > 0 else math.nan,
    }
