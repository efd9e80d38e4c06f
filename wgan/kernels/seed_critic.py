"""The seed critic's CPU routes: `FastSeedCritic` and the layers it computes another way.

Each route gives the function `wgan.models.SeedCritic.forward` gives, with the same parameters, the same
running statistics and the same dropout masks drawn from the global stream in the same order
(tests/test_fast_paths.py compares them in float64); why each one pays is in its docstring, the
measurements in docs/performance.md.
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
    leaky_relu_grad,
    linear_on_nhwc,
    single_channel_patches,
    weight_in_nhwc_order,
)
from wgan.models import SeedCritic

SLOPE = 0.01  # F.leaky_relu's default slope, as the seed uses


class FastSeedCritic(SeedCritic):
    """`SeedCritic` with the forward below; `wgan.kernels.use_cpu_fast_paths` turns one into this.

    The seed computes dropout(leaky_relu(conv(x))). The masks scale by 0 or 1/(1-p) >= 0, which commutes
    with LeakyReLU, so here both run in place on the convolution's output (`ScaledLeakyReLU`): the same
    numbers for p = 0.5. Layer by layer:
    - conv1, its mask and LeakyReLU as per-image matrix products, the mask inside the weights, when
      training with NHWC activations, unpadded (`SingleChannelConvDropoutLeakyReLU`; fp32 and bf16);
      otherwise conv1 with its input gradient by fold in fp32 (`ConvInputGradByFold`);
    - after conv2, mask, LeakyReLU, batch norm and fc as one autograd node when training in fp32 with NHWC
      activations and batch norm (`SeedCriticHead`);
    - otherwise fc reads NHWC activations through a permuted weight (`linear_on_nhwc`).
    Masks come from `ChannelDropout.mask` in the readable forward's order: conv1's, then conv2's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._first_layer(x)  # [B, 64, 13, 13]
        x = self.conv2(x)  # [B, 128, 6, 6]
        scale = self.dropout.mask(x.shape[0], x.shape[1], x)
        if scale is not None and self._head_in_one_node(x):  # the rest of the critic: one autograd node
            running_mean, running_var, _, momentum, eps = batch_norm_state(self.bn)
            inputs = scale, self.bn.weight, self.bn.bias, running_mean, running_var, momentum, eps, self.fc.weight
            return SeedCriticHead.apply(x, *inputs, self.fc.bias, SLOPE)[0]
        x = self.bn(self._dropout_leaky_relu(x, scale))
        if is_channels_last(x):
            return linear_on_nhwc(x, self.fc).squeeze(1)
        return self.fc(x.flatten(1)).squeeze(1)

    def _first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The dropout LeakyReLU of conv1(x). On a CPU with NHWC activations the mask rides in conv1's per-image
        matrix products (`SingleChannelConvDropoutLeakyReLU`), in fp32 and under bf16 autocast alike."""
        conv1 = self.conv1
        nhwc = is_channels_last(self.conv2.weight)  # (conv1's own weight, with one input channel, cannot tell)
        if x.device.type == "cpu" and nhwc and conv1.padding == (0, 0) and conv1.bias is not None:
            # The mask is drawn before the convolution (which draws nothing): the same random stream.
            scale = self.dropout.mask(x.shape[0], conv1.out_channels, x)
            if scale is not None:
                inputs = x, conv1.weight, conv1.bias, scale
                if torch.is_autocast_enabled("cpu"):  # in the dtype autocast would run conv1 in
                    inputs = tuple(tensor.to(torch.get_autocast_dtype("cpu")) for tensor in inputs)
                return SingleChannelConvDropoutLeakyReLU.apply(*inputs, conv1.stride, SLOPE)
        if full_precision_on_cpu(x):  # the same layer, its input gradient (the generator's step) by fold
            x = ConvInputGradByFold.apply(x, conv1.weight, conv1.bias, conv1.stride, conv1.padding)
        else:
            x = conv1(x)
        return self._dropout_leaky_relu(x, self.dropout.mask(x.shape[0], x.shape[1], x))

    def _dropout_leaky_relu(self, x: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        if scale is None:
            return F.leaky_relu(x, SLOPE, inplace=True)
        return ScaledLeakyReLU.apply(x, scale, SLOPE)

    def _head_in_one_node(self, x: torch.Tensor) -> bool:
        """Whether `SeedCriticHead` computes the critic after conv2: training with batch statistics, in full
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


class ConvInputGradByFold(torch.autograd.Function):
    """conv2d(x, weight, bias, stride, padding) whose input gradient comes from `conv_transpose_by_fold`.

    For the seed critic's first layer (one input channel) oneDNN's fp32 input-gradient kernel, needed when
    the generator learns through the critic, is several times slower than the fold path. The forward
    stays oneDNN's; the weight gradient is one matrix product for an NHWC gradient.
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
            grad_weight, grad_bias = single_channel_conv_weight_grad(grad, x, weight.shape, ctx.stride, ctx.padding)
            grad_bias = grad_bias if needs_bias else None
        elif needs_weight or needs_bias:
            _, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad, x, weight, [weight.shape[0]] if ctx.has_bias else None, ctx.stride, ctx.padding, (1, 1),
                False, (0, 0), 1, (False, needs_weight, needs_bias),
            )  # fmt: skip
        return grad_x, grad_weight, grad_bias, None, None


def single_channel_conv_weight_grad(
    grad: torch.Tensor, x: torch.Tensor, weight_shape: torch.Size, stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """conv2d's weight and bias gradients for a one-channel input x [B, 1, H, W] and an NHWC grad [B, C, OH, OW].

    One matrix product: the input patches with a column of ones ([B*OH*OW, k*k + 1]) against grad viewed
    as [B*OH*OW, C], where NHWC needs no copy (oneDNN's kernel for it is the slower in fp32).
    """
    patches = single_channel_patches(x, weight_shape[-2:], stride, padding)  # [B, OH*OW, k*k + 1]
    both = patches.flatten(0, 1).t() @ grad.permute(0, 2, 3, 1).reshape(-1, grad.shape[1])  # [k*k + 1, C]
    return both[:-1].t().reshape(weight_shape), both[-1]


class SingleChannelConvDropoutLeakyReLU(torch.autograd.Function):
    """leaky_relu(conv2d(x, weight, bias, stride) * scale) for a one-channel x and a per-plane scale >= 0.

    x [B, 1, H, W], weight [C, 1, k, k], scale [B, C, 1, 1] (a dropout mask) -> [B, C, OH, OW] stored NHWC.
    Per image one matrix product: its patches with a column of ones [OH*OW, k*k + 1] against the weights
    and bias scaled by that image's mask [k*k + 1, C]. The mask then costs nothing: the separate
    multiplies forward and backward over [B, C, OH, OW] go (six of them in a seed step), and so does
    oneDNN's backward for the layer. The patches are kept for the weight gradient. Any dtype (fp32, or
    bf16 under autocast).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, scale, stride, slope):
        batch, channels = x.shape[0], weight.shape[0]
        patches = single_channel_patches(x, weight.shape[-2:], stride)  # [B, L, k*k + 1]
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
            patches = single_channel_patches(x, weight.shape[-2:], ctx.stride)
        # Overwritten only in the NHWC layout conv2's backward hands over (not a caller's own tensor).
        grad = leaky_relu_grad(grad, y, ctx.slope, may_overwrite=is_channels_last(grad))
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


class ScaledLeakyReLU(torch.autograd.Function):
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
        return leaky_relu_grad(grad, y, ctx.slope).mul_(scale), None, None


class SeedCriticHead(torch.autograd.Function):
    """fc(batch_norm(leaky_relu(x * scale))) -> scores [B], for the seed critic after conv2 in training.

    x [B, C, H, W] NHWC (conv2's own output, overwritten by the LeakyReLU as in `ScaledLeakyReLU`), scale
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
            return SeedCriticHead._backward_by_autograd(ctx, grad_scores, grad_h)
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
