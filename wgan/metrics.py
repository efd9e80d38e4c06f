"""Measured sample quality: FID-MNIST, the digit-class histogram, coverage and confidence.

FID-MNIST is the Frechet distance between Gaussians fitted to real and generated images in the 128-d
penultimate features of our own MNIST classifier (`wgan.classifier`), a "Frechet LeNet distance". It is
NOT comparable with published FIDs, which use Inception-v3 features of 299x299 RGB images: only compare
FID-MNIST numbers made with the same classifier file, the same number of samples and the same reference
set, and read them against the sanity anchors (real vs real, real vs noise).

Mode collapse shows in the class histogram of generated samples (a collapsed generator draws few digits):
the number of digit classes covered and the share of the most common class.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from wgan.classifier import N_CLASSES, MnistClassifier, as_float_images
from wgan.models import Generator
from wgan.modes import eval_mode
from wgan.sampling import generate, noise_from_seed
from wgan.smoothing import trailing_median
from wgan.train import TrainState

# A class counts as covered when it receives at least this fraction of its uniform share (1/10 of the
# samples): 0.25 * 10% = 2.5% of the samples. MNIST's own classes range from 8.9% to 11.4% of the test
# split, so real data covers all ten; a generator that almost never draws a digit does not.
FID_BAR = 50.0  # FID-MNIST at or below which samples are recognisable digits (checkpoints/README.md)
COVERAGE_FRACTION = 0.25
BATCH_SIZE = 500  # images per forward pass when generating and classifying (bounded memory)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64:

        |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)).

    The trace of the matrix square root is computed in a symmetric form,
    tr((sigma1 sigma2)^(1/2)) = tr((s1 sigma2 s1)^(1/2)) with s1 = sigma1^(1/2), from two symmetric
    eigendecompositions: real by construction, so there are no spurious imaginary parts to discard (which
    scipy.linalg.sqrtm of the non-symmetric product produces). Eigenvalues that round-off makes slightly
    negative are clipped to 0 (the matrices are positive semi-definite).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    sigma1, sigma2 = (sigma1 + sigma1.T) / 2, (sigma2 + sigma2.T) / 2
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T  # sigma1^(1/2), symmetric
    inner = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return float(max(distance, 0.0))


@dataclass
class FeatureStats:
    """Mean [d] and covariance [d, d] (float64) of a set of features, with its size."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def of(cls, features: torch.Tensor | np.ndarray) -> FeatureStats:
        """Statistics of features [n, d]; the covariance is the unbiased one (n - 1), as in FID."""
        array = np.asarray(features.cpu().numpy() if isinstance(features, torch.Tensor) else features, np.float64)
        if array.ndim != 2 or array.shape[0] < 2:
            raise ValueError(f"need features [n >= 2, d], got shape {array.shape}")
        return cls(array.mean(0), np.cov(array, rowvar=False), array.shape[0])


def frechet_distance_between(a: FeatureStats, b: FeatureStats) -> float:
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


@dataclass
class Classified:
    """The classifier's view of a set of images: features [n, d] (float64) and probabilities [n, 10]."""

    features: torch.Tensor
    probabilities: torch.Tensor

    @property
    def predictions(self) -> torch.Tensor:
        return self.probabilities.argmax(1)


@torch.inference_mode()
def classify(classifier: MnistClassifier, images: torch.Tensor, batch_size: int = BATCH_SIZE) -> Classified:
    """Features and class probabilities of images [n, 1, 28, 28] (uint8, or float in [-1, 1]), in batches.

    Runs the classifier in eval mode on its own device; results come back on the CPU.
    """
    device = next(classifier.parameters()).device
    features, probabilities = [], []
    with eval_mode(classifier):
        for first in range(0, images.shape[0], batch_size):
            batch = as_float_images(images[first : first + batch_size]).to(device)
            logits, batch_features = classifier.forward_with_features(batch)
            features.append(batch_features.double().cpu())
            probabilities.append(torch.softmax(logits.double(), 1).cpu())
    if not features:
        return Classified(torch.zeros(0, classifier.feature_dim, dtype=torch.float64), torch.zeros(0, N_CLASSES))
    return Classified(torch.cat(features), torch.cat(probabilities))


def class_histogram(predictions: torch.Tensor | np.ndarray, n_classes: int = N_CLASSES) -> list[int]:
    """Counts of each class 0..n_classes-1 among predicted labels [n]."""
    labels = np.asarray(predictions.cpu().numpy() if isinstance(predictions, torch.Tensor) else predictions)
    return [int(c) for c in np.bincount(labels.astype(np.int64).ravel(), minlength=n_classes)[:n_classes]]


def classes_covered(histogram: list[int] | np.ndarray, fraction: float = COVERAGE_FRACTION) -> int:
    """Classes that get at least `fraction` of their uniform share (default: >= 2.5% of samples for 10 classes)."""
    counts = np.asarray(histogram, np.float64)
    total = counts.sum()
    if total == 0:
        return 0
    return int((counts / total >= fraction / len(counts)).sum())


def top_class_share(histogram: list[int] | np.ndarray) -> float:
    """Share of the most common class: 0.1 for a perfectly balanced 10-class set, 1.0 for total collapse."""
    counts = np.asarray(histogram, np.float64)
    total = counts.sum()
    return float(counts.max() / total) if total else float("nan")


@dataclass
class QualityReport:
    """Quality figures of one set of generated samples against a real reference set."""

    fid_mnist: float
    classes_covered: int
    top_class_share: float
    mean_confidence: float  # mean of the classifier's top probability: low for blobs that look like no digit
    histogram: list[int]
    n: int


def reference_statistics(classifier: MnistClassifier, real_images: torch.Tensor) -> FeatureStats:
    """Feature statistics of the real reference set (compute once, reuse for every evaluation)."""
    return FeatureStats.of(classify(classifier, real_images).features)


def report_for(classified: Classified, reference: FeatureStats) -> QualityReport:
    """Every quality figure of a classified set of generated images."""
    histogram = class_histogram(classified.predictions)
    return QualityReport(
        fid_mnist=frechet_distance_between(FeatureStats.of(classified.features), reference),
        classes_covered=classes_covered(histogram),
        top_class_share=top_class_share(histogram),
        mean_confidence=float(classified.probabilities.max(1).values.mean()),
        histogram=histogram,
        n=classified.features.shape[0],
    )


def evaluate_generator(
    generator: Generator,
    classifier: MnistClassifier,
    reference: FeatureStats,
    n: int = 10_000,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> QualityReport:
    """FID-MNIST, coverage, top-class share and mean confidence of n samples drawn with a fixed seed."""
    if n < 2:
        raise ValueError("n must be at least 2 (a covariance needs two samples)")
    images = generate(generator, noise_from_seed(seed, n, generator.z_dim), batch_size)
    return report_for(classify(classifier, images, batch_size), reference)


def noise_images(n: int, seed: int) -> torch.Tensor:
    """n images of uniform noise in [-1, 1], shape [n, 1, 28, 28]: the 'no digit at all' anchor."""
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def sanity_anchors(classifier: MnistClassifier, real_images: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """FID-MNIST of real vs real (two disjoint random halves) and of real vs uniform noise (as many images).

    real_vs_real is the floor a perfect generator would reach with half as many samples per side (the
    distance is biased upwards for small sets, so it shrinks as n grows); real_vs_noise is a ceiling.
    """
    n = real_images.shape[0]
    if n < 4:
        raise ValueError("the anchors need at least 4 real images")
    classified = classify(classifier, real_images)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    first, second = order[: n // 2], order[n // 2 : 2 * (n // 2)]
    real_stats = FeatureStats.of(classified.features)
    noise_stats = FeatureStats.of(classify(classifier, noise_images(n, seed)).features)
    return {
        "real_vs_real": frechet_distance_between(
            FeatureStats.of(classified.features[first]), FeatureStats.of(classified.features[second])
        ),
        "real_vs_noise": frechet_distance_between(real_stats, noise_stats),
    }


@dataclass
class QualityPoint:
    """One evaluation during training."""

    iteration: int
    wall_seconds: float  # the run's training seconds when it was measured (TrainState.wall_seconds)
    # Median over the generator iterations since the previous evaluation (at most `every`): one iteration's
    # value is too noisy to compare with FID-MNIST. For the GAN baseline w_estimate is its critic's, same formula.
    w_estimate: float
    js_estimate: float  # GAN only (nan otherwise): log 2 - L_D / 2, same median
    report: QualityReport
    seconds: float  # what the evaluation cost


MAX_REFERENCE_IMAGES = 10_000  # a run's own training images in its FID reference (bounded cost, computed once)


@dataclass
class QualityTracker:
    """FID-MNIST and coverage of a run's generator every `every` generator iterations, with a bounded cost.

    The one tracker for quality during training: the command line's `--fid-every`, the Training page's
    quality section and the Figure 3 benchmark use it. Each evaluation draws `n_samples` images from the
    same noise (`seed`) through `state.sampler`, so points are comparable along a run and between runs (the
    GAN baseline with the same tracker settings), and appends one entry per figure to `state.quality`
    (see `update`): checkpoints keep the points, and a tracker made for a resumed run carries on after them.
    It runs between training chunks, never inside a step: call `maybe_update(state)` after `train_chunk`.
    The classifier is copied to the run's device once (the caller's model, which may be shared and
    read-only, is left where it is). Generating the samples dominates an evaluation's cost, so
    `n_samples` and `every` set it.
    """

    classifier: MnistClassifier
    reference: FeatureStats
    n_samples: int = 1000
    seed: int = 0
    every: int = 50
    _device_classifier: MnistClassifier | None = field(default=None, repr=False)

    @classmethod
    def for_run(
        cls, state: TrainState, classifier: MnistClassifier, n_samples: int = 1000, seed: int = 0, every: int = 50
    ) -> QualityTracker:
        """A tracker whose reference set is the run's own training images (at most MAX_REFERENCE_IMAGES)."""
        on_device = _on_device(classifier, state.device)
        reference = reference_statistics(on_device, state.data.images[:MAX_REFERENCE_IMAGES])
        return cls(classifier, reference, n_samples, seed, every, _device_classifier=on_device)

    @staticmethod
    def last_iteration(state: TrainState) -> int | None:
        """The generator iteration of the run's latest quality point, None before the first."""
        done = state.quality.get("iteration")
        return int(done[-1]) if done else None

    def due(self, state: TrainState) -> bool:
        """True when the run has no point yet or `every` iterations passed since its latest one."""
        last = self.last_iteration(state)
        return last is None or state.iteration - last >= self.every

    def next_due(self, state: TrainState) -> int:
        """The generator iteration at which the next evaluation is due (now, if the run has no point yet)."""
        last = self.last_iteration(state)
        return state.iteration if last is None else max(state.iteration, last + self.every)

    def maybe_update(self, state: TrainState) -> QualityPoint | None:
        return self.update(state) if self.due(state) else None

    def update(self, state: TrainState) -> QualityPoint:
        """Evaluate the run's sampler now and append a point to `state.quality`.

        Its entries: "iteration", "wall_seconds", "fid_mnist", "classes_covered", "top_class_share",
        "mean_confidence", "w_estimate", "js_estimate" (floats), "samples" (n_samples), "eval_seconds"
        (the evaluation's cost) and "histogram" (the class histogram, 10 ints).
        """
        started = time.perf_counter()
        classifier = self._classifier_on(state.device)
        report = evaluate_generator(state.sampler, classifier, self.reference, self.n_samples, self.seed)
        state.history.flush()
        point = QualityPoint(
            iteration=state.iteration,
            wall_seconds=state.wall_seconds,
            w_estimate=self._recent_median(state, "w_estimate"),
            js_estimate=self._recent_median(state, "js_estimate"),
            report=report,
            seconds=time.perf_counter() - started,
        )
        _append_row(
            state.quality,
            {
                "iteration": float(point.iteration),
                "wall_seconds": point.wall_seconds,
                "fid_mnist": report.fid_mnist,
                "classes_covered": float(report.classes_covered),
                "top_class_share": report.top_class_share,
                "mean_confidence": report.mean_confidence,
                "w_estimate": point.w_estimate,
                "js_estimate": point.js_estimate,
                "samples": float(report.n),
                "eval_seconds": point.seconds,
                "histogram": list(report.histogram),
            },
        )
        return point

    def _recent_median(self, state: TrainState, name: str) -> float:
        """Median of `name` over the iterations logged since the last evaluation (at most `every`); nan if none."""
        values = state.history.columns.get(name, [])
        last = self.last_iteration(state)
        since = len(values) if last is None else state.iteration - last
        if since <= 0:
            return float("nan")
        return trailing_median(values, len(values), max(1, min(since, self.every)))

    def _classifier_on(self, device: torch.device) -> MnistClassifier:
        self._device_classifier = _on_device(self._device_classifier or self.classifier, device)
        return self._device_classifier


def _on_device(classifier: MnistClassifier, device: torch.device) -> MnistClassifier:
    """`classifier` itself when it is on `device` ("cuda" matches any CUDA index), else an eval-mode copy there."""
    current = next(classifier.parameters()).device
    if current.type == device.type and device.index in (None, current.index):
        return classifier
    return copy.deepcopy(classifier).to(device).eval()


def _append_row(columns: dict[str, list], row: dict[str, object]) -> None:
    """Append one entry per name; a name the earlier rows lack (points from older code) is back-filled
    with nan (an empty histogram), so every column stays as long as "iteration"."""
    rows = len(columns.get("iteration", []))
    for name, value in row.items():
        missing = [] if isinstance(value, list) else float("nan")
        columns.setdefault(name, [missing] * rows).append(value)
