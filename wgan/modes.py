"""Module modes: the one way to run a block with a network in eval mode and put its mode back afterwards.

A module of its own so that every other module (the networks included) can use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run a block with `module` in eval mode (batch norm on its running statistics, no dropout), then
    restore the mode it had, also when the block raises."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
