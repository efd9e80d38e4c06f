"""Generators and critics for 28x28 images, in two architectures chosen by `TrainConfig.arch`.

- "seed": layer for layer the models of the blog post (07_WGAN, kept runnable in
  shared/reference/seed_wgan.py), mistakes included: the critic's unpadded stride-2 convolutions never
  see the last row and column of an image, it applies dropout on every pass, and the generator puts
  ReLU before batch norm.
- "repaired": those three repaired, and the two changes that measured best on top of them
  (checkpoints/README.md, ablation): a critic that starts at full resolution, and a generator that
  upsamples with convolutions instead of transposed convolutions.

Every generator maps z [B, z_dim] to images [B, 1, 28, 28] in [-1, 1]; every critic maps images to
scores [B]. The critic ends in a plain linear layer: for a WGAN that score is f(x) (no sigmoid, change 1
of the seed's four); for the GAN baseline the same number is read as the discriminator's logit.

These are the models as written, and what runs on a GPU. Training on a CPU swaps in subclasses with
hand-written routes to the same sums (`wgan.kernels.use_cpu_fast_paths`, called by `wgan.train`); the
tests check those routes against the forwards here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wgan.modes import eval_mode

IMAGE_SHAPE = (1, 28, 28)


class Generator(nn.Module):
    """Base of every generator: z [B, z_dim] -> images [B, 1, 28, 28] in [-1, 1]."""

    z_dim: int


class Critic(nn.Module):
    """Base of every critic: images [B, 1, 28, 28] -> scores [B]."""


class SeedGenerator(Generator):
    """The seed's generator; about 22.3 M multiply-adds per image.

    norm_before_relu=True swaps the seed's ReLU-then-batch-norm order (only for the ablation study).
    """

    def __init__(self, z_dim: int = 100, norm_before_relu: bool = False) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.norm_before_relu = norm_before_relu
        self.linear1 = nn.Linear(z_dim, 256 * 7 * 7)
        self.bn1 = nn.BatchNorm1d(256 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(256, 128, kernel_size=(3, 3), stride=1, padding=1)  # 7x7 -> 7x7
        self.bn2 = nn.BatchNorm2d(128)
        self.deconv2 = nn.ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=2, padding=1)  # -> 14x14
        self.bn3 = nn.BatchNorm2d(64)
        self.deconv3 = nn.ConvTranspose2d(64, 1, kernel_size=(4, 4), stride=2, padding=1)  # -> 28x28

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # z [B, z_dim]
        x = self._relu_and_norm(self.linear1(z), self.bn1)  # [B, 12544]
        x = x.view(-1, 256, 7, 7)  # [B, 256, 7, 7]
        x = self._relu_and_norm(self.deconv1(x), self.bn2)  # [B, 128, 7, 7]
        x = self._relu_and_norm(self.deconv2(x), self.bn3)  # [B, 64, 14, 14]
        return torch.tanh(self.deconv3(x))  # [B, 1, 28, 28]

    def _relu_and_norm(self, x: torch.Tensor, norm: nn.Module) -> torch.Tensor:
        # The seed's order: ReLU, then batch norm of the rectified values (DCGAN normalises first).
        if self.norm_before_relu:
            return F.relu(norm(x))
        return norm(F.relu(x))


class ChannelDropout(nn.Module):
    """nn.Dropout2d's function: each (image, channel) plane zeroed with probability p, the rest scaled by 1/(1-p).

    The mask comes from one torch.rand on [B, C, 1, 1] instead of Dropout2d's bernoulli_, the slower on a
    CPU (docs/performance.md): the same distribution, drawn from the same global stream, though not the
    same numbers as Dropout2d's. The CPU routes of `wgan.kernels` draw their masks through `mask` too, in the
    same order, so a run gives the same masks whichever forward it takes.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, C, H, W]
        mask = self.mask(x.shape[0], x.shape[1], x)  # [B, C, 1, 1]
        return x if mask is None else x * mask

    def mask(self, batch: int, channels: int, like: torch.Tensor) -> torch.Tensor | None:
        """A fresh mask [batch, channels, 1, 1] on like's device and in its dtype: 0 for dropped planes,
        1/(1-p) for kept ones; None in eval mode or for p = 0 (nothing is drawn then)."""
        if not self.training or self.p == 0.0:
            return None
        keep = torch.rand(batch, channels, 1, 1, device=like.device) >= self.p
        return keep.to(like.dtype) * (1.0 / (1.0 - self.p))


class SeedCritic(Critic):
    """The seed's critic; about 2.8 M multiply-adds per image.

    Its 3x3 stride-2 convolutions without padding read rows and columns 0-26 of a 28x28 image only: the
    last row and column never reach the score, so the critic cannot object to anything drawn there.
    `batch_norm=False` gives the WGAN-GP variant: the gradient penalty is defined per sample, and batch
    norm mixes the samples of a batch (WGAN-GP paper, section 4). padding=1 (ablation only) lets it see
    every pixel: 28x28 -> 14x14 -> 7x7.
    """

    def __init__(self, batch_norm: bool = True, dropout: float = 0.5, padding: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=2, padding=padding)  # 28x28 -> 13x13
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=padding)  # -> 6x6
        side = 7 if padding else 6
        # The seed calls F.dropout2d, whose training=True is its default: dropout on every pass, scoring
        # included. A module instead switches off in eval(), so evaluations are deterministic.
        self.dropout = ChannelDropout(dropout)
        self.bn = nn.BatchNorm2d(128) if batch_norm else nn.Identity()
        self.fc = nn.Linear(128 * side * side, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, 1, 28, 28]
        x = self.dropout(F.leaky_relu(self.conv1(x)))  # [B, 64, 13, 13]; slope 0.01, F.leaky_relu's default
        x = self.dropout(F.leaky_relu(self.conv2(x)))  # [B, 128, 6, 6]
        x = self.bn(x)
        return self.fc(x.flatten(1)).squeeze(1)  # [B, 4608] -> [B]


class RepairedGenerator(Generator):
    """z [B, z_dim] -> images [B, 1, 28, 28] in [-1, 1]; about 30 M multiply-adds per image.

    Batch norm before ReLU (DCGAN's order), and each doubling of resolution is a nearest-neighbour
    upsampling followed by a 3x3 convolution rather than a transposed convolution, whose uneven kernel
    overlap draws the checkerboard specks of the seed's samples (Odena et al. 2016). Its last two
    convolutions work at 28x28, where stroke edges are drawn.
    """

    def __init__(self, z_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.linear = nn.Linear(z_dim, 2 * width * 7 * 7, bias=False)  # batch norm supplies the bias
        self.bn0 = nn.BatchNorm1d(2 * width * 7 * 7)
        self.conv1 = nn.Conv2d(2 * width, width, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width // 2, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, 1, kernel_size=3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # z [B, z_dim]
        x = F.relu(self.bn0(self.linear(z))).view(-1, 2 * self.width, 7, 7)  # [B, 128, 7, 7]
        x = F.relu(self.bn1(self.conv1(F.interpolate(x, scale_factor=2, mode="nearest"))))  # [B, 64, 14, 14]
        x = F.relu(self.bn2(self.conv2(F.interpolate(x, scale_factor=2, mode="nearest"))))  # [B, 32, 28, 28]
        return torch.tanh(self.conv3(x))  # [B, 1, 28, 28]


class RepairedCritic(Critic):
    """images [B, 1, 28, 28] -> scores [B]; about 13 M multiply-adds per image (+1.6 M with hidden=256).

    A first 3x3 convolution at full resolution (the seed's critic halves the resolution at once, so
    stroke edges reach it only through a stride-2 filter), then padded 4x4 stride-2 convolutions that
    see every pixel (28 -> 14 -> 7), LeakyReLU(0.2), and no dropout whatever `dropout` says (f(x) is a
    function of x, not a draw; the argument exists so both critics are built alike). batch_norm=False for
    WGAN-GP (the penalty is per sample).

    hidden > 0 puts a fully-connected layer of that width (batch norm, LeakyReLU) between the features
    and the score. Under weight clipping this is what lets the critic judge a digit's shape: a linear
    read-out of clipped convolutional features could not, whatever the optimiser, critic steps, width or
    normalisation (the figures are in checkpoints/README.md).
    """

    def __init__(self, batch_norm: bool = True, dropout: float = 0.0, width: int = 32, hidden: int = 0) -> None:
        del dropout
        super().__init__()
        self.conv0 = nn.Conv2d(1, width, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(width, 2 * width, kernel_size=4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(2 * width, 4 * width, kernel_size=4, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4 * width) if batch_norm else nn.Identity()
        self.fc = nn.Linear(4 * width * 7 * 7, hidden or 1)
        self.hidden = nn.Sequential()  # [B, hidden] -> [B, 1]; empty without a hidden layer
        if hidden:
            self.hidden.append(nn.BatchNorm1d(hidden) if batch_norm else nn.Identity())
            self.hidden.append(nn.LeakyReLU(0.2))
            self.hidden.append(nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, 1, 28, 28]
        x = F.leaky_relu(self.conv0(x), 0.2)  # [B, 32, 28, 28]
        x = F.leaky_relu(self.conv1(x), 0.2)  # [B, 64, 14, 14]
        x = F.leaky_relu(self.bn(self.conv2(x)), 0.2)  # [B, 128, 7, 7]
        x = self.fc(x.flatten(1))  # [B, hidden or 1]
        return self.hidden(x).squeeze(1)  # [B]


ARCHITECTURES: dict[str, tuple[type[Generator], type[Critic]]] = {
    "seed": (SeedGenerator, SeedCritic),
    "repaired": (RepairedGenerator, RepairedCritic),
}


def build_generator(arch: str, z_dim: int, width: int = 0) -> Generator:
    """The generator of `arch`; `width` (0: the model's own) exists in the repaired one only."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch][0](z_dim, **({"width": width} if width else {}))


def build_critic(arch: str, batch_norm: bool, dropout: float, hidden: int = 0, width: int = 0) -> Critic:
    """The critic of `arch`; `hidden` (a fully-connected layer before the score) and `width` (0: the model's
    own) exist in the repaired one only."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    extra = {name: value for name, value in (("hidden", hidden), ("width", width)) if value}
    return ARCHITECTURES[arch][1](batch_norm=batch_norm, dropout=dropout, **extra)


def visible_pixels(critic: Critic, image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> torch.Tensor:
    """Bool [H, W]: the pixels that can change the critic's score at all (its receptive field).

    A pixel the score does not depend on has a zero gradient for every input and every weight; one
    gradient of the summed scores of a few random images, with the critic in eval mode, shows which.
    For the seed's critic the last row and column come out False: whatever a generator draws there, the
    critic cannot see it, so nothing pushes the generator to stop.
    """
    with eval_mode(critic):
        x = torch.rand(4, *image_shape, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        (gradient,) = torch.autograd.grad(critic(x).sum(), x)
    return gradient.abs().sum(dim=(0, 1)) > 0
