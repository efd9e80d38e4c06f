"""The seed's DCGAN-style generator and critic for 28x28 images.

Layer for layer the models of the blog post (07_WGAN, kept runnable in shared/reference/seed_wgan.py).
The critic ends in a plain linear layer: for a WGAN that score is f(x) (no sigmoid, change 1 of the
seed's four), for the GAN baseline the same number is read as the discriminator's logit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SHAPE = (1, 28, 28)


def is_channels_last(tensor: torch.Tensor) -> bool:
    """True for a 4-d tensor stored NHWC (`.to(memory_format=torch.channels_last)`), not plain NCHW."""
    return tensor.dim() == 4 and not tensor.is_contiguous() and tensor.is_contiguous(memory_format=torch.channels_last)


def conv_transpose_as_conv(x: torch.Tensor, layer: nn.ConvTranspose2d) -> torch.Tensor:
    """A stride-1 transposed convolution computed as the ordinary convolution it equals.

    conv_transpose2d(x, W, padding=p) == conv2d(x, W with in/out swapped and the kernel flipped,
    padding=k-1-p): the same sums in another order. oneDNN's forward and backward kernels for the plain
    convolution are faster on CPUs; the layer's parameters (and so checkpoints) are untouched.
    """
    weight = layer.weight.transpose(0, 1).flip(2, 3)  # [in, out, k, k] -> [out, in, k, k]
    if is_channels_last(layer.weight):
        weight = weight.contiguous(memory_format=torch.channels_last)
    padding = tuple(k - 1 - p for k, p in zip(layer.kernel_size, layer.padding, strict=True))
    return F.conv2d(x, weight, layer.bias, padding=padding)


def linear_on_nhwc(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """layer(x.flatten(1)) for a channels-last x [B, C, H, W], without copying x back to NCHW.

    Flattening an NHWC tensor in NCHW order copies it, and the gradient then flows back in NCHW, which
    puts mixed layouts into every backward kernel before it. Permuting the layer's weight instead (a few
    thousand numbers) keeps the activations where they are: the same dot products in another order.
    """
    batch, channels, height, width = x.shape
    weight = layer.weight.view(-1, channels, height, width).permute(0, 2, 3, 1).reshape(layer.out_features, -1)
    return F.linear(x.permute(0, 2, 3, 1).reshape(batch, -1), weight, layer.bias)


class Generator(nn.Module):
    """z [B, z_dim] -> images [B, 1, 28, 28] in [-1, 1]; about 22.3 M multiply-adds per image."""

    def __init__(self, z_dim: int = 100) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.linear1 = nn.Linear(z_dim, 256 * 7 * 7)
        self.bn1 = nn.BatchNorm1d(256 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(256, 128, kernel_size=(3, 3), stride=1, padding=1)  # 7x7 -> 7x7
        self.bn2 = nn.BatchNorm2d(128)
        self.deconv2 = nn.ConvTranspose2d(128, 64, kernel_size=(4, 4), stride=2, padding=1)  # -> 14x14
        self.bn3 = nn.BatchNorm2d(64)
        self.deconv3 = nn.ConvTranspose2d(64, 1, kernel_size=(4, 4), stride=2, padding=1)  # -> 28x28

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # As in the seed: ReLU before batch norm.
        x = self.bn1(F.relu(self.linear1(z)))
        x = x.view(-1, 256, 7, 7)
        x = self.bn2(F.relu(conv_transpose_as_conv(x, self.deconv1)))
        x = self.bn3(F.relu(self.deconv2(x)))
        return torch.tanh(self.deconv3(x))


class Critic(nn.Module):
    """images [B, 1, 28, 28] -> scores [B]; about 2.8 M multiply-adds per image.

    `batch_norm=False` gives the WGAN-GP variant: the gradient penalty is defined per sample, and batch
    norm mixes the samples of a batch (WGAN-GP paper, section 4).
    """

    def __init__(self, batch_norm: bool = True, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=2)  # 28x28 -> 13x13
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, stride=2)  # -> 6x6
        # The seed calls F.dropout2d (training=True always); a module switches off in eval().
        self.dropout = nn.Dropout2d(dropout)
        self.bn = nn.BatchNorm2d(128) if batch_norm else nn.Identity()
        self.fc = nn.Linear(128 * 6 * 6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(F.leaky_relu(self.conv1(x)))
        x = self.dropout(F.leaky_relu(self.conv2(x)))
        x = self.bn(x)
        if is_channels_last(x):
            return linear_on_nhwc(x, self.fc).squeeze(1)
        return self.fc(x.flatten(1)).squeeze(1)
