"""wgan.sampling.generate: the one way to run a generator for samples (eval mode, no autograd, batched,
the run's precision); wgan.modes.eval_mode, the one way to borrow a module in eval mode."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from wgan import metrics
from wgan.classifier import MnistClassifier
from wgan.models import SeedGenerator
from wgan.modes import eval_mode
from wgan.sampling import generate, lit_share, noise_from_seed


def test_generate_in_batches_matches_one_pass_and_returns_cpu_floats():
    torch.manual_seed(0)
    generator = SeedGenerator(100).eval()
    z = noise_from_seed(0, 10, 100)
    whole, batched = generate(generator, z), generate(generator, z, batch_size=4)
    assert whole.shape == (10, 1, 28, 28) and whole.dtype == torch.float32 and whole.device.type == "cpu"
    torch.testing.assert_close(batched, whole, atol=1e-6, rtol=0)
    assert generate(generator, z[:0]).shape == (0, 1, 28, 28)
    assert not whole.requires_grad


def trained_mode_generator() -> SeedGenerator:
    """A generator in train mode whose batch-norm running statistics differ from its batch statistics."""
    torch.manual_seed(0)
    generator = SeedGenerator(100)
    generator.train()
    with torch.no_grad():
        generator(torch.randn(64, 100))
    return generator


def test_generate_samples_in_eval_mode_and_leaves_the_mode_as_it_found_it():
    generator = trained_mode_generator()
    z = noise_from_seed(5, 6, 100)
    running = {k: v.clone() for k, v in generator.state_dict().items()}
    with eval_mode(generator):
        assert not generator.training
        expected = generator(z).detach()
    assert generator.training
    images = generate(generator, z, batch_size=4)
    assert generator.training  # left as it was found
    torch.testing.assert_close(images, expected, atol=1e-6, rtol=0)  # batch norm on its running statistics
    for key, value in generator.state_dict().items():
        assert torch.equal(value, running[key]), key  # sampling never updates them
    # FID-MNIST draws its samples the same way: noise_from_seed(seed), eval mode, the mode restored.
    classifier = MnistClassifier().eval()
    reference = metrics.reference_statistics(classifier, expected)
    report = metrics.evaluate_generator(generator, classifier, reference, n=6, seed=5, batch_size=4)
    direct = metrics.report_for(metrics.classify(classifier, expected), reference)
    assert report.fid_mnist == pytest.approx(direct.fid_mnist, abs=1e-6) and report.histogram == direct.histogram
    assert generator.training


def test_eval_mode_restores_the_mode_when_the_block_raises():
    generator = trained_mode_generator()
    with pytest.raises(RuntimeError, match="inside"), eval_mode(generator):
        raise RuntimeError("inside")
    assert generator.training
    generator.eval()
    with eval_mode(generator):
        pass
    assert not generator.training  # an eval-mode module stays in eval mode


def test_generate_in_the_runs_precision_and_on_its_device():
    generator = trained_mode_generator()
    z = noise_from_seed(1, 8, 100)
    fp32, bf16 = generate(generator, z), generate(generator, z, precision="bf16")
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)  # bf16 matrix products, fp32 images back
    torch.testing.assert_close(bf16, fp32, atol=0.1, rtol=0)
    here = generate(generator, z, device=None)  # left where the generator made them
    assert here.device == next(generator.parameters()).device and torch.equal(here, fp32)


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
