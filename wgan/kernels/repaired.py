"""The repaired models' CPU routes: NHWC activations kept NHWC where the readable forward would mix layouts.

Each forward is `wgan.models`' own with one line changed, marked; tests/test_fast_paths.py compares them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wgan.kernels.ops import is_channels_last, linear_on_nhwc
from wgan.models import RepairedCritic, RepairedGenerator


class FastRepairedGenerator(RepairedGenerator):
    """`RepairedGenerator` whose first feature map is made NHWC before it is upsampled (channels_last weights).

    The view of the linear layer's output is NCHW; converted after the upsampling, the copy would be four
    times as large, and a convolution handed NCHW activations with NHWC weights converts them itself.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.linear(z))).view(-1, 2 * self.width, 7, 7)  # [B, 128, 7, 7]
        if is_channels_last(self.conv1.weight):  # changed: NHWC before the upsampling
            x = x.contiguous(memory_format=torch.channels_last)
        x = F.relu(self.bn1(self.conv1(F.interpolate(x, scale_factor=2, mode="nearest"))))  # [B, 64, 14, 14]
        x = F.relu(self.bn2(self.conv2(F.interpolate(x, scale_factor=2, mode="nearest"))))  # [B, 32, 28, 28]
        return torch.tanh(self.conv3(x))  # [B, 1, 28, 28]


class FastRepairedCritic(RepairedCritic):
    """`RepairedCritic` whose first linear layer reads NHWC activations in place (`linear_on_nhwc`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv0(x), 0.2)  # [B, 32, 28, 28]
        x = F.leaky_relu(self.conv1(x), 0.2)  # [B, 64, 14, 14]
        x = F.leaky_relu(self.bn(self.conv2(x)), 0.2)  # [B, 128, 7, 7]
        x = linear_on_nhwc(x, self.fc) if is_channels_last(x) else self.fc(x.flatten(1))  # changed: [B, hidden or 1]
        return self.hidden(x).squeeze(1)
