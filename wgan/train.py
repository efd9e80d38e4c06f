"""Training as a step function: init_state(config) once, then train_step(state) per generator iteration.

The caller owns the loop (the command line runs it to the end, the Training page in short chunks).
A step is written so it could be captured whole in one CUDA graph later: every tensor it touches lives
on the device, metrics come back as 0-d device tensors that the caller reads when it wants them, and the
only Python branches depend on the config and on host-side counters, never on tensor values.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.profiler import record_function

from wgan import objectives
from wgan.config import TrainConfig
from wgan.data import DeviceDataset, ImageData
from wgan.device import configure_cpu_threads
from wgan.kernels import use_cpu_fast_paths
from wgan.models import Critic, Generator, build_critic, build_generator
from wgan.modes import eval_mode
from wgan.sampling import generate

FIXED_NOISE_SIZE = 64  # one 8x8 grid of samples from fixed noise, shown as training runs
METRICS = (
    "w_estimate",  # mean f(real) - mean f(fake) on the last critic batch: the curve to watch
    "critic_loss",  # the critic's objective (plus penalty); for the GAN baseline its BCE loss L_D
    "generator_loss",  # the generator's objective; its level means nothing for a WGAN
    "critic_real",  # mean critic score on real images
    "critic_fake",  # mean critic score on generated images
    "gradient_penalty",  # unweighted penalty E(||grad f|| - 1)^2, 0 when not used
    "critic_grad_norm",  # L2 norm of the critic's gradient before its update
    "js_estimate",  # GAN only: log 2 - L_D / 2, the JS divergence an optimal discriminator implies
)


MAX_HISTORY_ROWS = 10_000  # per run; older rows are thinned so memory stays bounded however long it trains


def kept_rows(n: int, max_rows: int) -> list[int]:
    """Which of `n` rows (oldest first) to keep so at most `max_rows` remain: the one thinning rule.

    While over the bound, every other row before the newest max_rows // 2 is dropped (the first row always
    stays). Recent rows keep full resolution and older ones get sparser geometrically, so whatever keeps
    rows this way (a run's history, its held-out checks and snapshots, a chart's points) still spans the
    whole run. A history thinned as it grows gives up one row in two of its older part at a time.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    rows = list(range(n))
    while len(rows) > max_rows:
        old = len(rows) - max_rows // 2  # rows[:old] are thinned, the newest max_rows // 2 stay
        rows = rows[:old:2] + rows[old:]
    return rows


def thin_oldest(columns: dict[str, list], max_rows: int) -> None:
    """Thin equally long `columns` in place to at most `max_rows` rows (`kept_rows`)."""
    rows = len(next(iter(columns.values()), []))
    if rows <= max_rows:
        return
    keep = kept_rows(rows, max_rows)
    for name, values in columns.items():
        columns[name] = [values[i] for i in keep]


@dataclass
class History:
    """Per-generator-iteration metrics as plain Python lists (what checkpoints and charts use).

    Steps append device tensors to `pending`; `flush()` copies them to the host in one transfer, so the
    training loop syncs once per chunk rather than once per metric per step. At most `max_rows` rows are
    kept (`thin_oldest`): the "iteration" column says which iterations remain.
    """

    columns: dict[str, list[float]] = field(default_factory=dict)
    pending: list[tuple[int, dict[str, torch.Tensor]]] = field(default_factory=list)
    max_rows: int = MAX_HISTORY_ROWS

    def append(self, iteration: int, metrics: dict[str, torch.Tensor]) -> None:
        self.pending.append((iteration, metrics))

    def flush(self, images_per_s: float | None = None) -> None:
        if not self.pending:
            return
        names = list(self.pending[0][1])
        rows = torch.stack([torch.stack([m[name].float() for name in names]) for _, m in self.pending])
        values = rows.cpu().tolist()  # [steps, metrics]: the one host sync
        self.columns.setdefault("iteration", []).extend(float(i) for i, _ in self.pending)
        for j, name in enumerate(names):
            self.columns.setdefault(name, []).extend(row[j] for row in values)
        # Every column stays as long as "iteration"; a flush outside a timed chunk has no rate.
        rate = float("nan") if images_per_s is None else images_per_s
        self.columns.setdefault("images_per_s", []).extend([rate] * len(self.pending))
        self.pending.clear()

    def compact(self) -> None:
        """Thin old rows if the history is over its bound (after the caller has checked the new rows)."""
        thin_oldest(self.columns, self.max_rows)

    def __len__(self) -> int:
        return len(self.columns.get("iteration", ()))

    def forget_from(self, iteration: int) -> None:
        """Forget the rows of generator iterations >= `iteration` (and anything not yet flushed)."""
        self.pending.clear()
        iterations = self.columns.get("iteration", [])
        rows = len(iterations)
        while rows and iterations[rows - 1] >= iteration:
            rows -= 1
        for values in self.columns.values():
            del values[rows:]

    def last(self, name: str, default: float = float("nan")) -> float:
        values = self.columns.get(name)
        return values[-1] if values else default


@dataclass
class TrainState:
    """Everything a run needs to continue: models, optimisers, data, random streams, counters, history."""

    config: TrainConfig
    device: torch.device
    generator: Generator
    critic: Critic
    generator_optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer
    data: DeviceDataset
    data_rng: torch.Generator  # draws real-batch indices
    noise_rng: torch.Generator  # draws z and the gradient penalty's interpolation weights
    fixed_noise: torch.Tensor  # [64, z_dim], the same for every run with this seed, on any device
    # Exponential moving average of the generator's weights (config.generator_ema > 0), else None. It
    # never feeds back into training; samples, evaluations and exports use it (`sampler`).
    generator_ema: Generator | None = None
    iteration: int = 0  # generator iterations done (host mirror; nothing in a step reads a tensor counter)
    critic_updates: int = 0
    real_images_seen: int = 0
    wall_seconds: float = 0.0  # time spent inside training chunks, for ETAs and checkpoint cards
    history: History = field(default_factory=History)
    # Quality evaluations made while training (`wgan.metrics.QualityTracker`, for the command line's
    # --fid-every and the Training page alike): one entry per evaluation under each name, e.g. "iteration",
    # "wall_seconds", "fid_mnist" (see QualityTracker.update). Checkpoints keep them.
    quality: dict[str, list] = field(default_factory=dict)

    @property
    def sampler(self) -> Generator:
        """The generator to draw samples from: the moving average when the run keeps one."""
        return self.generator if self.generator_ema is None else self.generator_ema

    @property
    def epoch(self) -> float:
        """Passes over the training images, counted by real images the critic has seen."""
        return self.real_images_seen / len(self.data)

    def iterations_per_epoch(self) -> float:
        return len(self.data) / (self.config.batch_size * self.config.n_critic)


def make_optimizer(params: list[nn.Parameter], lr: float, config: TrainConfig, device: torch.device):
    """RMSprop (WGAN: no momentum, change 4 of the seed's four) or Adam, ready for CUDA-graph capture."""
    on_cuda = device.type == "cuda"
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=config.rmsprop_alpha, foreach=True, capturable=on_cuda)
    return torch.optim.Adam(
        params, lr=lr, betas=(config.adam_beta1, config.adam_beta2), fused=on_cuda or None, capturable=on_cuda
    )


def build_models(config: TrainConfig, device: torch.device) -> tuple[Generator, Critic]:
    """Generator and critic initialised from config.seed (the same weights for every run with that seed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = build_generator(config.arch, config.z_dim, config.generator_width)
        critic = build_critic(
            config.arch, config.critic_batch_norm, config.critic_dropout, config.critic_hidden, config.critic_width
        )
    memory_format = _memory_format(config)
    generator, critic = (model.to(device, memory_format=memory_format) for model in (generator, critic))
    if device.type == "cpu":  # the same functions by hand-written CPU routes; a GPU runs wgan.models as written
        generator, critic = use_cpu_fast_paths(generator), use_cpu_fast_paths(critic)
    return generator, critic


def _memory_format(config: TrainConfig) -> torch.memory_format:
    # NHWC is what oneDNN (CPU) and cuDNN convolutions want; NCHW activations are converted inside every call.
    return torch.channels_last if config.layout == "channels_last" else torch.contiguous_format


def init_state(config: TrainConfig, data: ImageData, device: torch.device | str = "cpu") -> TrainState:
    """A fresh run of `config` on `data` (a whole split in memory; moved to `device` here)."""
    device = torch.device(device)
    if device.type == "cpu":
        configure_cpu_threads()
    generator, critic = build_models(config, device)
    # Dropout draws from the global stream; seed it so a run is repeatable (checkpoints save its state).
    torch.manual_seed(config.seed)
    fixed_noise = torch.randn(FIXED_NOISE_SIZE, config.z_dim, generator=torch.Generator().manual_seed(config.seed)).to(
        device
    )
    return TrainState(
        config=config,
        device=device,
        generator=generator,
        critic=critic,
        generator_optimizer=make_optimizer(list(generator.parameters()), config.lr_generator, config, device),
        critic_optimizer=make_optimizer(list(critic.parameters()), config.lr_critic, config, device),
        data=DeviceDataset(data, device, config.holdout_size, config.seed),
        data_rng=torch.Generator(device).manual_seed(config.seed),
        noise_rng=torch.Generator(device).manual_seed(config.seed + 1),
        fixed_noise=fixed_noise,
        generator_ema=_frozen_copy(generator) if config.generator_ema > 0 else None,
    )


def _frozen_copy(module: Generator) -> Generator:
    ema = copy.deepcopy(module)
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def _update_ema(state: TrainState) -> None:
    """ema = decay * ema + (1 - decay) * weights, one foreach call; batch-norm statistics are copied."""
    ema, live = state.generator_ema, state.generator
    torch._foreach_lerp_(list(ema.parameters()), list(live.parameters()), 1.0 - state.config.generator_ema)
    for target, source in zip(ema.buffers(), live.buffers(), strict=True):
        target.copy_(source)


def _autocast(state: TrainState) -> torch.autocast:
    """bf16 autocast when the config asks for it; weights and optimiser states stay fp32.

    bf16 cannot represent RMSprop steps of 5e-5 near the clip value 0.01, so master weights must not be
    bf16; autocast only lowers the matrix products (faster where the CPU has bf16 matrix instructions).
    """
    return torch.autocast(state.device.type, dtype=torch.bfloat16, enabled=state.config.precision == "bf16")


def _critic_step(state: TrainState, keep_fake_graph: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One critic update on a fresh real batch and a fresh fake batch; returns metrics and the fakes.

    With keep_fake_graph the fakes keep their autograd graph through the generator, so the generator
    step can reuse them instead of running the generator again (the seed does the same). The
    record_function labels name the phases a profile sums over (benchmarks/bench.py); they cost nothing
    when no profiler runs.
    """
    config, critic = state.config, state.critic
    with record_function("wgan.data"):
        real = state.data.sample(config.batch_size, state.data_rng)  # [B, 1, 28, 28] in [-1, 1]
        real = real.contiguous(memory_format=_memory_format(config))
        z = torch.randn(config.batch_size, config.z_dim, device=state.device, generator=state.noise_rng)
    with record_function("wgan.forward"):
        with torch.set_grad_enabled(keep_fake_graph), _autocast(state):
            fake = state.generator(z)
        state.critic_optimizer.zero_grad(set_to_none=True)
        with _autocast(state):
            real_scores, fake_scores = critic(real), critic(fake.detach())  # two passes, as the seed (BN per batch)
        real_scores, fake_scores = real_scores.float(), fake_scores.float()
        loss = objectives.critic_loss(real_scores, fake_scores, config.objective)
        penalty = torch.zeros((), device=state.device)
        if config.lipschitz == "gp":
            with _autocast(state):  # the penalty's double backward too, in bf16 runs
                penalty = objectives.gradient_penalty(critic, real, fake, generator=state.noise_rng).float()
            loss = loss + config.gp_weight * penalty
    with record_function("wgan.backward"):
        loss.backward()
    with record_function("wgan.metrics"):
        grad_norm = objectives.grad_norm(critic.parameters())
    with record_function("wgan.optimizer"):
        state.critic_optimizer.step()
        if config.lipschitz == "clip":
            objectives.clip_weights_(critic.parameters(), config.clip_value)
    with record_function("wgan.metrics"):
        metrics = {
            "w_estimate": objectives.w_estimate(real_scores, fake_scores).detach(),
            "critic_loss": loss.detach(),
            "critic_real": real_scores.mean().detach(),
            "critic_fake": fake_scores.mean().detach(),
            "gradient_penalty": penalty.detach(),
            "critic_grad_norm": grad_norm.detach(),
        }
    return metrics, fake


def train_step(state: TrainState) -> dict[str, torch.Tensor]:
    """One generator iteration with its critic updates (WGAN paper, Algorithm 1, lines 2-11).

    Returns the iteration's metrics as 0-d device tensors (no host sync); `state.history` keeps them too.
    """
    config = state.config
    state.generator.train()
    state.critic.train()
    state.critic.requires_grad_(True)
    n_critic = config.n_critic_at(state.iteration)
    for k in range(n_critic):
        metrics, fake = _critic_step(state, keep_fake_graph=(k == n_critic - 1))
    state.critic_updates += n_critic
    state.real_images_seen += n_critic * config.batch_size

    # Generator update on the last critic step's fakes. Freezing the critic's weights skips their
    # gradient kernels; the gradient still flows through the critic to the images.
    state.critic.requires_grad_(False)
    with record_function("wgan.forward"):
        state.generator_optimizer.zero_grad(set_to_none=True)
        with _autocast(state):
            fake_scores = state.critic(fake).float()
        generator_loss = objectives.generator_loss_for(fake_scores, config.objective)
    with record_function("wgan.backward"):
        generator_loss.backward()
    with record_function("wgan.optimizer"):
        state.generator_optimizer.step()
        if state.generator_ema is not None:
            _update_ema(state)
    state.critic.requires_grad_(True)
    with record_function("wgan.metrics"):
        if config.objective == "gan":
            metrics["js_estimate"] = objectives.js_estimate(metrics["critic_loss"])
        metrics["generator_loss"] = generator_loss.detach()
        state.history.append(state.iteration, metrics)
    state.iteration += 1
    return metrics


@dataclass
class ChunkResult:
    iterations: int
    seconds: float
    images_per_s: float  # real images the critic consumed per second over the chunk


class TrainingDiverged(RuntimeError):
    """A chunk produced NaN or inf. The run was rolled back to its state before that chunk (weights,
    optimisers, random streams, counters, history), so it can be saved or resumed; one-line message."""

    def __init__(self, state: TrainState, metric: str, value: float) -> None:
        self.iteration, self.metric, self.value = state.iteration, metric, value
        config = state.config
        hint = (
            f"lower the learning rates (now lr_critic={config.lr_critic:g}, lr_generator={config.lr_generator:g})"
            + ("" if config.lipschitz == "gp" else " or try the gp preset")
        )
        super().__init__(
            f"training diverged: {metric} became {value} within the chunk after generator iteration "
            f"{state.iteration}; the run was kept as it was at iteration {state.iteration}. Try: {hint}"
        )


def capture(state: TrainState) -> dict[str, Any]:
    """A copy of what training changes: weights, optimisers, random streams and counters (a few MB).

    The one record of a run's state: a chunk keeps one to undo itself if it diverges (`roll_back`), and a
    checkpoint stores one under the same keys (`wgan.checkpoint.state_payload`), which `restore_state`
    puts back with `roll_back` too. The history is not copied: rows are only ever appended after it.
    """
    rng = {"data": state.data_rng.get_state(), "noise": state.noise_rng.get_state(), "torch_cpu": torch.get_rng_state()}
    if state.device.type == "cuda":
        rng["torch_cuda"] = torch.cuda.get_rng_state(state.device)
    saved = {
        "generator": {k: v.clone() for k, v in state.generator.state_dict().items()},
        "critic": {k: v.clone() for k, v in state.critic.state_dict().items()},
        "generator_optimizer": copy.deepcopy(state.generator_optimizer.state_dict()),
        "critic_optimizer": copy.deepcopy(state.critic_optimizer.state_dict()),
        "rng": rng,
        "counters": {
            "iteration": state.iteration,
            "critic_updates": state.critic_updates,
            "real_images_seen": state.real_images_seen,
            "wall_seconds": state.wall_seconds,
        },
    }
    if state.generator_ema is not None:
        saved["generator_ema"] = {k: v.clone() for k, v in state.generator_ema.state_dict().items()}
    return saved


def roll_back(state: TrainState, saved: dict[str, Any]) -> None:
    """Put `state` back as `capture` found it; history rows from later iterations are forgotten.

    `saved` may come from a checkpoint (tensors on the CPU; a CUDA stream state is used on CUDA only, and
    a checkpoint without a wall time counts from 0).
    """
    state.generator.load_state_dict(saved["generator"])
    if state.generator_ema is not None:
        state.generator_ema.load_state_dict(saved["generator_ema"])
    state.critic.load_state_dict(saved["critic"])
    state.generator_optimizer.load_state_dict(saved["generator_optimizer"])
    state.critic_optimizer.load_state_dict(saved["critic_optimizer"])
    rng = saved["rng"]
    state.data_rng.set_state(rng["data"])
    state.noise_rng.set_state(rng["noise"])
    torch.set_rng_state(rng["torch_cpu"])
    if "torch_cuda" in rng and state.device.type == "cuda":
        torch.cuda.set_rng_state(rng["torch_cuda"], state.device)
    counters = saved["counters"]
    state.iteration = int(counters["iteration"])
    state.critic_updates = int(counters["critic_updates"])
    state.real_images_seen = int(counters["real_images_seen"])
    state.wall_seconds = float(counters.get("wall_seconds", 0.0))
    state.history.forget_from(state.iteration)


def _first_non_finite(state: TrainState, since_row: int) -> tuple[str, float] | None:
    for name, values in state.history.columns.items():
        for value in values[since_row:]:
            if not math.isfinite(value) and name != "images_per_s":
                return name, value
    return None


def train_chunk(
    state: TrainState, max_iterations: int, max_seconds: float | None = None, guard: bool = True
) -> ChunkResult:
    """Run up to `max_iterations` steps (stopping early after `max_seconds`), then sync once.

    The page calls this from a fragment a few times a second; the command line calls it in larger chunks.
    With `guard`, NaN or inf in any metric of the chunk undoes the chunk and raises TrainingDiverged:
    the check runs once per chunk, on the host, so the step itself stays free of syncs and branches.
    """
    saved = capture(state) if guard else None
    start = time.perf_counter()
    images_before, done = state.real_images_seen, 0
    while done < max_iterations:
        train_step(state)
        done += 1
        if max_seconds is not None and time.perf_counter() - start >= max_seconds:
            break
    if done:
        # Reading the metrics waits for the device, so the timing below includes all the chunk's work.
        state.history.pending[-1][1]["w_estimate"].item()
    seconds = time.perf_counter() - start
    images_per_s = (state.real_images_seen - images_before) / seconds if done else 0.0
    rows_before = len(state.history)
    state.history.flush(images_per_s)
    if saved is not None and (problem := _first_non_finite(state, rows_before)) is not None:
        roll_back(state, saved)
        raise TrainingDiverged(state, *problem)
    state.history.compact()
    state.wall_seconds += seconds
    return ChunkResult(done, seconds, images_per_s)


def train(state: TrainState, iterations: int, chunk: int = 50) -> Iterator[ChunkResult]:
    """Run `iterations` more generator iterations, yielding after each chunk (for progress bars)."""
    remaining = iterations
    while remaining > 0:
        result = train_chunk(state, min(chunk, remaining))
        remaining -= result.iterations
        yield result


HOLDOUT_CHECK_IMAGES = 256  # held-out images per check: enough for the means, cheap enough to run often


@torch.no_grad()
def evaluate_holdout(state: TrainState, max_images: int = HOLDOUT_CHECK_IMAGES) -> dict[str, float]:
    """The W estimate on held-out real images versus on training images, against the same fakes.

    A critic that memorises its training images scores them higher than unseen ones from the same
    distribution; the gap between the two estimates is the overfitting check of WGAN-GP's section 5.
    Uses the first `max_images` held-out images, the run's precision, eval mode (no dropout, running
    batch-norm statistics), and syncs: call it off the hot path (the Training page runs it per snapshot).
    """
    critic, config = state.critic, state.config
    holdout = state.data.holdout()[:max_images]
    n = holdout.shape[0]
    if n == 0:
        return {}
    eval_rng = torch.Generator(state.device).manual_seed(config.seed + 2)
    train_real = state.data.sample(n, eval_rng)
    z = torch.randn(n, config.z_dim, device=state.device, generator=eval_rng)
    fake = generate(state.sampler, z, precision=config.precision, device=None)
    with eval_mode(critic), _autocast(state):
        fake_scores = critic(fake).float()
        train_w = objectives.w_estimate(critic(train_real).float(), fake_scores)
        holdout_w = objectives.w_estimate(critic(holdout).float(), fake_scores)
    return {"w_train": float(train_w), "w_holdout": float(holdout_w)}
