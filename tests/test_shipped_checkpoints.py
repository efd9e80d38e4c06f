"""The committed checkpoints/*.pt: each loads through load_checkpoint, its card matches its config, the README
describes it. Skips cleanly while none are committed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from wgan.checkpoint import FORMAT, load_checkpoint, load_generator
from wgan.config import migrate_config
from wgan.sampling import generate, noise_from_seed

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "checkpoints"


def other_format(path: Path) -> bool:
    """True for a readable file with another format marker (the MNIST classifier lives here too)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable: count it as ours, so load_checkpoint's error shows up below
        return False
    return isinstance(payload, dict) and isinstance(payload.get("format"), str) and payload["format"] != FORMAT


SHIPPED = [path for path in sorted(FOLDER.glob("*.pt")) if not other_format(path)]
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped generator checkpoints in checkpoints/ yet")
MAX_BYTES = 8 * 2**20  # "a few MB each at most"
# What each shipped file trained with; written before the lipschitz setting, they say it through migrate_config.
SHIPPED_METHODS = {
    "gan.pt": "gan",
    "wgan-clip.pt": "wgan-clip",
    "wgan-clip-seed-arch.pt": "wgan-clip",
    "wgan-gp.pt": "wgan-gp",
}


def command_options(command: str) -> dict[str, str]:
    """--option value pairs of a recorded `python -m wgan train ...` command line."""
    words = shlex.split(command)
    return {
        word[2:]: words[i + 1]
        for i, word in enumerate(words[:-1])
        if word.startswith("--") and not words[i + 1].startswith("--")
    }


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_loads_and_card_matches_config(path):
    checkpoint = load_checkpoint(path)  # the one loading function: validates format, config and weights
    config, card = checkpoint.config, checkpoint.card
    assert not checkpoint.full, "ship generator-only checkpoints (export_generator)"
    assert path.stat().st_size < MAX_BYTES
    weights = [value for value in checkpoint.payload["generator"].values() if value.is_floating_point()]
    assert weights and all(value.dtype == torch.float16 for value in weights)  # half=True export

    for field in ("command", "device"):
        assert isinstance(card.get(field), str) and card[field], f"card lacks {field!r}"
    assert any(key.startswith("data") for key in card), "card lacks the data it was trained on"
    assert any("wall" in key for key in card), "card lacks the wall time"
    iterations = card.get("iterations", card.get("iteration"))
    assert iterations is not None, "card lacks the number of iterations"
    assert int(iterations) == checkpoint.iteration > 0
    for field in ("preset", "dataset", "split", "seed", "z_dim"):
        if field in card:
            assert card[field] == getattr(config, field), field
    assert config.method == SHIPPED_METHODS.get(path.name, config.method)
    if "objective" in card:  # a card written before `lipschitz` names the old objective ("wgan-gp"): read it so
        named = {key: card[key] for key in ("objective", "lipschitz") if key in card}
        said = migrate_config({"clip_value": config.clip_value, "gp_weight": config.gp_weight, **named})
        assert (said["objective"], said["lipschitz"]) == (config.objective, config.lipschitz)

    command = card["command"]
    assert command.startswith("python -m wgan train")
    options = command_options(command)
    assert options.get("preset", "seed") == config.preset
    for option in ("dataset", "split", "seed"):
        if option in options:
            assert options[option] == str(getattr(config, option)), option
    for override in re.findall(r"--set\s+(\w+)=(\S+)", command):
        assert str(getattr(config, override[0])).lower() == override[1].lower(), override

    generator = load_generator(checkpoint)
    images = generate(generator, noise_from_seed(0, 8, config.z_dim))
    assert images.shape == (8, 1, 28, 28) and torch.isfinite(images).all()
    assert images.std() > 0.1  # not a constant picture


def test_readme_describes_every_checkpoint():
    readme = FOLDER / "README.md"
    assert readme.is_file(), "checkpoints/README.md with one card per checkpoint"
    text = readme.read_text()
    for path in SHIPPED:
        assert path.name in text, f"README does not mention {path.name}"
    for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
        if "://" not in image:
            assert (FOLDER / image).is_file(), f"README shows a missing image {image}"
