"""Hand-written CPU routes for the models of `wgan.models`, applied by one explicit call.

`wgan.models` says what the generators and critics compute, layer by layer. This package computes the
same on a CPU in less time: the same sums in another order or memory layout, the same random draws in
the same order. Each model with routes here has a subclass that overrides `forward` only (no new
parameters or buffers), and `use_cpu_fast_paths` turns a model into it. `wgan.train.build_models` calls
it for CPU training; tests/test_fast_paths.py checks every route against the readable forward;
docs/performance.md says what each route bought, as measured.

    ops.py             helpers: layout/precision tests, NHWC linear layers, single-channel layers by fold
    seed_generator.py  FastSeedGenerator and its routes
    seed_critic.py     FastSeedCritic and its routes
    repaired.py        FastRepairedGenerator, FastRepairedCritic
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn

from wgan.kernels.repaired import FastRepairedCritic, FastRepairedGenerator
from wgan.kernels.seed_critic import FastSeedCritic
from wgan.kernels.seed_generator import FastSeedGenerator
from wgan.models import RepairedCritic, RepairedGenerator, SeedCritic, SeedGenerator

FAST_CLASSES: dict[type[nn.Module], type[nn.Module]] = {
    SeedGenerator: FastSeedGenerator,
    SeedCritic: FastSeedCritic,
    RepairedGenerator: FastRepairedGenerator,
    RepairedCritic: FastRepairedCritic,
}

Model = TypeVar("Model", bound=nn.Module)


def use_cpu_fast_paths(model: Model) -> Model:
    """Give `model` (a model of `wgan.models` on the CPU) this package's forward; returns the same object.

    Its class becomes the subclass in FAST_CLASSES; parameters, buffers, state_dict keys and the
    constructor's settings stay as they were, so checkpoints load into it unchanged and `isinstance`
    checks still hold. A model of any other class (a toy MLP, an already converted one) comes back as it
    is. Raises ValueError for a model with a parameter or buffer off the CPU: a GPU runs the models as
    written.

    Each pass picks its routes from its inputs, because a bf16 run's evaluations run in fp32. Below,
    "fp32" is a full-precision pass (fp32 or fp64 activations, no autocast), "bf16" one under CPU bf16
    autocast, "NHWC" a model moved to channels_last (TrainConfig.layout); everything not listed runs
    exactly as the readable forward writes it.

    SeedGenerator:
    - linear1, ReLU, bn1 computed in NHWC feature order, so no layout copy follows the view (NHWC; in fp32
      linear1's bias is one more column of its matrix product);
    - each ReLU + batch norm with batch statistics as one autograd node whose backward applies the ReLU's
      mask in place (fp32, training);
    - deconv1 as the ordinary convolution it equals (its bias added apart in fp32);
    - deconv2 and deconv3 with their biases added apart; deconv3's forward as a matrix product and a
      col2im (fp32);
    - ReLUs and the final tanh in place on each layer's own output.
    SeedCritic (the same dropout masks from the global stream, drawn in the same order):
    - conv1, its mask and LeakyReLU as per-image matrix products with the mask inside the weights
      (NHWC, training, unpadded; fp32 and bf16); otherwise conv1's input gradient by col2im (fp32);
    - each mask and LeakyReLU in place on the convolution's output, with a one-tensor backward;
    - after conv2, mask, LeakyReLU, batch norm and fc as one autograd node with a rank-one backward
      (NHWC, fp32, training, with batch norm);
    - otherwise fc applied to NHWC activations through a permuted weight (NHWC).
    RepairedGenerator: its first feature map made NHWC before it is upsampled (NHWC).
    RepairedCritic: fc applied to NHWC activations through a permuted weight (NHWC).
    """
    fast = FAST_CLASSES.get(type(model))
    if fast is None:
        return model
    elsewhere = {str(t.device) for t in (*model.parameters(), *model.buffers()) if t.device.type != "cpu"}
    if elsewhere:
        raise ValueError(f"CPU routes for a {type(model).__name__} on {', '.join(sorted(elsewhere))}")
    model.__class__ = fast
    return model


__all__ = ["FAST_CLASSES", "FastRepairedCritic", "FastRepairedGenerator", "FastSeedCritic", "FastSeedGenerator",
           "use_cpu_fast_paths"]  # fmt: skip
