"""The toy networks: small MLPs, an ensemble of E of them trained as one, and the one-thread context they run in."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def limit_threads(n: int = 1) -> Iterator[None]:
    """Run a block with at most ``n`` intra-op torch threads, then restore the previous setting.

    The toy networks are far too small to gain from intra-op threads, and OpenMP's spin-waiting threads
    slow them down badly on a busy machine (``OMP_WAIT_POLICY=PASSIVE`` also cures it). torch keeps this
    setting per calling thread (it is also the default for threads started meanwhile), so wrap only the
    caller's own work.
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
