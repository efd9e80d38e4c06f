"""FID-MNIST's Frechet distance, the class histogram, coverage and the quality tracker."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from wgan import metrics
from wgan.classifier import MnistClassifier
from wgan.config import preset
from wgan.data import ImageData, load_images
from wgan.train import init_state, train_chunk


def random_covariance(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_of_diagonal_gaussians_is_its_closed_form():
    # For commuting (here diagonal) covariances: |mu1 - mu2|^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2.
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert metrics.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_on_full_covariances():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_covariance(rng, d), random_covariance(rng, d)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    # Symmetric in its two arguments.
    assert metrics.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_1d_gaussians_is_the_squared_w2_distance():
    # In 1-D the Frechet distance is W2^2 = (mu1 - mu2)^2 + (sigma1 - sigma2)^2.
    assert metrics.frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9.0 + 1.0)


def test_sample_statistics_approach_the_closed_form():
    rng = np.random.default_rng(1)
    d, n = 4, 200_000
    s1, s2 = np.diag([1.0, 2.0, 3.0, 4.0]), np.diag([4.0, 2.0, 1.0, 0.5])
    a = rng.normal(size=(n, d)) * np.sqrt(np.diag(s1))
    b = rng.normal(size=(n, d)) * np.sqrt(np.diag(s2)) + 1.0
    expected = d * 1.0 + np.sum((np.sqrt(np.diag(s1)) - np.sqrt(np.diag(s2))) ** 2)
    measured = metrics.frechet_distance_between(metrics.FeatureStats.of(a), metrics.FeatureStats.of(b))
    assert measured == pytest.approx(expected, rel=0.02)


def test_identical_sets_give_zero_even_when_the_covariance_is_singular():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(50, 128))  # 50 samples in 128-d: a rank-49 covariance
    stats = metrics.FeatureStats.of(features)
    assert metrics.frechet_distance_between(stats, stats) == pytest.approx(0.0, abs=1e-6)
    assert metrics.FeatureStats.of(torch.from_numpy(features)).sigma == pytest.approx(stats.sigma)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_class_histogram_coverage_and_top_share_of_a_known_set():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 17 + [3] * 2 + [7] * 1)  # 100 samples
    histogram = metrics.class_histogram(labels)
    assert histogram == [50, 30, 17, 2, 0, 0, 0, 1, 0, 0]
    # Covered: at least 2.5% of the samples (a quarter of the uniform 10%): classes 0, 1, 2.
    assert metrics.classes_covered(histogram) == 3
    assert metrics.classes_covered(histogram, fraction=0.01) == 5  # >= 0.1%: also 3 and 7
    assert metrics.top_class_share(histogram) == pytest.approx(0.5)
    balanced = metrics.class_histogram(np.repeat(np.arange(10), 7))
    assert balanced == [7] * 10
    assert metrics.classes_covered(balanced) == 10
    assert metrics.top_class_share(balanced) == pytest.approx(0.1)
    assert metrics.classes_covered([0] * 10) == 0
    assert math.isnan(metrics.top_class_share([0] * 10))


def test_report_and_anchors_with_an_untrained_classifier(mnist_root):
    torch.manual_seed(0)
    classifier = MnistClassifier().eval()
    real = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    classified = metrics.classify(classifier, real, batch_size=16)
    assert classified.features.shape == (40, 128) and classified.features.dtype == torch.float64
    assert torch.allclose(classified.probabilities.sum(1), torch.ones(40, dtype=torch.float64))
    reference = metrics.reference_statistics(classifier, real)
    report = metrics.report_for(classified, reference)
    assert report.fid_mnist == pytest.approx(0.0, abs=1e-6)
    assert sum(report.histogram) == 40 and report.n == 40
    # Bar images are nothing like uniform noise, even in an untrained network's features; two halves of
    # the same bars are close: the noise anchor must sit far above the real one.
    bars = load_images("mnist", mnist_root, "train", download=False).images
    anchors = metrics.sanity_anchors(classifier, bars, seed=0)
    assert set(anchors) == {"real_vs_real", "real_vs_noise"}
    assert 0 < anchors["real_vs_real"] and anchors["real_vs_noise"] > 5 * anchors["real_vs_real"]


def test_report_figures_of_known_probabilities():
    # Three samples whose top probabilities are 0.9, 0.6 and 0.3 for classes 2, 2 and 7.
    probabilities = torch.full((3, 10), 0.0, dtype=torch.float64)
    for row, (digit, top) in enumerate(((2, 0.9), (2, 0.6), (7, 0.3))):
        probabilities[row] = (1 - top) / 9
        probabilities[row, digit] = top
    features = torch.tensor([[0.0, 1.0], [2.0, 1.0], [1.0, 4.0]], dtype=torch.float64)
    reference = metrics.FeatureStats(np.array([1.0, 2.0]), np.eye(2), 3)
    report = metrics.report_for(metrics.Classified(features, probabilities), reference)
    assert report.mean_confidence == pytest.approx(0.6)
    assert report.histogram == [0, 0, 2, 0, 0, 0, 0, 1, 0, 0] and report.top_class_share == pytest.approx(2 / 3)
    assert report.classes_covered == 2
    # features: mean (1, 2), covariance diag(1, 3) against N((1, 2), I): 0 + (1 - 1)^2 + (sqrt(3) - 1)^2
    assert report.fid_mnist == pytest.approx((math.sqrt(3) - 1) ** 2)


def test_quality_tracker_evaluates_a_run_every_n_iterations_with_fixed_noise(mnist_root):
    del mnist_root  # the tracker needs no files: a handful of random images is enough here
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    data = ImageData(images, torch.zeros(64, dtype=torch.int64), "random")
    state = init_state(preset("gan", batch_size=8, holdout_size=0), data)
    torch.manual_seed(0)
    classifier = MnistClassifier().eval()
    tracker = metrics.QualityTracker(
        classifier, metrics.reference_statistics(classifier, images), n_samples=20, seed=3, every=2
    )
    first = tracker.maybe_update(state)
    assert first is not None and first.iteration == 0
    assert tracker.maybe_update(state) is None  # not due yet
    train_chunk(state, 2)
    second = tracker.maybe_update(state)
    assert second is not None and second.iteration == 2
    assert state.quality["iteration"] == [0.0, 2.0]  # the points live in the run (and so in its checkpoints)
    assert state.quality["wall_seconds"] == [0.0, state.wall_seconds] and state.wall_seconds > 0
    assert len(state.quality["fid_mnist"]) == 2 and len(state.quality["js_estimate"]) == 2
    assert math.isnan(first.w_estimate)  # nothing trained before the first point
    # The curve value at a point is the median over the iterations since the previous point.
    assert second.w_estimate == pytest.approx(float(np.median(state.history.columns["w_estimate"][0:2])))
    assert second.js_estimate == pytest.approx(float(np.median(state.history.columns["js_estimate"][0:2])))
    # The same generator and seed give the same figures; the evaluation leaves training mode alone.
    again = tracker.update(state)
    assert again.report.fid_mnist == pytest.approx(second.report.fid_mnist)
    assert state.generator.training


def test_figure3_spearman():
    from benchmarks.figure3 import spearman

    rising = spearman([1.0, 2.0, 3.0, float("nan"), 5.0], [10.0, 20.0, 25.0, 1.0, 99.0])
    assert rising["rho"] == pytest.approx(1.0) and rising["points"] == 4  # the nan pair is left out
    assert spearman([3.0, 2.0, 1.0], [1.0, 2.0, 3.0])["rho"] == pytest.approx(-1.0)
    assert math.isnan(spearman([1.0, 2.0], [1.0, 2.0])["rho"])
