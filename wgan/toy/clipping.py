"""What weight clipping does to a critic: WGAN-GP paper, Section 3 and Figure 1, measured.

The generator is held fixed at real data plus N(0, I) noise (gan_toy.py's FIXED_GENERATOR), and critics
are trained long against it: a weight-clipped critic and a gradient-penalty critic of the same shape
(their value surfaces, and where their weights end up), and deep 12-layer ReLU critics clipped at
c in {0.1, 0.01, 0.001} (the gradient norm of the critic loss at each layer: it explodes or vanishes
geometrically with depth under clipping, and stays level under the penalty).
Nothing runs at import time; all randomness comes from explicit seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from wgan.objectives import METHODS, clip_weights_, critic_loss, gradient_penalty
from wgan.toy.distributions import plane_grid, sample_toy
from wgan.toy.exact import w1_exact
from wgan.toy.fitting import CRITICS, FitConfig, fit_critic, measure
from wgan.toy.networks import toy_mlp

DEEP_CLIP_VALUES: tuple[float, ...] = (0.1, 0.01, 0.001)  # WGAN-GP paper, Figure 1b


@dataclass(frozen=True)
class ClipStudyConfig:
    """Settings of the clipping study (gan_toy.py's critic shape, shrunk so a CPU trains it while a page waits)."""

    n_pool: int = 8192  # fixed real and fake samples the critics train on (minibatches drawn from them)
    batch_size: int = 256  # samples of each per critic update (gan_toy.py: 256)
    steps: int = 200  # critic updates for the two value-surface critics (learning rate cosine-decayed)
    hidden: int = 64  # width of the surface critics' 3 ReLU layers
    clip_value: float = 0.01  # c of the clipped surface critic (WGAN paper's default)
    gp_weight: float = 10.0  # lambda of the penalty critics (WGAN-GP paper's default)
    lr_clip: float = 1e-3  # RMSProp learning rate of clipped critics
    lr_gp: float = 3e-3  # Adam(0.5, 0.9) learning rate of penalty critics
    deep_depth: int = 12  # hidden ReLU layers of the deep critics (WGAN-GP paper, Figure 1b)
    deep_hidden: int = 64  # their width (c * sqrt(width) sets the per-layer gain under clipping)
    deep_steps: int = 40  # critic updates for each deep critic
    grid_size: int = 64  # value surfaces on a grid_size x grid_size grid over [-extent, extent]^2
    extent: float = 3.0
    hist_bins: int = 41  # bins of the weight histograms
    n_exact: int = 512  # real and fake samples in the exact W (optimal assignment, O(n^3))


def fixed_generator_sample(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The fixed "generator" of WGAN-GP Figure 1: real samples plus N(0, I) noise, same shape (n, 2)."""
    return real + torch.randn(real.shape, generator=generator)


def he_init_(net: nn.Module) -> nn.Module:
    """He-normal weights and zero biases for every Linear layer, as gan_toy.py's ``initialization='he'``."""
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def deep_critic_gradient_norms(
    real: torch.Tensor,
    fake: torch.Tensor,
    method: str,
    config: ClipStudyConfig,
    seed: int = 0,
    clip_value: float | None = None,
) -> np.ndarray:
    """Train a deep ReLU critic by ``method``, "wgan-clip" (clipped at ``clip_value``, by default the
    config's) or "wgan-gp" (with the penalty), and record, at every update, the norm of the gradient of
    the critic loss mean f(fake) - mean f(real) with respect to each Linear layer's output (the backward
    signal that reaches that layer).

    WGAN-GP paper, Figure 1b: under clipping these norms shrink (or grow) geometrically from the output
    layer back to the input, since each clipped layer scales the backward signal by roughly the same
    factor; under the penalty they stay level. Runs in float64 so that vanishing norms (1e-40 and
    below) stay visible instead of underflowing to zero. Returns the geometric mean over the updates
    after the first fifth, shape (deep_depth + 1,), input layer first.
    """
    objective, lipschitz = METHODS[method]
    clip_value = config.clip_value if clip_value is None else clip_value
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = he_init_(toy_mlp(2, 1, config.deep_hidden, config.deep_depth)).double()
    real, fake = real.double(), fake.double()
    linears = [m for m in net if isinstance(m, nn.Linear)]
    if lipschitz == "clip":
        clip_weights_(net.parameters(), clip_value)
        opt: torch.optim.Optimizer = torch.optim.RMSprop(net.parameters(), lr=config.lr_clip)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=config.lr_gp, betas=(0.5, 0.9))
    outputs: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if output.requires_grad:
            output.retain_grad()
            outputs.append(output)

    hooks = [m.register_forward_hook(keep) for m in linears]
    log_norms = []
    n = config.batch_size
    for _ in range(config.deep_steps):
        idx = torch.randint(0, len(real), (n,), generator=gen)
        r, f = real[idx], fake[idx]
        outputs.clear()
        scores = net(torch.cat([r, f])).squeeze(1)
        layer_outputs = list(outputs)  # the Linear outputs of this forward pass, input layer first
        loss = critic_loss(scores[:n], scores[n:], objective)
        if lipschitz == "gp":
            loss = loss + config.gp_weight * gradient_penalty(net, r, f, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norms = torch.stack([o.grad.norm() for o in layer_outputs])
        log_norms.append(torch.log(norms.clamp_min(1e-300)))
        opt.step()
        if lipschitz == "clip":
            clip_weights_(net.parameters(), clip_value)
    for h in hooks:
        h.remove()
    burn_in = config.deep_steps // 5
    return torch.stack(log_norms[burn_in:]).mean(0).exp().numpy()


def _weights(critic: nn.Module) -> np.ndarray:
    """All weight-matrix entries of a critic, flattened (biases left out)."""
    weights = [p.detach().ravel() for name, p in critic.named_parameters() if "weight" in name]
    return torch.cat(weights).numpy()


def clipping_study(dataset: str, seed: int = 0, config: ClipStudyConfig | None = None) -> dict[str, object]:
    """Train the clipped and penalty critics against the fixed generator and read them out.

    Returns small numpy arrays: "grid" (grid_size,), "real" and "fake" (500, 2) points to draw; per critic
    method ("wgan-clip" clipped, "wgan-gp" penalised) "surface" (grid_size, grid_size) critic values (rows along
    y), "w" the W estimate, "hist" and "hist_edges" the weight histogram (the clipped one over [-c, c]);
    "w_exact" (exact W1 between n_exact real and n_exact fixed-generator samples), "frac_at_bound" (share
    of clipped weights within 1% of +-c), and "deep_layers" (1..deep_depth + 1) with "deep_norms"
    {label: (n_layers,)} for c in DEEP_CLIP_VALUES and for the penalty, and "deep_spans" {label: first
    layer's norm / last layer's}.
    """
    config = config or ClipStudyConfig()
    gen = torch.Generator().manual_seed(seed)
    real = sample_toy(dataset, config.n_pool, gen)
    fake = fixed_generator_sample(sample_toy(dataset, config.n_pool, gen), gen)
    real_eval = sample_toy(dataset, 2048, gen)
    fake_eval = fixed_generator_sample(sample_toy(dataset, 2048, gen), gen)

    base = FitConfig(
        steps=config.steps,
        hidden=config.hidden,
        depth=3,
        clip_value=config.clip_value,
        gp_weight=config.gp_weight,
        lr=config.lr_gp,
        lr_clip=config.lr_clip,
        batch_size=config.batch_size,
        standardize=False,
    )
    critics = {method: fit_critic(method, real, fake, base, seed) for method in CRITICS}

    coords, grid = plane_grid(config.extent, config.grid_size)
    with torch.no_grad():
        surface = {m: c(grid).reshape(config.grid_size, config.grid_size).numpy() for m, c in critics.items()}

    c = config.clip_value
    weights = {m: _weights(critic) for m, critic in critics.items()}
    hist, edges = {}, {}
    hist["wgan-clip"], edges["wgan-clip"] = np.histogram(weights["wgan-clip"], bins=config.hist_bins, range=(-c, c))
    hist["wgan-gp"], edges["wgan-gp"] = np.histogram(weights["wgan-gp"], bins=config.hist_bins)

    deep_norms: dict[str, np.ndarray] = {}
    for clip_value in DEEP_CLIP_VALUES:
        norms = deep_critic_gradient_norms(real, fake, "wgan-clip", config, seed, clip_value)
        deep_norms[f"clip c={clip_value:g}"] = norms
    deep_norms["gradient penalty"] = deep_critic_gradient_norms(real, fake, "wgan-gp", config, seed)

    show = slice(0, 500)
    return {
        "grid": coords,
        "real": real_eval[show].numpy(),
        "fake": fake_eval[show].numpy(),
        "surface": surface,
        "w": {m: measure(critic, real_eval, fake_eval) for m, critic in critics.items()},
        "w_exact": w1_exact(real_eval[: config.n_exact].numpy(), fake_eval[: config.n_exact].numpy()),
        "hist": hist,
        "hist_edges": edges,
        "frac_at_bound": float((np.abs(weights["wgan-clip"]) >= 0.99 * c).mean()),
        "deep_layers": np.arange(1, config.deep_depth + 2),
        "deep_norms": deep_norms,
        "deep_spans": {label: float(v[0] / v[-1]) for label, v in deep_norms.items()},
    }
