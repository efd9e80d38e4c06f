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
    convolution are faster on CPUs; the layer's parameters (and so checkpoints) are untouched. In full
    precision on a CPU the bias is added apart: oneDNN's fp32 backward with a bias took 143.6 ms against
    133.3 ms without for the seed generator's deconv1 at batch 512 (in bf16 it is the other way round).
    """
    weight = layer.weight.transpose(0, 1).flip(2, 3)  # [in, out, k, k] -> [out, in, k, k]
    if is_channels_last(layer.weight):
        weight = weight.contiguous(memory_format=torch.channels_last)
    padding = tuple(k - 1 - p for k, p in zip(layer.kernel_size, layer.padding, strict=True))
    if layer.bias is None or not full_precision_on_cpu(x):
        return F.conv2d(x, weight, layer.bias, padding=padding)
    return F.conv2d(x, weight, None, padding=padding).add_(layer.bias.view(1, -1, 1, 1))  # its own output: in place


def full_precision_on_cpu(x: torch.Tensor) -> bool:
    """Whether x is a full-precision CPU activation (fp32 or fp64, not under autocast).

    Where the seed models' fp32 kernels on a CPU are slow, they take another route to the same sums
    (single-channel layers by `conv_transpose_by_fold` and matrix products, biases apart or as a column of
    ones, ReLU and LeakyReLU gradients in place). In bf16 (where those routes measured no faster) and on
    GPUs the layers' own kernels are kept.
    """
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled("cpu")


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


class _TransposedConvByFold(torch.autograd.Function):
    """conv_transpose2d(x, weight) computed forward by `conv_transpose_by_fold`, backward by oneDNN's kernels.

    oneDNN's backward kernels for the seed's last layer are fast; only its forward kernel is slow
    (11.4 ms against 3.9 ms by fold at batch 512 in fp32, while the fold path's own backward is slower).
    Written in the torch.func style (setup_context, jvp, a generated vmap rule), so jacfwd and vmap
    through a generator keep working.
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


class _ConvInputGradByFold(torch.autograd.Function):
    """conv2d(x, weight, bias, stride, padding) whose input gradient comes from `conv_transpose_by_fold`.

    For the seed critic's first layer (one input channel) oneDNN's input-gradient kernel, needed when
    the generator learns through the critic, takes 7.7 ms at batch 512 in fp32, the fold path 2-3 ms.
    The forward stays oneDNN's; the weight gradient is one matrix product for an NHWC gradient.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        needs_x, needs_weight, needs_bias = ctx.needs_input_grad[:3]
        grad_x = grad_weight = grad_bias = None
        if needs_x:  # conv2d's weight [C_out, C_in, k, k] is a transposed convolution's [C_in', C_out', k, k]
            grad_x = conv_transpose_by_fold(grad, weight, ctx.stride, ctx.padding, x.shape[-2:])
        if (needs_weight or needs_bias) and is_channels_last(grad):
            grad_weight, grad_bias = _single_channel_conv_weight_grad(grad, x, weight.shape, ctx.stride, ctx.padding)
            grad_bias = grad_bias if needs_bias else None
        elif needs_weight or needs_bias:
            _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad, x, weight, [weight.shape[0]] if ctx.has_bias else None, ctx.stride, ctx.padding, (1, 1),
                False, (0, 0), 1, (False, needs_weight, needs_bias),
            )  # fmt: skip
        return grad_x, grad_weight, grad_bias, None, None


def _single_channel_conv_weight_grad(
    grad: torch.Tensor, x: torch.Tensor, weight_shape: torch.Size, stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """conv2d's weight and bias gradients for a one-channel input x [B, 1, H, W] and an NHWC grad [B, C, OH, OW].

    One matrix product: the input patches with a column of ones ([B*OH*OW, k*k + 1]) against grad viewed
    as [B*OH*OW, C], where NHWC needs no copy. oneDNN's kernel for it took 3.3 ms a call in the seed
    critic's step at batch 512 in fp32.
    """
    patches = _single_channel_patches(x, weight_shape[-2:], stride, padding)  # [B, OH*OW, k*k + 1]
    both = patches.flatten(0, 1).t() @ grad.permute(0, 2, 3, 1).reshape(-1, grad.shape[1])  # [k*k + 1, C]
    return both[:-1].t().reshape(weight_shape), both[-1]


def _single_channel_patches(
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


class _SingleChannelConvDropoutLeakyReLU(torch.autograd.Function):
    """leaky_relu(conv2d(x, weight, bias, stride) * scale) for a one-channel x and a per-plane scale >= 0.

    x [B, 1, H, W], weight [C, 1, k, k], scale [B, C, 1, 1] (a dropout mask) -> [B, C, OH, OW] stored NHWC.
    Per image one matrix product: its patches with a column of ones [OH*OW, k*k + 1] against the weights
    and bias scaled by that image's mask [k*k + 1, C]. The mask then costs nothing: the separate
    multiplies forward and backward over [B, C, OH, OW] go (the seed critic's first layer: 6 of them per
    step at batch 512, 1 ms each in fp32, 2.1 ms in bf16, where oneDNN's backward for the layer took another
    2.8 ms a pass). The patches are kept for the weight gradient. Any dtype (fp32, or bf16 under autocast).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, scale, stride, slope):
        batch, channels = x.shape[0], weight.shape[0]
        patches = _single_channel_patches(x, weight.shape[-2:], stride)  # [B, L, k*k + 1]
        side_h, side_w = ((n - k) // s + 1 for n, k, s in zip(x.shape[-2:], weight.shape[-2:], stride, strict=True))
        nhwc = torch.channels_last  # [B, C, OH, OW] stored NHWC, not a view (a Function's output may not be)
        y = torch.empty(batch, channels, side_h, side_w, dtype=x.dtype, device=x.device, memory_format=nhwc)
        torch.bmm(patches, _scaled_weights(weight, bias, scale), out=y.permute(0, 2, 3, 1).view(batch, -1, channels))
        F.leaky_relu(y, slope, inplace=True)
        ctx.save_for_backward(x, weight, bias, scale, y, patches)
        ctx.stride, ctx.slope = stride, slope
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, scale, y, patches = ctx.saved_tensors
        batch, channels = grad.shape[:2]
        if grad.requires_grad:  # differentiated again (a gradient penalty): x's patches in the graph
            patches = _single_channel_patches(x, weight.shape[-2:], ctx.stride)
        # Overwritten only in the NHWC layout conv2's backward hands over (not a caller's own tensor).
        grad = _leaky_relu_grad(grad, y, ctx.slope, may_overwrite=is_channels_last(grad))
        rows = grad.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).view(batch, -1, channels)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:  # [B, L, k*k] patch gradients, added back into place
            weights = _scaled_weights(weight, bias, scale)[:, :-1]  # [B, k*k, C]
            columns = torch.bmm(rows, weights.transpose(1, 2)).transpose(1, 2)  # [B, k*k, L]
            grad_x = F.fold(columns, x.shape[-2:], weight.shape[-2:], stride=ctx.stride)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            per_image = torch.bmm(patches.transpose(1, 2), rows)  # [B, k*k + 1, C]
            both = (per_image * scale.view(batch, 1, channels)).sum(0)  # [k*k + 1, C]
            grad_weight, grad_bias = both[:-1].t().reshape(weight.shape), both[-1]
        return grad_x, grad_weight, grad_bias, None, None, None


def _scaled_weights(weight: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """[C, 1, k, k] and [C], per-image scale [B, C, 1, 1] -> [B, k*k + 1, C]: each image's weights and bias."""
    channels = weight.shape[0]
    both = torch.cat([weight.view(channels, -1).t(), bias.view(1, channels)])  # [k*k + 1, C]
    return both.unsqueeze(0) * scale.view(-1, 1, channels)


def _with_ones_column(rows: torch.Tensor) -> torch.Tensor:
    """[N, K] -> [N, K + 1] with a last column of ones: a bias becomes one more weight of a matrix product,
    and its gradient one more row of the weight gradient's."""
    return torch.cat([rows, rows.new_ones(rows.shape[0], 1)], 1)


def conv_transpose_bias_apart(x: torch.Tensor, layer: nn.ConvTranspose2d) -> torch.Tensor:
    """layer(x), with the bias added after the transposed convolution instead of inside it.

    The same sums. oneDNN's backward pass for a transposed convolution that carries a bias is far slower
    than for one without: the seed generator's deconv2 at batch 512 on two cores took 32.7 ms with its
    bias against 17.6 ms without (bf16; 54.9 against 42.0 ms in fp32), while adding the bias apart costs
    about 1 ms forward and 1 ms for its gradient (a sum over batch and pixels). A layer with one output
    channel (the seed's last) runs forward by `conv_transpose_by_fold` in full precision on a CPU.
    """
    if layer.out_channels == 1 and layer.groups == 1 and layer.dilation == (1, 1) and full_precision_on_cpu(x):
        y = _TransposedConvByFold.apply(x, layer.weight, layer.stride, layer.padding, layer.output_padding)
    else:
        y = F.conv_transpose2d(
            x, layer.weight, None, layer.stride, layer.padding, layer.output_padding, layer.groups, layer.dilation
        )
    if layer.bias is None:
        return y
    # In place: y is this call's own output, and nothing's backward needs it. In y's dtype: a bf16 y
    # stays bf16 under autocast.
    return y.add_(layer.bias.to(y.dtype).view(1, -1, 1, 1))


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


def weight_in_nhwc_order(weight: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A linear layer's weight [out, C*H*W] (NCHW feature order) as [out, H*W*C], the order of like's NHWC storage."""
    channels, height, width = like.shape[1:]
    return weight.view(-1, channels, height, width).permute(0, 2, 3, 1).reshape(weight.shape[0], -1)


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

    def _block(self, x: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
        # As in the seed: ReLU before batch norm (unless the ablation asks for the usual order).
        if self.norm_before_relu:
            return F.relu(norm(x), inplace=True)
        return relu_then_batch_norm(x, norm.weight, norm.bias, *_batch_norm_state(norm))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if is_channels_last(self.deconv1.weight) and not self.norm_before_relu:
            x = self._first_block_nhwc(z)  # [B, 256, 7, 7], stored NHWC
        else:
            x = self._block(self.linear1(z), self.bn1).view(-1, 256, 7, 7)
        x = self._block(conv_transpose_as_conv(x, self.deconv1), self.bn2)
        x = self._block(conv_transpose_bias_apart(x, self.deconv2), self.bn3)
        return torch.tanh_(conv_transpose_bias_apart(x, self.deconv3))  # in place, as ReLU above

    def _first_block_nhwc(self, z: torch.Tensor) -> torch.Tensor:
        """bn1(relu(linear1(z))) laid out NHWC from the start, so no [B, 256, 7, 7] layout copy follows.

        The 12,544 features are independent until the view (linear rows, ReLU, per-feature batch-norm
        statistics), so computing them in (h, w, c) order instead of the parameters' (c, h, w) order is
        the same arithmetic. Parameters and running statistics stay in the seed's order (checkpoints
        unchanged): they are gathered per call, and the updated running statistics scattered back.
        """
        order, inverse = _nhwc_feature_order(256, 7, 7, z.device)  # [12544]: (h, w, c) position -> (c, h, w) index

        def permuted(parameter: torch.Tensor) -> torch.Tensor:
            return _PermuteRows.apply(parameter, order, inverse)

        linear, bn = self.linear1, self.bn1
        if linear.bias is not None and full_precision_on_cpu(z):
            x = _PermutedLinear.apply(z, linear.weight, linear.bias, order, inverse)  # [B, 12544], NHWC order
        else:
            x = F.linear(z, permuted(linear.weight), permuted(linear.bias))
        running_mean, running_var, use_batch_stats, momentum, eps = _batch_norm_state(bn)
        running_mean = None if running_mean is None else running_mean[order]
        running_var = None if running_var is None else running_var[order]
        x = relu_then_batch_norm(
            x, permuted(bn.weight), permuted(bn.bias), running_mean, running_var, use_batch_stats, momentum, eps
        )
        if bn.training and running_mean is not None:
            bn.running_mean[order] = running_mean  # F.batch_norm updated the gathered copies in place
            bn.running_var[order] = running_var
        return x.view(-1, 7, 7, 256).permute(0, 3, 1, 2)


_FEATURE_ORDERS: dict[tuple[int, int, int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}


def _nhwc_feature_order(
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


class _PermuteRows(torch.autograd.Function):
    """tensor[order] for a permutation `order`, whose gradient is a gather by the inverse permutation.

    Autograd's own backward for indexing scatters with accumulation (it cannot know that no row repeats):
    for the seed generator's [12544, 100] first weight at batch 512, 5.6 ms per step against 0.3 ms.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, order: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        return tensor.index_select(0, order)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (inverse,) = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


def _batch_norm_state(
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

    x [B, C] or [B, C, H, W]. Training in full precision on a CPU, `_ReLUBatchNorm` applies the ReLU's
    gradient mask in place on batch norm's own input gradient instead of into a new tensor.
    """
    if use_batch_stats and weight is not None and full_precision_on_cpu(x):
        return _ReLUBatchNorm.apply(x, weight, bias, running_mean, running_var, momentum, eps)[0]
    x = F.relu(x, inplace=True)  # nothing's backward needs the previous layer's output: one pass less
    return F.batch_norm(x, running_mean, running_var, weight, bias, use_batch_stats, momentum, eps)


class _ReLUBatchNorm(torch.autograd.Function):
    """(batch_norm(relu(x)) with batch statistics, relu(x) in place on x) with a backward that makes one tensor.

    Autograd's own backward writes batch norm's input gradient, then the ReLU's into a second new tensor
    ([512, 64, 14, 14] for the seed generator's last block: 9.3 ms and 6.6 ms in a step); here the ReLU's
    mask zeroes the first in place. Running statistics are updated as F.batch_norm does.
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


class _PermutedLinear(torch.autograd.Function):
    """F.linear(z, weight[order], bias[order]): the bias as one more column of a single matrix product.

    For the seed generator's first layer in fp32 on a CPU (z [B, 100] -> [B, 12544]): 17-19 ms forward
    and backward at batch 512 against 22 ms for F.linear on the gathered rows. The weight gradient is
    z^T @ grad ([101, 12544], 5.1 ms) rather than grad^T @ z (7.6 ms), and it carries the bias gradient
    as its last row, so no separate sum over the batch.
    """

    @staticmethod
    def forward(ctx, z, weight, bias, order, inverse):
        weight_and_bias = torch.cat([weight, bias.unsqueeze(1)], 1).index_select(0, order)  # [out, in + 1]
        z_and_one = _with_ones_column(z)  # [B, in + 1]
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


class ChannelDropout(nn.Module):
    """nn.Dropout2d's function: each (image, channel) plane zeroed with probability p, the rest scaled by 1/(1-p).

    The mask comes from one torch.rand on [B, C, 1, 1] instead of Dropout2d's bernoulli_, which costs 4x
    as long on a CPU (0.39 against 0.10 ms at [512, 64, 1, 1]; the seed critic draws six masks a step). The
    same distribution, drawn from the same global stream, though not the same numbers as Dropout2d's.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, C, H, W]
        scale = self.scale(x)
        if scale is None:
            return x
        return x * scale  # one pass over x: the small mask is scaled

    def scale(self, x: torch.Tensor) -> torch.Tensor | None:
        """A fresh mask [B, C, 1, 1] for x [B, C, ...]: 0 for dropped planes, 1/(1-p) for kept ones, or None."""
        return self.mask(x.shape[0], x.shape[1], x)

    def mask(self, batch: int, channels: int, like: torch.Tensor) -> torch.Tensor | None:
        """`scale` for a [batch, channels, ...] input not computed yet, on like's device and in its dtype."""
        if not self.training or self.p == 0.0:
            return None
        keep = torch.rand(batch, channels, 1, 1, device=like.device) >= self.p
        return keep.to(like.dtype) * (1.0 / (1.0 - self.p))


class _ScaledLeakyReLU(torch.autograd.Function):
    """leaky_relu(x * scale) in place on x, for a per-plane scale [B, C, 1, 1] >= 0 (a dropout mask).

    Autograd's own backward of the two in-place ops makes two new tensors the size of x (the ReLU's
    gradient, then its product with the mask); this one scales the first in place.
    """

    @staticmethod
    def forward(ctx, x, scale, slope):
        ctx.mark_dirty(x)
        y = F.leaky_relu(x.mul_(scale), slope, inplace=True)
        ctx.save_for_backward(y, scale)
        ctx.slope = slope
        return y

    @staticmethod
    def backward(ctx, grad):
        y, scale = ctx.saved_tensors
        # With scale >= 0, y > 0 exactly where x * scale > 0: y stands in for the ReLU's input.
        return _leaky_relu_grad(grad, y, ctx.slope).mul_(scale), None, None


class _SeedCriticHead(torch.autograd.Function):
    """fc(batch_norm(leaky_relu(x * scale))) -> scores [B], for the seed critic after conv2 in training.

    x [B, C, H, W] NHWC (conv2's own output, overwritten by the LeakyReLU as in `_ScaledLeakyReLU`), scale
    [B, C, 1, 1] the dropout mask, batch norm with batch statistics. Because the score layer is linear,
    the gradient that reaches batch norm's output is rank one, g[b, f] = s[b] * w[f] (s: the scores'
    gradient, w: fc's weight), and batch norm's input gradient needs only per-feature sums:

        grad_h[b, f] = s[b] * u[f] + h[b, f] * v[c] + k[c]

    with u, v, k computed from sum_b s[b] * h[b, f] (one matrix-vector product over h) and the batch
    statistics; the same product gives the weight gradients. So the backward writes one new tensor (a
    rank-one product plus k, then h * v, LeakyReLU's gradient and the mask in place) where autograd's nodes
    write three (fc's input gradient, batch norm's after two more passes over it, the mask's), and the
    forward reads batch norm's output once for the scores. A gradient that is itself differentiated (a
    gradient penalty's double backward) is taken by autograd through the same functions instead.
    """

    @staticmethod
    def forward(ctx, x, scale, weight, bias, running_mean, running_var, momentum, eps, fc_weight, fc_bias, slope):
        batch = x.shape[0]
        ctx.mark_dirty(x)
        h = F.leaky_relu(x.mul_(scale), slope, inplace=True)  # scale >= 0 commutes with LeakyReLU
        y, mean, invstd = torch.ops.aten.native_batch_norm(
            h, weight, bias, running_mean, running_var, True, momentum, eps
        )
        rows = y.permute(0, 2, 3, 1).reshape(batch, -1)  # [B, H*W*C], a view of the NHWC storage
        scores = torch.addmv(fc_bias.expand(batch), rows, weight_in_nhwc_order(fc_weight, h)[0])
        ctx.save_for_backward(h, scale, weight, bias, mean, invstd, fc_weight)
        ctx.eps, ctx.slope = eps, slope
        ctx.set_materialize_grads(False)
        return scores, x  # x is returned because it was changed in place; callers use the scores

    @staticmethod
    def backward(ctx, grad_scores, grad_h):
        if grad_scores is None or grad_h is not None or torch.is_grad_enabled():
            return _SeedCriticHead._backward_by_autograd(ctx, grad_scores, grad_h)
        h, scale, weight, bias, mean, invstd, fc_weight = ctx.saved_tensors
        batch, channels, height, width = h.shape
        n = batch * height * width  # values per channel in the batch statistics
        rows = h.permute(0, 2, 3, 1).reshape(batch, -1)  # [B, H*W*C], a view of the NHWC storage
        grad_sum = grad_scores.sum()
        # sum_b s[b] * x_hat[b, f], per feature [H*W, C]: what every parameter gradient is made of
        weighted_x_hat = (torch.mv(rows.t(), grad_scores).view(-1, channels) - mean * grad_sum) * invstd
        w = weight_in_nhwc_order(fc_weight, h).view(-1, channels)  # [H*W, C]
        grad_gamma = (w * weighted_x_hat).sum(0)  # batch norm's weight
        w_sum = w.sum(0)
        scale_c = weight * invstd  # batch norm's per-channel factor gamma / sigma
        v = -scale_c * invstd * grad_gamma / n
        k = -scale_c * grad_sum * w_sum / n - v * mean
        spatial = height * width
        grad = torch.addcmul(k.repeat(spatial), grad_scores.unsqueeze(1), (w * scale_c).view(-1))  # k + s u
        grad.addcmul_(rows, v.repeat(spatial))
        torch.ops.aten.leaky_relu_backward.grad_input(grad, rows, ctx.slope, True, grad_input=grad)
        grad.view(batch, spatial, channels).mul_(scale.view(batch, 1, channels))
        grad_x = grad.view(batch, height, width, channels).permute(0, 3, 1, 2)  # [B, C, H, W], NHWC storage
        needs = ctx.needs_input_grad
        grad_bias = grad_sum * w_sum if needs[3] else None
        grad_fc_weight = None
        if needs[8]:  # sum_b s[b] * y[b, f], back in fc's NCHW feature order
            grad_fc_weight = (weighted_x_hat * weight + bias * grad_sum).view(height, width, channels)
            grad_fc_weight = grad_fc_weight.permute(2, 0, 1).reshape(1, -1)
        grad_fc_bias = grad_sum.reshape(1) if needs[9] else None
        grad_gamma = grad_gamma if needs[2] else None
        return grad_x, None, grad_gamma, grad_bias, None, None, None, None, grad_fc_weight, grad_fc_bias, None

    @staticmethod
    def _backward_by_autograd(ctx, grad_scores, grad_h):
        """The general backward: autograd's own through batch norm and fc recomputed from the saved h (which
        links to this node), for double backward and for callers that use the returned x."""
        h, scale, weight, bias, _, _, fc_weight = ctx.saved_tensors
        grads = [None, None, None, None]
        if grad_scores is not None:
            with torch.enable_grad():
                leaves = [t if t.requires_grad else t.detach().requires_grad_() for t in (h, weight, bias, fc_weight)]
                fc_bias = torch.zeros(1, dtype=h.dtype, requires_grad=ctx.needs_input_grad[9])
                y = F.batch_norm(leaves[0], None, None, leaves[1], leaves[2], True, 0.0, ctx.eps)
                scores = y.permute(0, 2, 3, 1).reshape(h.shape[0], -1) @ weight_in_nhwc_order(leaves[3], h)[0] + fc_bias
                wanted = [*leaves, fc_bias] if fc_bias.requires_grad else leaves
                grads = list(torch.autograd.grad(scores, wanted, grad_scores, create_graph=torch.is_grad_enabled()))
        grad_total = grads[0] if grad_h is None else (grad_h if grads[0] is None else grads[0] + grad_h)
        grad_x = None
        if grad_total is not None:
            grad_x = torch.ops.aten.leaky_relu_backward(grad_total, h, ctx.slope, True) * scale
        needs = ctx.needs_input_grad
        grad_fc_weight = grads[3] if needs[8] else None
        grad_fc_bias = grads[4] if len(grads) > 4 else None  # asked for exactly when needs[9]
        grad_gamma = grads[1] if needs[2] else None
        grad_beta = grads[2] if needs[3] else None
        return grad_x, None, grad_gamma, grad_beta, None, None, None, None, grad_fc_weight, grad_fc_bias, None


def _leaky_relu_grad(grad: torch.Tensor, y: torch.Tensor, slope: float, may_overwrite: bool = True) -> torch.Tensor:
    """LeakyReLU's input gradient from its output y (y > 0 exactly where its input is).

    In fp32 on a CPU it overwrites grad, the next layer's own new input gradient that only this node reads
    (2.0 against 2.7 ms at [512, 64, 13, 13]). Out of place in bf16, where the out= kernel is the slower
    (3.7 against 1.9 ms a call in the seed step at batch 512), and when grad is itself differentiated (a
    gradient penalty's double backward).
    """
    leaky_backward = torch.ops.aten.leaky_relu_backward
    if may_overwrite and not grad.requires_grad and full_precision_on_cpu(grad):
        return leaky_backward.grad_input(grad, y, slope, True, grad_input=grad)
    return leaky_backward(grad, y, slope, True)


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
        # The seed calls F.dropout2d (training=True always); a module switches off in eval(). Its masks are
        # applied with the LeakyReLU, in place (see forward).
        self.dropout = ChannelDropout(dropout)
        self.bn = nn.BatchNorm2d(128) if batch_norm else nn.Identity()
        self.fc = nn.Linear(128 * side * side, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The seed computes dropout(leaky_relu(conv(x))). The masks scale by 0 or 1/(1-p) >= 0, which
        # commutes with LeakyReLU, so both run in place on the convolution's output: two passes over
        # [B, 64, 13, 13] instead of two passes and two new tensors (the same numbers for p = 0.5). On a CPU
        # with NHWC activations the first layer's mask scales its weights per image instead (`_first_layer`).
        x = self._first_layer(x)  # [B, 64, 13, 13]
        x = self.conv2(x)  # [B, 128, 6, 6]
        scale = self.dropout.scale(x)
        if scale is not None and self._head_in_one_node(x):  # the rest of the critic: one autograd node
            running_mean, running_var, _, momentum, eps = _batch_norm_state(self.bn)
            inputs = scale, self.bn.weight, self.bn.bias, running_mean, running_var, momentum, eps, self.fc.weight
            return _SeedCriticHead.apply(x, *inputs, self.fc.bias, 0.01)[0]
        x = self.bn(self._dropout_leaky_relu(x, scale))
        if is_channels_last(x):
            return linear_on_nhwc(x, self.fc).squeeze(1)
        return self.fc(x.flatten(1)).squeeze(1)

    def _first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The dropout LeakyReLU of conv1(x). On a CPU with NHWC activations the mask rides in conv1's per-image
        matrix products (`_SingleChannelConvDropoutLeakyReLU`), in fp32 and under bf16 autocast alike."""
        conv1 = self.conv1
        nhwc = is_channels_last(self.conv2.weight)  # (conv1's own weight, with one input channel, cannot tell)
        if x.device.type == "cpu" and nhwc and conv1.padding == (0, 0) and conv1.bias is not None:
            # The mask is drawn before the convolution (which draws nothing): the same random stream as below.
            scale = self.dropout.mask(x.shape[0], conv1.out_channels, x)
            if scale is not None:
                inputs = x, conv1.weight, conv1.bias, scale
                if torch.is_autocast_enabled("cpu"):  # in the dtype autocast would run conv1 in
                    inputs = tuple(tensor.to(torch.get_autocast_dtype("cpu")) for tensor in inputs)
                return _SingleChannelConvDropoutLeakyReLU.apply(*inputs, conv1.stride, 0.01)
        if full_precision_on_cpu(x):  # the same layer, its input gradient (the generator's step) by fold
            x = _ConvInputGradByFold.apply(x, conv1.weight, conv1.bias, conv1.stride, conv1.padding)
        else:
            x = conv1(x)
        return self._dropout_leaky_relu(x, self.dropout.scale(x))

    def _dropout_leaky_relu(self, x: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        if scale is None:
            return F.leaky_relu(x, inplace=True)
        return _ScaledLeakyReLU.apply(x, scale, 0.01)  # F.leaky_relu's default slope, as the seed uses

    def _head_in_one_node(self, x: torch.Tensor) -> bool:
        """Whether `_SeedCriticHead` computes the critic after conv2: training with batch statistics, in full
        precision on a CPU with NHWC activations, with batch norm and a single score."""
        bn = self.bn
        return (
            full_precision_on_cpu(x)
            and is_channels_last(x)
            and isinstance(bn, nn.BatchNorm2d)
            and bn.affine
            and bn.training
            and self.fc.out_features == 1
        )


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

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.linear(z))).view(-1, 2 * self.width, 7, 7)  # [B, 128, 7, 7]
        if is_channels_last(self.conv1.weight):
            x = x.contiguous(memory_format=torch.channels_last)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv0(x), 0.2)  # [B, 32, 28, 28]
        x = F.leaky_relu(self.conv1(x), 0.2)  # [B, 64, 14, 14]
        x = F.leaky_relu(self.bn(self.conv2(x)), 0.2)  # [B, 128, 7, 7]
        x = linear_on_nhwc(x, self.fc) if is_channels_last(x) else self.fc(x.flatten(1))  # [B, hidden or 1]
        return self.hidden(x).squeeze(1)


ARCHITECTURES: dict[str, tuple[type[Generator], type[Critic]]] = {
    "seed": (SeedGenerator, SeedCritic),
    "repaired": (RepairedGenerator, RepairedCritic),
}


def build_generator(arch: str, z_dim: int) -> Generator:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch][0](z_dim)


def build_critic(arch: str, batch_norm: bool, dropout: float, hidden: int = 0) -> Critic:
    """The critic of `arch`; `hidden` (a fully-connected layer before the score) exists in the repaired one only."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if hidden:
        return ARCHITECTURES[arch][1](batch_norm=batch_norm, dropout=dropout, hidden=hidden)
    return ARCHITECTURES[arch][1](batch_norm=batch_norm, dropout=dropout)


def visible_pixels(critic: Critic, image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> torch.Tensor:
    """Bool [H, W]: the pixels that can change the critic's score at all (its receptive field).

    A pixel the score does not depend on has a zero gradient for every input and every weight; one
    gradient of the summed scores of a few random images, with the critic in eval mode, shows which.
    For the seed's critic the last row and column come out False: whatever a generator draws there, the
    critic cannot see it, so nothing pushes the generator to stop.
    """
    was_training = critic.training
    critic.eval()
    try:
        x = torch.rand(4, *image_shape, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        (gradient,) = torch.autograd.grad(critic(x).sum(), x)
    finally:
        critic.train(was_training)
    return gradient.abs().sum(dim=(0, 1)) > 0
