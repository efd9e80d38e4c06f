"""Helpers the CPU routes share: layout and precision tests, batch-norm bookkeeping, NHWC linear layers,
single-channel (transposed) convolutions by a matrix product and a col2im.

Each computes exactly what a plain PyTorch call computes (the same sums, in another order); which one,
is in its docstring. The measurements behind them are in docs/performance.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def is_channels_last(tensor: torch.Tensor) -> bool:
    """True for a 4-d tensor stored NHWC (`.to(memory_format=torch.channels_last)`), not plain NCHW."""
    return tensor.dim() == 4 and not tensor.is_contiguous() and tensor.is_contiguous(memory_format=torch.channels_last)


def full_precision_on_cpu(x: torch.Tensor) -> bool:
    """Whether x is a full-precision CPU activation (fp32 or fp64, not under autocast).

    Where oneDNN's fp32 kernels for the seed models' layers are slow, the routes of this package take
    another way to the same sums (single-channel layers by `conv_transpose_by_fold` and matrix products,
    biases apart or as a column of ones, ReLU and LeakyReLU gradients in place). In bf16 those routes
    measured no faster, so there the layers' own kernels are kept.
    """
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled("cpu")


def batch_norm_state(
    bn: nn.modules.batchnorm._BatchNorm,
) -> tuple[torch.Tensor | None, torch.Tensor | None, bool, float, float]:
    """(running_mean, running_var, use_batch_stats, momentum, eps) for one call of bn, as its forward computes them.

    Counts the call in num_batches_tracked when training, as nn.BatchNorm does (momentum None: a
    cumulative moving average).
    """
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    use_batch_stats = bn.training or bn.running_mean is None
    return bn.running_mean, bn.running_var, use_batch_stats, momentum, bn.eps


def with_ones_column(rows: torch.Tensor) -> torch.Tensor:
    """[N, K] -> [N, K + 1] with a last column of ones: a bias becomes one more weight of a matrix product,
    and its gradient one more row of the weight gradient's."""
    return torch.cat([rows, rows.new_ones(rows.shape[0], 1)], 1)


def weight_in_nhwc_order(weight: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A linear layer's weight [out, C*H*W] (NCHW feature order) as [out, H*W*C], the order of like's NHWC storage."""
    channels, height, width = like.shape[1:]
    return weight.view(-1, channels, height, width).permute(0, 2, 3, 1).reshape(weight.shape[0], -1)


def linear_on_nhwc(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """layer(x.flatten(1)) for a channels-last x [B, C, H, W], without copying x back to NCHW.

    Flattening an NHWC tensor in NCHW order copies it, and the gradient then flows back in NCHW, which
    puts mixed layouts into every backward kernel before it. Permuting the layer's weight instead keeps
    the activations where they are: the same dot products in another order. That pays while the weight is
    the smaller of the two (a score layer); a wide layer is cheaper to feed the copied activations.
    """
    batch = x.shape[0]
    if layer.out_features > batch:
        return layer(x.flatten(1))
    return F.linear(x.permute(0, 2, 3, 1).reshape(batch, -1), weight_in_nhwc_order(layer.weight, x), layer.bias)


def leaky_relu_grad(grad: torch.Tensor, y: torch.Tensor, slope: float, may_overwrite: bool = True) -> torch.Tensor:
    """LeakyReLU's input gradient from its output y (y > 0 exactly where its input is).

    In fp32 on a CPU it overwrites grad, the next layer's own new input gradient that only this node reads.
    Out of place in bf16, where the out= kernel is the slower, and when grad is itself differentiated (a
    gradient penalty's double backward).
    """
    leaky_backward = torch.ops.aten.leaky_relu_backward
    if may_overwrite and not grad.requires_grad and full_precision_on_cpu(grad):
        return leaky_backward.grad_input(grad, y, slope, True, grad_input=grad)
    return leaky_backward(grad, y, slope, True)


def conv_transpose_by_fold(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_size: tuple[int, int],
) -> torch.Tensor:
    """conv_transpose2d(x, weight, stride, padding) with the given output size, as a matrix product and a col2im.

    x [B, C, H, W], weight [C, C_out, kH, kW] -> [B, C_out, *output_size]. Each input pixel's
    contribution to its kH x kW output patch is one row of x @ weight ([B*H*W, C_out*kH*kW]); F.fold adds
    the overlapping patches into place. The same sums as the transposed convolution in another order;
    fast when C_out is small (the seed's last layer, and the input gradient of its critic's first).
    """
    batch, channels, height, width = x.shape
    pixels, patch = height * width, weight[0].numel()
    columns = x.permute(0, 2, 3, 1).reshape(batch * pixels, channels) @ weight.reshape(channels, patch)
    columns = columns.view(batch, pixels, patch).transpose(1, 2).contiguous()  # [B, C_out*kH*kW, H*W]
    return F.fold(columns, output_size, weight.shape[-2:], padding=padding, stride=stride)


def single_channel_patches(
    x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """x [B, 1, H, W] -> its k x k patches with a column of ones, [B, OH*OW, k*k + 1]: one copy."""
    (pad_h, pad_w), (kernel_h, kernel_w) = padding, kernel
    image = F.pad(x[:, 0], (pad_w, pad_w, pad_h, pad_h)) if pad_h or pad_w else x[:, 0]  # [B, H', W']
    patches = image.unfold(1, kernel_h, stride[0]).unfold(2, kernel_w, stride[1])  # [B, OH, OW, kH, kW]
    batch, side_h, side_w = patches.shape[:3]
    out = x.new_empty(batch, side_h * side_w, kernel_h * kernel_w + 1)
    out[..., :-1].view(batch, side_h, side_w, kernel_h, kernel_w).copy_(patches)
    out[..., -1] = 1
    return out
