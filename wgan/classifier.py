"""A small MNIST classifier we train ourselves: the feature space of FID-MNIST and the digit-class histogram.

Inception weights know nothing about handwriting, so a Frechet distance in their features says little about
MNIST samples, and counting digit classes needs a digit classifier anyway. This LeNet-style network (two 5x5
conv layers, a 128-d penultimate layer, 10 logits) is trained by `train_classifier` with explicit seeds and
stored as a plain dict like every other checkpoint here: written atomically, read with
`torch.load(weights_only=True)` and strict state-dict loading, never unpickling code.

Inputs are float images [B, 1, 28, 28] in [-1, 1], exactly what the generator produces; `as_float_images`
converts uint8 datasets the same way the training data is converted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wgan.checkpoint import CheckpointError, load_state_strict, read_payload, write_payload
from wgan.data import to_unit_range

FORMAT = "wgan-mnist-classifier"
FORMAT_VERSION = 1
FEATURE_DIM = 128  # size of the penultimate layer, the space FID-MNIST is computed in
N_CLASSES = 10


class MnistClassifier(nn.Module):
    """images [B, 1, 28, 28] in [-1, 1] -> logits [B, 10]; `features` gives the 128-d penultimate layer.

    About 10.5 M multiply-adds per image (conv2 dominates): half the cost of one generator forward pass,
    so scoring samples is cheap next to making them.
    """

    def __init__(self, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, padding=2)  # 28x28 -> 28x28, pooled to 14x14
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)  # 14x14 -> 14x14, pooled to 7x7
        self.fc1 = nn.Linear(64 * 7 * 7, feature_dim)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(feature_dim, N_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [B, feature_dim] (after ReLU, before dropout): FID-MNIST's feature space."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B, 32, 14, 14]
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # [B, 64, 7, 7]
        return F.relu(self.fc1(x.flatten(1)))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, 10], features [B, feature_dim]) from one pass."""
        features = self.features(x)
        return self.fc2(self.dropout(features)), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1, 28, 28] in [0, 255] -> float in [-1, 1]; float images are returned unchanged."""
    if images.dtype == torch.uint8:
        return to_unit_range(images)
    return images.float()


def _shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random translations by up to `max_shift` pixels (pad with background -1, crop back to 28x28).

    The cheapest augmentation that matters for MNIST: with 10,000 training digits it is worth about half a
    point of accuracy. images: [B, 1, 28, 28] in [-1, 1].
    """
    if max_shift <= 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator)
    rows = (dy[:, None] + torch.arange(height)[None, :]).to(images.device)  # [B, H]
    cols = (dx[:, None] + torch.arange(width)[None, :]).to(images.device)  # [B, W]
    index = torch.arange(batch, device=images.device)[:, None, None]
    return padded[:, 0][index, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


@dataclass
class ClassifierTraining:
    """What `train_classifier` returns: the model (eval mode) and facts for its card."""

    model: MnistClassifier
    epochs: int
    steps: int
    seconds: float


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int = 12,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    max_shift: int = 2,
    max_steps: int | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[int, float], None] | None = None,
) -> ClassifierTraining:
    """Train a fresh MnistClassifier on uint8 images [N, 1, 28, 28] and int64 labels [N].

    Adam with a cosine learning-rate decay, random shifts of up to `max_shift` pixels, dropout 0.5 before the
    last layer. Everything random (initialisation, batch order, shifts, dropout) is seeded from `seed`.
    `max_steps` stops early (tests); `progress(epoch, mean_loss)` is called after each epoch.
    """
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"need as many labels as images (got {images.shape[0]} images, {labels.shape[0]} labels)")
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MnistClassifier()
    model.to(device).train()
    data = as_float_images(images).to(device)
    targets = labels.to(device)
    rng = torch.Generator().manual_seed(seed)  # batch order and shifts (CPU: the same on every device)
    steps_per_epoch = math.ceil(data.shape[0] / batch_size)
    total_steps = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
    )
    start, step = time.perf_counter(), 0
    # Dropout draws from the global stream: fork it so training is repeatable and leaves callers' streams alone.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed + 1)
        for epoch in range(epochs):
            order = torch.randperm(data.shape[0], generator=rng).to(device)
            losses = []
            for first in range(0, data.shape[0], batch_size):
                if step >= total_steps:
                    break
                index = order[first : first + batch_size]
                batch = _shift(data[index], max_shift, rng)
                loss = F.cross_entropy(model(batch), targets[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.detach())
                step += 1
            if losses and progress is not None:
                progress(epoch + 1, float(torch.stack(losses).mean()))
            if step >= total_steps:
                break
    model.eval()
    return ClassifierTraining(model, epochs, step, time.perf_counter() - start)


@torch.inference_mode()
def predict(model: MnistClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted classes [N] (int64, CPU) for uint8 or [-1, 1] float images [N, 1, 28, 28]."""
    device = next(model.parameters()).device
    out = [
        model(as_float_images(images[i : i + batch_size]).to(device)).argmax(1).cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def accuracy(model: MnistClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of `images` classified as `labels` (the model must be in eval mode)."""
    if images.shape[0] == 0:
        return float("nan")
    return float((predict(model, images, batch_size) == labels.cpu()).float().mean())


def save_classifier(model: MnistClassifier, path: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write the classifier as a plain dict (format marker, feature size, weights, card), atomically."""
    card = dict(card or {})
    for key, value in card.items():
        # Only what torch.load(weights_only=True) reads back (torch.__version__, for one, is not a str).
        if value is not None and type(value) not in (str, int, float, bool):
            raise TypeError(f"card[{key!r}] must be a str, int, float, bool or None, not {type(value).__name__}")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "feature_dim": model.feature_dim,
        "state_dict": {name: value.detach().cpu() for name, value in model.state_dict().items()},
        "card": card,
    }
    return write_payload(payload, path)


@dataclass
class LoadedClassifier:
    path: Path
    model: MnistClassifier  # eval mode, on the CPU
    card: dict[str, Any]


def load_classifier(path: str | Path) -> LoadedClassifier:
    """Read a classifier file. Raises CheckpointError with a one-line message on any problem."""
    path = Path(path)
    payload = read_payload(path, f"no such classifier file (make one with: python -m wgan classifier --out {path})")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an MNIST classifier file (no '{FORMAT}' marker)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {payload.get('format_version')!r}, this code reads version {FORMAT_VERSION}"
        )
    feature_dim = payload.get("feature_dim")
    if not isinstance(feature_dim, int) or feature_dim < 1 or "state_dict" not in payload:
        raise CheckpointError(f"{path}: missing or bad feature_dim / state_dict")
    model = MnistClassifier(feature_dim)
    load_state_strict(path, model, payload["state_dict"], "classifier")
    card = payload.get("card", {})
    return LoadedClassifier(path, model.eval(), dict(card) if isinstance(card, dict) else {})
