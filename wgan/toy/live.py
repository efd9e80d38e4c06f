"""GAN, WGAN (weight clipping) and WGAN-GP trained side by side on a 2-D toy distribution, in chunks.

``init_toy_run`` builds the three runs from one seed (identical generator and critic weights, identical
noise streams); ``toy_train_step`` advances each by one generator iteration (``n_critic`` critic updates
then one generator update: WGAN paper, Algorithm 1; WGAN-GP paper, Algorithm 1). The caller owns the
loop, so a Streamlit fragment can run a few dozen steps per tick (``train_for``). ``toy_snapshot`` reads
the state out as small numpy arrays: points, the critic's value field, the generator's gradient at fake
points, the W estimate against the exact W between fake and real samples, and mode coverage;
``current_snapshot`` does so once per step and keeps the run's exact-W history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from wgan import objectives
from wgan.objectives import clip_weights_, critic_loss, generator_loss, gradient_penalty
from wgan.toy.distributions import count_modes, plane_grid, sample_toy, toy_modes
from wgan.toy.exact import w1_exact
from wgan.toy.fitting import METHODS, input_gradient, measure
from wgan.toy.networks import seeded_mlp


@dataclass(frozen=True)
class ToyConfig:
    """Hyperparameters of the live 2-D comparison (gan_toy.py's, shrunk to train fast on a CPU)."""

    hidden: int = 64  # width of the generator's and critic's 3 ReLU layers (gan_toy.py: 512)
    depth: int = 3  # hidden layers in each network
    z_dim: int = 2  # generator input N(0, I) dimension (gan_toy.py: 2)
    batch_size: int = 256  # real and fake samples per update (gan_toy.py: 256)
    n_critic: int = 5  # critic (or discriminator) updates per generator update, all three methods
    clip_value: float = 0.01  # c for WGAN (clip) (WGAN paper: 0.01)
    gp_weight: float = 1.0  # lambda for WGAN-GP: gan_toy.py's 0.1 lets the W estimate overshoot the exact W
    # early on; the paper's 10 learns slower here; 1 learns as fast as 0.1 and stays below the exact W
    lr_gan: float = 1e-3  # Adam(0.5, 0.9) for the GAN's discriminator and generator
    lr_clip: float = 3e-4  # RMSProp for WGAN (clip), no momentum (WGAN paper: 5e-5; 1e-3 thrashes the
    # weights across [-c, c] and never settles, 3e-4 covers all 8 Gaussians in ~1,000 iterations)
    lr_gp: float = 1e-3  # Adam(0.5, 0.9) for WGAN-GP (WGAN-GP paper, Algorithm 1)
    gan_loss: str = "nonsaturating"  # GAN generator loss: "nonsaturating" (-log D) or "minimax"
    n_eval: int = 512  # fixed real samples and fixed z used for every snapshot
    history: int = 5000  # most recent per-step estimates kept per method
    exact_w_points: int = 400  # most recent snapshots' exact W kept for the history chart


@dataclass
class MethodState:
    """One method's networks, optimisers, noise stream and record."""

    method: str  # "gan", "wgan-clip" or "wgan-gp" (wgan.objectives.METHODS)
    generator: nn.Sequential
    critic: nn.Sequential  # the GAN's discriminator outputs a logit
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    rng: torch.Generator
    seconds: float = 0.0  # wall time spent in toy_train_step for this method
    estimates: list[float] = field(default_factory=list)  # per step: W estimate, or JS estimate (GAN)


@dataclass
class ToyRun:
    """The live comparison: three methods on one dataset from one seed, and the shared evaluation set."""

    dataset: str
    seed: int
    config: ToyConfig
    methods: dict[str, MethodState]
    eval_real: torch.Tensor  # (n_eval, 2) fixed real samples for snapshots
    eval_z: torch.Tensor  # (n_eval, z_dim) fixed noise for snapshots
    step: int = 0  # generator iterations done (the same for every method)
    # {"step": s, method: exact W at s} for each step a snapshot was taken at (the latest exact_w_points)
    exact_w_history: list[dict[str, float]] = field(default_factory=list)
    snapshot: dict[str, object] | None = None  # the latest ``current_snapshot``, taken at snapshot["step"]


def _optimizers(method: str, g: nn.Module, c: nn.Module, config: ToyConfig) -> tuple:
    objective, lipschitz = objectives.METHODS[method]
    if lipschitz == "clip":
        return (
            torch.optim.RMSprop(g.parameters(), lr=config.lr_clip, foreach=True),
            torch.optim.RMSprop(c.parameters(), lr=config.lr_clip, foreach=True),
        )
    lr = config.lr_gan if objective == "gan" else config.lr_gp
    return (
        torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.9), fused=True),
        torch.optim.Adam(c.parameters(), lr=lr, betas=(0.5, 0.9), fused=True),
    )


def _generator_loss_kind(method: str, config: ToyConfig) -> str:
    objective, _ = objectives.METHODS[method]
    return config.gan_loss if objective == "gan" else objectives.DEFAULT_GENERATOR_LOSS[objective]


def init_toy_run(dataset: str, seed: int = 0, config: ToyConfig | None = None) -> ToyRun:
    """Three methods with identical initial generator and critic weights and identical noise streams.

    The clipped critic starts clipped, so its first update already sees a c-bounded network.
    """
    config = config or ToyConfig()
    methods = {}
    for method in METHODS:
        g = seeded_mlp(seed, config.z_dim, 2, config.hidden, config.depth)
        c = seeded_mlp(seed + 1, 2, 1, config.hidden, config.depth)
        if objectives.METHODS[method][1] == "clip":
            clip_weights_(c.parameters(), config.clip_value)
        opt_g, opt_c = _optimizers(method, g, c, config)
        methods[method] = MethodState(method, g, c, opt_g, opt_c, torch.Generator().manual_seed(seed + 2))
    eval_gen = torch.Generator().manual_seed(seed + 3)
    eval_real = sample_toy(dataset, config.n_eval, eval_gen)
    eval_z = torch.randn(config.n_eval, config.z_dim, generator=eval_gen)
    return ToyRun(dataset, seed, config, methods, eval_real, eval_z)


def _critic_update(state: MethodState, real: torch.Tensor, fake: torch.Tensor, config: ToyConfig) -> float:
    """One critic/discriminator update; returns its W estimate (critics) or JS estimate (GAN)."""
    scores = state.critic(torch.cat([real, fake])).squeeze(1)
    s_real, s_fake = scores[: len(real)], scores[len(real) :]
    objective, lipschitz = objectives.METHODS[state.method]
    loss = critic_loss(s_real, s_fake, objective)
    estimate = objectives.estimate(s_real.detach(), s_fake.detach(), objective)
    if lipschitz == "gp":
        loss = loss + config.gp_weight * gradient_penalty(state.critic, real, fake, state.rng)
    state.opt_c.zero_grad(set_to_none=True)
    loss.backward()
    state.opt_c.step()
    if lipschitz == "clip":
        clip_weights_(state.critic.parameters(), config.clip_value)
    return float(estimate)


def toy_train_step(run: ToyRun) -> dict[str, float]:
    """Advance every method by one generator iteration; returns each method's last critic estimate.

    Per method: n_critic critic updates on fresh real batches and fresh fakes, then one generator update
    with the critic frozen (WGAN: -mean f(G(z)); GAN: the configured loss). All noise comes from the
    method's own ``torch.Generator``, seeded identically for the three methods.
    """
    config = run.config
    out = {}
    for method, state in run.methods.items():
        start = time.perf_counter()
        # the generator is fixed during the critic updates, so all n_critic batches of fakes (and reals)
        # are drawn at once: (n_critic * batch_size, 2), split per update
        reals = sample_toy(run.dataset, config.n_critic * config.batch_size, state.rng)
        with torch.no_grad():
            z = torch.randn(config.n_critic * config.batch_size, config.z_dim, generator=state.rng)
            fakes = state.generator(z)
        for real, fake in zip(reals.split(config.batch_size), fakes.split(config.batch_size), strict=True):
            estimate = _critic_update(state, real, fake, config)
        state.critic.requires_grad_(False)  # no weight gradients for the critic in the generator step
        fake = state.generator(torch.randn(config.batch_size, config.z_dim, generator=state.rng))
        loss = generator_loss(state.critic(fake).squeeze(1), _generator_loss_kind(method, config))
        state.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        state.opt_g.step()
        state.critic.requires_grad_(True)
        state.estimates.append(estimate)
        del state.estimates[: -config.history]
        state.seconds += time.perf_counter() - start
        out[method] = estimate
    run.step += 1
    return out


def toy_train_steps(run: ToyRun, n: int) -> dict[str, float]:
    """Run ``n`` generator iterations of every method (a chunk for one fragment tick)."""
    out: dict[str, float] = {}
    for _ in range(n):
        out = toy_train_step(run)
    return out


def train_for(run: ToyRun, seconds: float) -> int:
    """Run whole generator iterations until ``seconds`` of wall time have passed; returns how many."""
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        toy_train_step(run)
        done += 1
    return done


def tick_interval(last_tick_seconds: float) -> float:
    """Seconds between a live panel's ticks: a little more than the last tick took, so ticks never queue up."""
    return min(5.0, max(0.5, 1.3 * last_tick_seconds))


def steps_per_second(run: ToyRun) -> dict[str, float]:
    """Generator iterations per second of wall time each method has spent training so far."""
    return {m: (run.step / s.seconds if s.seconds > 0 else math.nan) for m, s in run.methods.items()}


def toy_snapshot(
    run: ToyRun, grid_size: int = 64, extent: float = 3.0, n_arrows: int = 64, exact_w: bool = True
) -> dict[str, object]:
    """Read the run out as small numpy arrays for plotting.

    Returns {"step", "real" (n_eval, 2), "grid" (grid_size,), "modes" (centres, radius, kind), and per
    method a dict: "fake" (n_eval, 2) from the fixed z; "field" (grid_size, grid_size) critic value
    (sigmoid probability D(x) for the GAN), rows along y; "arrow_xy" and "arrow_uv" (n_arrows, 2): fake
    points and minus the generator loss gradient there (where the generator pushes them), and
    "arrow_norm" their mean length; "estimate" (W estimate mean f(real) - mean f(fake) on the fixed sets,
    JS estimate in nats for the GAN), "w_exact" (exact W1 between the fixed fake and real sets, by optimal
    assignment), "modes_covered" and "mode_counts", "steps_per_s"}.
    """
    coords, grid = plane_grid(extent, grid_size)
    spec = toy_modes(run.dataset)
    real = run.eval_real
    out: dict[str, object] = {
        "step": run.step,
        "real": real.numpy().copy(),
        "grid": coords,
        "modes": {"centres": spec.centres, "radius": spec.radius, "kind": spec.kind},
    }
    rates = steps_per_second(run)
    for method, state in run.methods.items():
        objective, _ = objectives.METHODS[method]
        with torch.no_grad():
            fake = state.generator(run.eval_z)
            field_values = state.critic(grid).squeeze(1)
            if objective == "gan":
                field_values = torch.sigmoid(field_values)
        arrows = fake[:n_arrows]
        push = -input_gradient(state.critic, arrows, _generator_loss_kind(method, run.config))
        estimate = measure(state.critic, real, fake, objective)
        fake_np = fake.numpy().copy()
        covered, counts = count_modes(fake_np, spec.centres, spec.radius)
        out[method] = {
            "fake": fake_np,
            "field": field_values.reshape(grid_size, grid_size).numpy().copy(),
            "arrow_xy": arrows.numpy().copy(),
            "arrow_uv": push.numpy(),
            "arrow_norm": float(np.linalg.norm(push.numpy(), axis=1).mean()),
            "estimate": estimate,
            "w_exact": w1_exact(fake_np, real.numpy()) if exact_w else math.nan,
            "modes_covered": covered,
            "mode_counts": counts,
            "steps_per_s": rates[method],
        }
    return out


def current_snapshot(run: ToyRun) -> dict[str, object]:
    """``toy_snapshot`` of the run at its current step, computed once per step.

    A fresh snapshot also appends each method's exact W to ``run.exact_w_history`` (the latest
    ``config.exact_w_points`` are kept), so the history chart has one point per snapshot taken.
    """
    if run.snapshot is not None and run.snapshot["step"] == run.step:
        return run.snapshot  # nothing trained since the last one (another widget reran the page)
    run.snapshot = toy_snapshot(run)
    history = run.exact_w_history
    if not history or history[-1]["step"] != run.step:
        history.append({"step": run.step, **{m: run.snapshot[m]["w_exact"] for m in run.methods}})
        del history[: -run.config.exact_w_points]
    return run.snapshot
