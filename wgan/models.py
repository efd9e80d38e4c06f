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
        x = self.bn2(F.relu(self.deconv1(x)))
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
        return self.fc(x.flatten(1)).squeeze(1)
