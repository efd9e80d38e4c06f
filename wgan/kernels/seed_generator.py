"""The seed generator's CPU routes: `FastSeedGenerator` and the layers it computes another way.

Each route gives the function `wgan.models.SeedGenerator.forward` gives, with the same parameters and the
same running statistics (tests/test_fast_paths.py compares them in float64); why each one pays is in its
docstring, the measurements in docs/performance.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wgan.kernels.ops import (
    batch_norm_state,
    conv_transpose_by_fold,
    full_precision_on_cpu,
    is_channels_last,
    with_ones_column,
)
from wgan.models import SeedGenerator


class FastSeedGenerator(SeedGenerator):
    """`SeedGenerator` with the forward below; `wgan.kernels.use_cpu_fast_paths` turns one into this.

    Layer by layer it computes what SeedGenerator.forward computes (ReLU before batch norm included):
    - linear1, ReLU, bn1 in NHWC feature order when the weights are channels_last (`_first_block_nhwc`);
    - ReLU then batch norm as one autograd node in fp32 training (`relu_then_batch_norm`);
    - deconv1 as the ordinary convolution it equals (`conv_transpose_as_conv`);
    - deconv2 and deconv3 with their biases added apart, deconv3 forward by fold in fp32
      (`conv_transpose_bias_apart`);
    - ReLU and tanh in place on the previous layer's own output.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if is_channels_last(self.deconv1.weight) and not self.norm_before_relu:
            x = self._first_block_nhwc(z)  # [B, 256, 7, 7], stored NHWC
        else:
            x = self._block(self.linear1(z), self.bn1).view(-1, 256, 7, 7)
        x = self._block(conv_transpose_as_conv(x, self.deconv1), self.bn2)  # [B, 128, 7, 7]
        x = self._block(conv_transpose_bias_apart(x, self.deconv2), self.bn3)  # [B, 64, 14, 14]
        return torch.tanh_(conv_transpose_bias_apart(x, self.deconv3))  # [B, 1, 28, 28], in place as ReLU above

    def _block(self, x: torch.Tensor, norm: nn.Module) -> torch.Tensor:
        if self.norm_before_relu:
            return F.relu(norm(x), inplace=True)
        return relu_then_batch_norm(x, norm.weight, norm.bias, *batch_norm_state(norm))

    def _first_block_nhwc(self, z: torch.Tensor) -> torch.Tensor:
        """bn1(relu(linear1(z))) laid out NHWC from the start, so no [B, 256, 7, 7] layout copy follows.

        The 12,544 features are independent until the view (linear rows, ReLU, per-feature batch-norm
        statistics), so computing them in (h, w, c) order instead of the parameters' (c, h, w) order is
        the same arithmetic. Parameters and running statistics stay in the seed's order (checkpoints
        unchanged): they are gathered per call, and the updated running statistics scattered back.
        """
        order, inverse = nhwc_feature_order(256, 7, 7, z.device)  # [12544]: (h, w, c) position -> (c, h, w) index

        def permuted(parameter: torch.Tensor) -> torch.Tensor:
            return PermuteRows.apply(parameter, order, inverse)

        linear, bn = self.linear1, self.bn1
        if linear.bias is not None and full_precision_on_cpu(z):
            x = PermutedLinear.apply(z, linear.weight, linear.bias, order, inverse)  # [B, 12544], NHWC order
        else:
            x = F.linear(z, permuted(linear.weight), permuted(linear.bias))
        running_mean, running_var, use_batch_stats, momentum, eps = batch_norm_state(bn)
        running_mean = None if running_mean is None else running_mean[order]
        running_var = None if running_var is None else running_var[order]
        x = relu_then_batch_norm(
            x, permuted(bn.weight), permuted(bn.bias), running_mean, running_var, use_batch_stats, momentum, eps
        )
        if bn.training and running_mean is not None:
            bn.running_mean[order] = running_mean  # F.batch_norm updated the gathered copies in place
            bn.running_var[order] = running_var
        return x.view(-1, 7, 7, 256).permute(0, 3, 1, 2)


def conv_transpose_as_conv(x: torch.Tensor, layer: nn.ConvTranspose2d) -> torch.Tensor:
    """A stride-1 transposed convolution computed as the ordinary convolution it equals.

    conv_transpose2d(x, W, padding=p) == conv2d(x, W with in/out swapped and the kernel flipped,
    padding=k-1-p): the same sums in another order. oneDNN's forward and backward kernels for the plain
    convolution are faster on CPUs; the layer's parameters (and so checkpoints) are untouched. In full
    precision on a CPU the bias is added apart, where oneDNN's fp32 backward is slower with a bias than
    without (in bf16 it is the other way round).
    """
    weight = layer.weight.transpose(0, 1).flip(2, 3)  # [in, out, k, k] -> [out, in, k, k]
    if is_channels_last(layer.weight):
        weight = weight.contiguous(memory_format=torch.channels_last)
    padding = tuple(k - 1 - p for k, p in zip(layer.kernel_size, layer.padding, strict=True))
    if layer.bias is None or not full_precision_on_cpu(x):
        return F.conv2d(x, weight, layer.bias, padding=padding)
    return F.conv2d(x, weight, None, padding=padding).add_(layer.bias.view(1, -1, 1, 1))  # its own output: in place


def conv_transpose_bias_apart(x: torch.Tensor, layer: nn.ConvTranspose2d) -> torch.Tensor:
    """layer(x), with the bias added after the transposed convolution instead of inside it.

    The same sums. oneDNN's backward pass for a transposed convolution that carries a bias is far slower
    than for one without, in fp32 and bf16 alike, while adding the bias apart costs one pass forward and
    a sum over batch and pixels for its gradient. A layer with one output channel (the seed's last) runs
    forward by `conv_transpose_by_fold` in full precision on a CPU (`TransposedConvByFold`).
    """
    if layer.out_channels == 1 and layer.groups == 1 and layer.dilation == (1, 1) and full_precision_on_cpu(x):
        y = TransposedConvByFold.apply(x, layer.weight, layer.stride, layer.padding, layer.output_padding)
    else:
        y = F.conv_transpose2d(
            x, layer.weight, None, layer.stride, layer.padding, layer.output_padding, layer.groups, layer.dilation
        )
    if layer.bias is None:
        return y
    # In place: y is this call's own output, and nothing's backward needs it. In y's dtype: a bf16 y
    # stays bf16 under autocast.
    return y.add_(layer.bias.to(y.dtype).view(1, -1, 1, 1))


class TransposedConvByFold(torch.autograd.Function):
    """conv_transpose2d(x, weight) computed forward by `conv_transpose_by_fold`, backward by oneDNN's kernels.

    oneDNN's backward kernels for the seed's last layer (one output channel) are fast; only its forward
    kernel is slow, while the fold path's own backward is the slower. Written in the torch.func style
    (setup_context, jvp, a generated vmap rule), so jacfwd and vmap through a generator keep working.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, stride, padding, output_padding):
        return _conv_transpose_by_fold_sized(x, weight, stride, padding, output_padding)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, ctx.stride, ctx.padding, ctx.output_padding = inputs
        ctx.save_for_backward(x, weight)
        ctx.save_for_forward(x, weight)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x, grad_weight, _ = torch.ops.aten.convolution_backward(
            grad, x, weight, None, ctx.stride, ctx.padding, (1, 1), True, ctx.output_padding, 1,
            (ctx.needs_input_grad[0], ctx.needs_input_grad[1], False),
        )  # fmt: skip
        return grad_x, grad_weight, None, None, None

    @staticmethod
    def jvp(ctx, x_tangent, weight_tangent, *_):
        # The layer is bilinear in (x, weight): its derivative along (dx, dW) is f(dx, W) + f(x, dW).
        x, weight = ctx.saved_tensors
        args = ctx.stride, ctx.padding, ctx.output_padding
        tangent = None if x_tangent is None else _conv_transpose_by_fold_sized(x_tangent, weight, *args)
        if weight_tangent is not None:
            other = _conv_transpose_by_fold_sized(x, weight_tangent, *args)
            tangent = other if tangent is None else tangent + other
        return tangent


def _conv_transpose_by_fold_sized(x, weight, stride, padding, output_padding) -> torch.Tensor:
    """`conv_transpose_by_fold` with the output size a transposed convolution's arguments give."""
    size = tuple(
        (n - 1) * s - 2 * p + k + extra
        for n, s, p, k, extra in zip(x.shape[-2:], stride, padding, weight.shape[-2:], output_padding, strict=True)
    )
    return conv_transpose_by_fold(x, weight, stride, padding, size)


_FEATURE_ORDERS: dict[tuple[int, int, int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}


def nhwc_feature_order(
    channels: int, height: int, width: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Long [C*H*W] twice: the (c, h, w)-flattened index of the i-th feature in (h, w, c) order, and its inverse."""
    key = (channels, height, width, device)
    if key not in _FEATURE_ORDERS:
        # Normal tensors even when first asked for under inference mode (an evaluation before training):
        # training saves them for the backward pass, which an inference tensor cannot be.
        with torch.inference_mode(False):
            index = torch.arange(channels * height * width, device=device).view(channels, height, width)
            order = index.permute(1, 2, 0).reshape(-1)
            _FEATURE_ORDERS[key] = order, torch.argsort(order)
    return _FEATURE_ORDERS[key]


class PermuteRows(torch.autograd.Function):
    """tensor[order] for a permutation `order`, whose gradient is a gather by the inverse permutation.

    Autograd's own backward for indexing scatters with accumulation (it cannot know that no row repeats),
    which for the seed generator's [12544, 100] first weight costs far more than a gather.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, order: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        return tensor.index_select(0, order)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (inverse,) = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


class PermutedLinear(torch.autograd.Function):
    """F.linear(z, weight[order], bias[order]): the bias as one more column of a single matrix product.

    For the seed generator's first layer in fp32 on a CPU (z [B, 100] -> [B, 12544]). The weight gradient
    is z^T @ grad ([101, 12544]) rather than grad^T @ z, the faster of the two here, and it carries the
    bias gradient as its last row, so no separate sum over the batch.
    """

    @staticmethod
    def forward(ctx, z, weight, bias, order, inverse):
        weight_and_bias = torch.cat([weight, bias.unsqueeze(1)], 1).index_select(0, order)  # [out, in + 1]
        z_and_one = with_ones_column(z)  # [B, in + 1]
        ctx.save_for_backward(z_and_one, weight_and_bias, inverse)
        return z_and_one @ weight_and_bias.t()  # [B, out]

    @staticmethod
    def backward(ctx, grad):
        z_and_one, weight_and_bias, inverse = ctx.saved_tensors
        grad_z = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_z = grad @ weight_and_bias[:, :-1]
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            both = (z_and_one.t() @ grad).index_select(1, inverse)  # [in + 1, out], rows back in the parameters' order
            grad_weight = both[:-1].t().contiguous()
            grad_bias = both[-1]
        return grad_z, grad_weight, grad_bias, None, None


def relu_then_batch_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
) -> torch.Tensor:
    """F.batch_norm(relu(x), ...), the seed's order; the ReLU overwrites x, the previous layer's own output.

    x [B, C] or [B, C, H, W]. Training in full precision on a CPU, `ReLUBatchNorm` applies the ReLU's
    gradient mask in place on batch norm's own input gradient instead of into a new tensor.
    """
    if use_batch_stats and weight is not None and full_precision_on_cpu(x):
        return ReLUBatchNorm.apply(x, weight, bias, running_mean, running_var, momentum, eps)[0]
    x = F.relu(x, inplace=True)  # nothing's backward needs the previous layer's output: one pass less
    return F.batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, momentum, eps)


class ReLUBatchNorm(torch.autograd.Function):
    """(batch_norm(relu(x)) with batch statistics, relu(x) in place on x) with a backward that makes one tensor.

    Autograd's own backward writes batch norm's input gradient, then the ReLU's into a second new tensor
    ([512, 64, 14, 14] for the seed generator's last block at batch 512); here the ReLU's mask zeroes the
    first in place. Running statistics are updated as F.batch_norm does.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        ctx.mark_dirty(x)
        x = F.relu(x, inplace=True)
        y, save_mean, save_invstd = torch.ops.aten.native_batch_norm(
            x, weight, bias, running_mean, running_var, True, momentum, eps
        )
        ctx.save_for_backward(x, weight, save_mean, save_invstd)
        ctx.eps = eps
        ctx.set_materialize_grads(False)
        return y, x  # x is returned because it was changed in place; callers use y

    @staticmethod
    def backward(ctx, grad, _):
        x, weight, save_mean, save_invstd = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        if grad is None or not any(needs):
            return None, None, None, None, None, None, None
        grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, None, None, save_mean, save_invstd, True, ctx.eps, list(needs)
        )
        if grad_x is not None:  # relu's backward, in place on batch norm's own new tensor
            torch.ops.aten.threshold_backward.grad_input(grad_x, x, 0, grad_input=grad_x)
        return grad_x, grad_weight, grad_bias, None, None, None, None
