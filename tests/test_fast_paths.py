"""The CPU routes of wgan.kernels compute what the readable models of wgan.models compute: each is checked
against them (float64 where the check should be exact), and the random stream they draw from with them."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wgan import objectives
from wgan.config import preset
from wgan.data import load_images
from wgan.kernels import FAST_CLASSES, FastSeedCritic, FastSeedGenerator, use_cpu_fast_paths
from wgan.kernels.ops import conv_transpose_by_fold, is_channels_last, linear_on_nhwc
from wgan.kernels.seed_critic import SeedCriticHead, SingleChannelConvDropoutLeakyReLU
from wgan.kernels.seed_generator import conv_transpose_as_conv, conv_transpose_bias_apart
from wgan.latent import frozen_generator, principal_directions, sample_z
from wgan.models import ChannelDropout, RepairedCritic, RepairedGenerator, SeedCritic, SeedGenerator
from wgan.train import build_models, init_state, train_chunk

SMALL = {"batch_size": 16, "holdout_size": 32}


def with_cpu_routes(model: nn.Module) -> nn.Module:
    """A copy of `model` (same parameters, buffers and settings) that runs wgan.kernels' forward."""
    return use_cpu_fast_paths(copy.deepcopy(model))


@pytest.fixture(scope="module")
def digits(mnist_root):
    return load_images("mnist", mnist_root, "train", download=False)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_seed_models_cpu_routes_compute_the_readable_models(layout):
    """Forward, input gradient, weight gradients and running statistics equal the readable models'. In
    float64, so the check is exact: in float32 batch norm at batch 32 amplifies rounding to ~1e-3 of some
    gradients."""
    torch.manual_seed(0)
    reference_g = SeedGenerator().double().to(memory_format=layout)
    reference_c = SeedCritic(dropout=0.0).double().to(memory_format=layout)
    ours_g, ours_c = with_cpu_routes(reference_g), with_cpu_routes(reference_c)
    assert type(ours_g) is FastSeedGenerator and type(ours_c) is FastSeedCritic
    z = torch.randn(32, 100, dtype=torch.float64)
    z_ours, z_ref = z.clone().requires_grad_(), z.clone().requires_grad_()
    images, expected = ours_g(z_ours), reference_g(z_ref)  # train mode: batch statistics, as in a step
    assert torch.allclose(images, expected, atol=1e-12)
    scores, expected_scores = ours_c(images), reference_c(expected)
    assert torch.allclose(scores, expected_scores, atol=1e-12)
    weights = torch.randn(32, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    (scores * weights).sum().backward()
    (expected_scores * weights).sum().backward()
    assert torch.allclose(z_ours.grad, z_ref.grad, atol=1e-12)
    for (name, ours), theirs in zip(ours_g.named_parameters(), reference_g.parameters(), strict=True):
        assert torch.allclose(ours.grad, theirs.grad, atol=1e-10), name
    for (name, ours), theirs in zip(ours_c.named_parameters(), reference_c.parameters(), strict=True):
        assert torch.allclose(ours.grad, theirs.grad, atol=1e-10), name
    # bn1 runs in NHWC feature order under channels_last: its statistics must land back in place
    for ours_norm, reference_norm in ((ours_g.bn1, reference_g.bn1), (ours_g.bn2, reference_g.bn2),
                                      (ours_g.bn3, reference_g.bn3), (ours_c.bn, reference_c.bn)):  # fmt: skip
        assert torch.allclose(ours_norm.running_mean, reference_norm.running_mean, atol=1e-12)
        assert torch.allclose(ours_norm.running_var, reference_norm.running_var, atol=1e-12)
        assert ours_norm.num_batches_tracked == reference_norm.num_batches_tracked == 1


def test_seed_generator_in_float32_channels_last():
    torch.manual_seed(0)
    reference = SeedGenerator().to(memory_format=torch.channels_last)
    ours = with_cpu_routes(reference)
    z = torch.randn(32, 100)
    assert torch.allclose(ours(z), reference(z), atol=1e-4)  # batch statistics: rounding, magnified
    ours.eval(), reference.eval()
    assert torch.allclose(ours(z), reference(z), atol=1e-5)


def test_the_nhwc_first_block_trains_after_an_evaluation_in_inference_mode(monkeypatch):
    monkeypatch.setattr("wgan.kernels.seed_generator._FEATURE_ORDERS", {})  # a fresh process: nothing cached yet
    generator = use_cpu_fast_paths(SeedGenerator().to(memory_format=torch.channels_last))
    with torch.inference_mode():  # e.g. FID-MNIST at iteration 0, before the first step
        generator.eval()(torch.randn(4, 100))
    generator.train()(torch.randn(4, 100)).sum().backward()
    assert generator.linear1.weight.grad is not None


def test_conv_transpose_as_conv_matches_conv_transpose():
    torch.manual_seed(1)
    layer = nn.ConvTranspose2d(8, 5, kernel_size=3, padding=1)
    x = torch.randn(4, 8, 7, 7)
    assert torch.allclose(conv_transpose_as_conv(x, layer), layer(x), atol=1e-5)
    unpadded = nn.ConvTranspose2d(8, 5, kernel_size=3, padding=0)  # output grows by k - 1
    assert torch.allclose(conv_transpose_as_conv(x, unpadded), unpadded(x), atol=1e-5)


@pytest.mark.parametrize(
    "out_channels, output_padding",
    [(4, 0), (1, 0), (1, 1)],  # one output channel: the fp32 forward by fold (the seed's last layer)
)
def test_conv_transpose_bias_apart_matches_the_layer_and_its_gradients(out_channels, output_padding):
    torch.manual_seed(3)
    layer = nn.ConvTranspose2d(6, out_channels, kernel_size=4, stride=2, padding=1, output_padding=output_padding)
    x = torch.randn(3, 6, 7, 7, requires_grad=True)
    ours = conv_transpose_bias_apart(x, layer)
    assert ours.shape == layer(x).shape
    assert torch.allclose(ours, layer(x), atol=1e-5)
    upstream = torch.arange(ours.numel()).view_as(ours).sin()  # an uneven upstream gradient
    (ours * upstream).sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    x.grad = None
    (layer(x) * upstream).sum().backward()
    for ours_grad, reference in zip(grads, [x.grad] + [p.grad for p in layer.parameters()], strict=True):
        assert torch.allclose(ours_grad, reference, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv_transpose_bias_apart(x, layer).dtype == torch.bfloat16  # the fp32 bias does not promote it


@pytest.mark.parametrize("stride, padding, kernel, side", [(2, 1, 4, 14), (2, 0, 3, 13), (1, 1, 3, 5)])
def test_conv_transpose_by_fold_is_the_transposed_convolution(stride, padding, kernel, side):
    torch.manual_seed(6)
    x = torch.randn(3, 5, side, side).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(5, 2, kernel, kernel)
    expected = F.conv_transpose2d(x, weight, stride=stride, padding=padding)
    ours = conv_transpose_by_fold(x, weight, (stride, stride), (padding, padding), expected.shape[-2:])
    assert torch.allclose(ours, expected, atol=1e-5)
    # As an input gradient: conv2d's weight [C_out, C_in, k, k] read as a transposed one's [C_in', C_out', k, k].
    # 28x28 under the seed critic's 3x3 stride-2 convolution: 13x13, the last row and column unread.
    image = torch.randn(2, 1, 28, 28, requires_grad=True)
    conv_weight = torch.randn(4, 1, 3, 3)
    upstream = torch.randn(2, 4, 13, 13)
    (F.conv2d(image, conv_weight, stride=2) * upstream).sum().backward()
    ours_grad = conv_transpose_by_fold(upstream, conv_weight, (2, 2), (0, 0), (28, 28))
    assert torch.allclose(ours_grad, image.grad, atol=1e-5)
    assert (ours_grad[..., -1, :] == 0).all() and (ours_grad[..., :, -1] == 0).all()


def test_first_layer_with_its_mask_inside_is_the_layer_and_twice_differentiable():
    """The seed critic's fp32 first layer (per-image matrix products, the dropout mask in the weights) against
    conv2d, the mask and LeakyReLU written out; gradgradcheck covers the gradient penalty's second pass."""
    torch.manual_seed(8)
    x = torch.randn(3, 1, 9, 9, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([0.0, 2.0, 2.0, 0.0, 2.0, 0.0, 2.0, 2.0, 2.0, 0.0, 0.0, 2.0], dtype=torch.float64)
    scale = scale.view(3, 4, 1, 1)  # each image keeps its own planes

    def ours(x, weight, bias):
        return SingleChannelConvDropoutLeakyReLU.apply(x, weight, bias, scale, (2, 2), 0.01)

    expected = F.leaky_relu(F.conv2d(x, weight, bias, stride=2) * scale, 0.01)
    assert is_channels_last(ours(x, weight, bias))
    assert torch.allclose(ours(x, weight, bias), expected, atol=1e-12)
    assert torch.autograd.gradcheck(ours, (x, weight, bias))
    assert torch.autograd.gradgradcheck(ours, (x, weight, bias))


def test_critic_head_in_one_node_is_the_layers_and_twice_differentiable():
    """The seed critic after conv2 as one node (the rank-one backward) against the mask, LeakyReLU, batch norm
    and fc written out, float64: scores, running statistics and every gradient, with the critic's weights
    learning (the critic's step) and frozen (the generator's); gradgradcheck covers the penalty's second pass."""
    torch.manual_seed(9)
    batch, channels, side = 5, 3, 2
    x = torch.randn(batch, channels, side, side, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    scale = (torch.rand(batch, channels, 1, 1) >= 0.5).double() * 2.0  # a dropout mask, p = 0.5
    bn = nn.BatchNorm2d(channels).double()
    fc = nn.Linear(channels * side * side, 1).double()
    with torch.no_grad():
        for parameter in (*bn.parameters(), *fc.parameters()):
            parameter.normal_()
    upstream = torch.randn(batch, dtype=torch.float64)

    def ours(x, gamma, beta, fc_weight, fc_bias, running=(None, None)):
        inputs = scale, gamma, beta, *running, 0.1, bn.eps, fc_weight, fc_bias, 0.01
        return SeedCriticHead.apply(x.clone(), *inputs)

    def literal(x, gamma, beta, fc_weight, fc_bias, running=(None, None)):
        h = F.leaky_relu(x * scale, 0.01)
        return F.linear(F.batch_norm(h, *running, gamma, beta, True, 0.1, bn.eps).flatten(1), fc_weight, fc_bias)[:, 0]

    for learning in (True, False):
        results = []
        for function in (ours, literal):
            leaves = [x.clone().requires_grad_()] + [p.detach().clone().requires_grad_(learning) for p in
                                                     (bn.weight, bn.bias, fc.weight, fc.bias)]  # fmt: skip
            running = (torch.zeros(channels, dtype=torch.float64), torch.ones(channels, dtype=torch.float64))
            scores = function(*leaves, running=running)
            scores = scores[0] if isinstance(scores, tuple) else scores
            (scores * upstream).sum().backward()
            results.append((scores.detach(), *running, *(leaf.grad for leaf in leaves)))
        for ours_values in results:  # scores, running mean and variance, x's gradient; parameters' when learning
            assert all((value is not None) == (index < 4 or learning) for index, value in enumerate(ours_values))
        for ours_value, expected in zip(*results, strict=True):
            if expected is not None:
                assert torch.allclose(ours_value, expected, atol=1e-12, rtol=1e-10)

    leaves = [x.clone().requires_grad_()] + [p.detach().clone().requires_grad_() for p in bn.parameters()]
    leaves += [p.detach().clone().requires_grad_() for p in fc.parameters()]
    assert torch.autograd.gradcheck(ours, leaves)  # both outputs: the returned x's gradient too
    assert torch.autograd.gradgradcheck(lambda *args: ours(*args)[0], leaves)

    critic = use_cpu_fast_paths(SeedCritic().to(memory_format=torch.channels_last))  # the seed preset in fp32
    images = torch.rand(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    assert type(critic(images).grad_fn).__name__ == "SeedCriticHeadBackward"


def test_seed_critic_under_bf16_autocast_draws_the_same_masks_and_tracks_fp32():
    """Under bf16 autocast the first layer takes the same per-image route in bf16: the same masks from the
    same stream as the readable critic under autocast, scores and weight gradients within bf16's rounding
    of the fp32 ones."""
    torch.manual_seed(2)
    readable = SeedCritic().to(memory_format=torch.channels_last)  # the seed's dropout, p = 0.5
    critic = with_cpu_routes(readable)
    images = (torch.rand(64, 1, 28, 28) * 2 - 1).contiguous(memory_format=torch.channels_last)
    results, streams = [], []
    for module, autocast in ((critic, False), (critic, True), (readable, True)):
        module.zero_grad()
        x = images.clone().requires_grad_()  # as the generator's step needs: the gradient reaches the images
        torch.manual_seed(9)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            scores = module(x)
        scores.float().sum().backward()
        results.append((scores.float().detach(), module.conv1.weight.grad.clone(), x.grad))
        streams.append(torch.get_rng_state())
    (scores, grad, x_grad), (scores_bf16, grad_bf16, x_grad_bf16), (readable_bf16, *_) = results
    assert (scores_bf16 - scores).norm() < 0.02 * scores.norm()  # 0.6% here
    # 6% here, as with conv1's own bf16 kernel: batch statistics magnify the rounding of the gradients
    assert (grad_bf16 - grad).norm() < 0.1 * grad.norm()
    assert (x_grad_bf16 - x_grad).norm() < 0.1 * x_grad.norm()
    assert (scores_bf16 - readable_bf16).norm() < 0.02 * scores.norm()  # other masks would differ by ~100%
    assert torch.equal(streams[1], streams[2]) and torch.equal(streams[0], streams[1])  # as many draws


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_seed_critic_dropout_runs_in_place_and_computes_the_readable_function(layout):
    """The CPU routes scale by the dropout mask before LeakyReLU, in place, with a backward of their own
    (the head after conv2 as one node under channels_last); the readable critic applies dropout after it,
    as the seed does. Same seed: the same masks, drawn as often, and in float64 the same scores, gradients
    and penalty gradients."""
    torch.manual_seed(0)
    reference = SeedCritic(dropout=0.3).double().to(memory_format=layout)  # 1/(1-p) not a power of two
    ours = with_cpu_routes(reference)
    images = torch.rand(16, 1, 28, 28, dtype=torch.float64) * 2 - 1
    results = []
    for critic in (ours, reference):
        critic.zero_grad()
        x = images.clone().contiguous(memory_format=layout).requires_grad_()
        torch.manual_seed(5)
        scores = critic(x)
        (scores * torch.linspace(-1, 1, 16, dtype=torch.float64)).sum().backward()
        torch.manual_seed(6)  # the penalty's double backward runs through the same layers
        eps_stream = torch.Generator().manual_seed(1)
        penalty = objectives.gradient_penalty(critic, images, images.flip(0), generator=eps_stream)
        penalty.backward()
        stream = torch.get_rng_state()
        running = (critic.bn.running_mean.clone(), critic.bn.running_var.clone())
        results.append(
            (scores.detach(), x.grad, penalty.detach(), [p.grad for p in critic.parameters()], stream, running)
        )
    (scores, x_grad, penalty, grads, stream, running), expected = results
    expected_scores, expected_x_grad, expected_penalty, expected_grads, expected_stream, expected_running = expected
    assert (scores != 0).all() and (scores == expected_scores).sum() < 16  # the products in another order
    assert torch.allclose(scores, expected_scores, atol=1e-12)
    assert torch.allclose(x_grad, expected_x_grad, atol=1e-12)
    assert torch.allclose(penalty, expected_penalty, atol=1e-12)
    for ours_grad, reference_grad in zip(grads, expected_grads, strict=True):
        assert torch.allclose(ours_grad, reference_grad, atol=1e-10)
    assert torch.equal(stream, expected_stream)  # as many draws from the global stream
    for ours_stat, reference_stat in zip(running, expected_running, strict=True):
        assert torch.allclose(ours_stat, reference_stat, atol=1e-12)


def test_channel_dropout_drops_whole_planes_like_dropout2d():
    torch.manual_seed(4)
    x = torch.rand(64, 64, 5, 5) + 0.5  # no zeros of its own
    dropout = ChannelDropout(0.3)
    y = dropout(x)
    dropped = (y == 0).all(dim=(2, 3))  # [64, 64]: whole planes
    kept = ~dropped
    assert torch.equal((y == 0).any(dim=(2, 3)), dropped)  # a plane is zeroed entirely or not at all
    assert torch.allclose(y[kept], (x / 0.7)[kept])  # survivors scaled by 1 / (1 - p)
    assert 0.25 < dropped.float().mean().item() < 0.35  # 4,096 planes: p = 0.3 within about 4 sigma
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert dropout(x.bfloat16()).dtype == torch.bfloat16
    assert torch.equal(dropout.eval()(x), x)
    with pytest.raises(ValueError):
        ChannelDropout(1.0)


def test_linear_on_nhwc_matches_flattening_nchw():
    torch.manual_seed(2)
    layer = nn.Linear(6 * 3 * 3, 2)
    x = torch.randn(5, 6, 3, 3)
    nhwc = x.contiguous(memory_format=torch.channels_last)
    assert is_channels_last(nhwc) and not is_channels_last(x)
    assert torch.allclose(linear_on_nhwc(nhwc, layer), layer(x.flatten(1)), atol=1e-6)


def test_channels_last_and_contiguous_training_agree(digits):
    """A few real steps (dropout, clipping, RMSprop) give the same run in both layouts, to float rounding."""
    runs = {}
    for layout in ("channels_last", "contiguous"):
        state = init_state(preset("seed", layout=layout, **SMALL), digits, "cpu")
        train_chunk(state, 4)
        runs[layout] = state
    a, b = runs["channels_last"], runs["contiguous"]
    assert is_channels_last(a.generator.deconv2.weight) and not is_channels_last(b.generator.deconv2.weight)
    for name in ("w_estimate", "critic_real", "critic_fake", "generator_loss"):
        first, second = a.history.columns[name], b.history.columns[name]
        # Step 0 runs the same weights on the same batch: equal up to rounding (|critic_real| is ~0.2).
        assert first[0] == pytest.approx(second[0], rel=1e-4, abs=1e-6), name
        # RMSprop's first steps are sign-like (lr * g / |g|), so rounding can flip the tiniest gradients;
        # later steps still agree to well under the metrics' own scale.
        assert first == pytest.approx(second, abs=1e-3), name


def test_bf16_is_a_different_numeric_path_that_tracks_fp32(digits):
    """bf16 autocast rounds every product to 8 bits of mantissa, so it is not bit-comparable with fp32
    (the model card says so); it must still train the same run to within a few percent early on."""
    runs = {}
    for precision in ("fp32", "bf16"):
        state = init_state(preset("gp", precision=precision, **SMALL), digits, "cpu")
        train_chunk(state, 3)
        runs[precision] = state.history.columns["critic_real"]
    assert all(math.isfinite(v) for v in runs["bf16"])
    assert runs["bf16"] == pytest.approx(runs["fp32"], rel=0.05, abs=0.05)
    assert runs["bf16"] != runs["fp32"]  # it is a different path: if this ever holds, the card is wrong


@pytest.mark.parametrize("hidden", [0, 16])
def test_repaired_cpu_routes_compute_the_readable_models(hidden):
    """NHWC kept NHWC (before the generator's upsampling, into the critic's linear layer): the same
    functions and gradients, float64."""
    torch.manual_seed(10)
    layout = torch.channels_last
    reference_g = RepairedGenerator(width=8).double().to(memory_format=layout)
    reference_c = RepairedCritic(width=4, hidden=hidden).double().to(memory_format=layout)
    ours_g, ours_c = with_cpu_routes(reference_g), with_cpu_routes(reference_c)
    z = torch.randn(8, 100, dtype=torch.float64)
    results, upsampled_nhwc = [], []
    for generator, critic in ((ours_g, ours_c), (reference_g, reference_c)):
        generator.conv1.register_forward_pre_hook(lambda _, inputs: upsampled_nhwc.append(is_channels_last(inputs[0])))
        images = generator(z)
        scores = critic(images)
        (scores * torch.linspace(-1, 1, 8, dtype=torch.float64)).sum().backward()
        results.append(
            (images.detach(), scores.detach(), *(p.grad for p in (*generator.parameters(), *critic.parameters())))
        )
    assert upsampled_nhwc == [True, False]  # the route ran: NHWC before the upsampling, not after it
    for ours, expected in zip(*results, strict=True):
        assert torch.allclose(ours, expected, atol=1e-12)


def test_use_cpu_fast_paths_changes_the_forward_only():
    """The same object, the same state_dict (so checkpoints load unchanged), a subclass of its class; the
    call is explicit, once per model, and refuses models off the CPU."""
    models = [SeedGenerator(), SeedCritic(), SeedCritic(padding=1), RepairedGenerator(), RepairedCritic(hidden=16)]
    for model in models:
        state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
        readable_class = type(model)
        assert use_cpu_fast_paths(model) is model
        assert type(model) is FAST_CLASSES[readable_class] and isinstance(model, readable_class)
        assert list(model.state_dict()) == list(state)
        assert all(torch.equal(model.state_dict()[name], tensor) for name, tensor in state.items())
        assert use_cpu_fast_paths(model) is model and type(model) is FAST_CLASSES[readable_class]  # twice: no-op
        assert type(copy.deepcopy(model)) is type(model)  # the generator's moving average is a deep copy
    other = nn.Linear(2, 1)
    assert use_cpu_fast_paths(other) is other and type(other) is nn.Linear
    with pytest.raises(ValueError, match="meta"):
        use_cpu_fast_paths(SeedGenerator().to("meta"))
    for arch in ("seed", "repaired"):  # training on a CPU builds them with the routes; a GPU would not
        generator, critic = build_models(preset("seed", arch=arch), torch.device("cpu"))
        assert type(generator) in FAST_CLASSES.values() and type(critic) in FAST_CLASSES.values()


def _custom_functions(output: torch.Tensor) -> set[str]:
    """Names of the torch.autograd.Function nodes in output's graph."""
    seen, found, stack = set(), set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if isinstance(node, torch.autograd.function.BackwardCFunction):
            found.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return found


def test_the_readable_models_use_torchs_own_operations_only():
    """wgan.models is the reference: no hand-written autograd node anywhere in its graphs, training or not;
    the same models with the CPU routes do use them (so the check can see one)."""
    layout = torch.channels_last
    z = torch.randn(8, 100)
    for generator, critic in ((SeedGenerator(), SeedCritic()), (RepairedGenerator(), RepairedCritic(hidden=16))):
        generator, critic = generator.to(memory_format=layout), critic.to(memory_format=layout)
        for training in (True, False):
            generator.train(training), critic.train(training)
            assert _custom_functions(critic(generator(z))) == set()
    fast_g, fast_c = (use_cpu_fast_paths(m.to(memory_format=layout).train()) for m in (SeedGenerator(), SeedCritic()))
    assert {"PermutedLinearBackward", "SeedCriticHeadBackward"} <= _custom_functions(fast_c(fast_g(z)))


def test_a_training_run_is_the_same_whichever_forward_runs(digits, monkeypatch):
    """A few real seed-preset steps (dropout, clipping, RMSprop) with the CPU routes and with the readable
    models: the same draws from every stream, the same metrics to float rounding."""
    runs = {}
    for name in ("cpu routes", "readable"):
        if name == "readable":
            monkeypatch.setattr("wgan.train.use_cpu_fast_paths", lambda model: model)
        state = init_state(preset("seed", **SMALL), digits, "cpu")
        assert (type(state.critic) is FastSeedCritic) == (name == "cpu routes")
        train_chunk(state, 4)
        runs[name] = state, torch.get_rng_state(), state.noise_rng.get_state(), state.data_rng.get_state()
    (fast, *fast_streams), (readable, *readable_streams) = runs["cpu routes"], runs["readable"]
    assert all(torch.equal(a, b) for a, b in zip(fast_streams, readable_streams, strict=True))
    for name in ("w_estimate", "critic_real", "critic_fake", "generator_loss"):
        first, second = fast.history.columns[name], readable.history.columns[name]
        assert first[0] == pytest.approx(second[0], rel=1e-4, abs=1e-6), name  # the same weights, batch and masks
        assert first == pytest.approx(second, abs=1e-3), name  # RMSprop's sign-like first steps: see above


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_generators_routes_keep_jacobians_working(layout):
    """wgan.latent.principal_directions (double backward) through the seed generator's routes gives the
    readable generator's directions; and, in the layout it is used in, torch.func.jacfwd and vmap (the fold
    route's jvp and generated vmap rule) give its Jacobian and images."""
    torch.manual_seed(0)
    readable = SeedGenerator().to(memory_format=layout)
    with torch.no_grad():
        readable(torch.randn(64, 100))  # running statistics that are not the identity
    readable = frozen_generator(readable)
    ours = with_cpu_routes(readable)
    z = sample_z(3, 2, 100)
    (directions, speeds), (expected_directions, expected_speeds) = (
        principal_directions(m, z, 4) for m in (ours, readable)
    )
    assert torch.allclose(speeds, expected_speeds, rtol=1e-4)
    assert ((directions * expected_directions).sum(1) > 1 - 1e-4).all()
    if layout == torch.contiguous_format:
        jacobians = [
            torch.func.jacfwd(lambda v, m=m: m(v[None]).flatten())(z.double())
            for m in (ours.double(), readable.double())
        ]
        assert torch.allclose(*jacobians, atol=1e-10)
        batch = torch.randn(3, 100, dtype=torch.float64)
        assert torch.allclose(torch.func.vmap(lambda v: ours(v[None])[0])(batch), readable(batch), atol=1e-12)
