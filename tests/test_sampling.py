"""wgan.sampling.generate: the one way to run a generator for samples, batched, with eval mode the caller's."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from wgan import metrics
from wgan.models import SeedGenerator
from wgan.sampling import eval_mode, generate, lit_share, noise_from_seed


def test_generate_in_batches_matches_one_pass_and_returns_cpu_floats():
    torch.manual_seed(0)
    generator = SeedGenerator(100).eval()
    z = noise_from_seed(0, 10, 100)
    whole, batched = generate(generator, z), generate(generator, z, batch_size=4)
    assert whole.shape == (10, 1, 28, 28) and whole.dtype == torch.float32 and whole.device.type == "cpu"
    torch.testing.assert_close(batched, whole, atol=1e-6, rtol=0)
    assert generate(generator, z[:0]).shape == (0, 1, 28, 28)
    assert not whole.requires_grad


def test_eval_mode_is_restored_and_metrics_generate_with_it():
    torch.manual_seed(0)
    generator = SeedGenerator(100)
    generator.train()
    with torch.no_grad():  # non-trivial running statistics, so eval mode is not train mode
        generator(torch.randn(64, 100))
    with eval_mode(generator):
        assert not generator.training
        expected = generate(generator, noise_from_seed(5, 6, 100))
    assert generator.training
    images = metrics.generate_images(generator, 6, seed=5, batch_size=4)
    assert generator.training  # left as it was found
    torch.testing.assert_close(images, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(generate(generator, noise_from_seed(5, 6, 100)), expected)  # train mode differs


def test_paint_marks_the_seed_critics_blind_border_red_and_nothing_else():
    from PIL import Image

    from wgan.models import RepairedCritic, SeedCritic, visible_pixels
    from wgan.sampling import paint, png_bytes

    digit = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    painted = paint(digit, ~visible_pixels(SeedCritic()), (230, 30, 30))
    assert painted.shape == (28, 28, 3) and painted.dtype == np.uint8
    red = (painted == (230, 30, 30)).all(axis=2)
    expected = np.zeros((28, 28), bool)
    expected[27, :] = expected[:, 27] = True  # the last row and the last column
    assert (red == expected).all()
    assert (painted[:27, :27] == digit[:27, :27, None]).all()  # everything else is the digit, in gray
    assert not (paint(digit, ~visible_pixels(RepairedCritic())) != digit[:, :, None]).any()  # sees every pixel
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(painted, scale=2))))
    assert decoded.shape == (56, 56, 3) and (decoded[::2, ::2] == painted).all()
    with pytest.raises(ValueError, match="shape"):
        paint(digit, np.zeros((27, 28), bool))


def test_lit_share_counts_pixels_brighter_than_mid_grey_only_where_chosen():
    images = torch.full((4, 1, 28, 28), -1.0)  # black
    images[:, 0, 27, :] = 1.0  # every image lit along the bottom row (28 pixels)
    images[0, 0, 5, 5] = 1.0  # lit, but not chosen
    images[1, 0, 0, 27] = 0.0  # mid-grey exactly: not lit
    chosen = torch.zeros(28, 28, dtype=torch.bool)
    chosen[27, :] = True
    chosen[:, 27] = True  # last row and column: 55 pixels
    assert lit_share(images, chosen) == pytest.approx(4 * 28 / (4 * 55))
    assert lit_share(images, chosen.numpy()) == pytest.approx(28 / 55)
    assert lit_share(images[:0], chosen) == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        lit_share(images, chosen[:27])
