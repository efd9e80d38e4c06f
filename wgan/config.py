"""Training hyperparameters: one frozen dataclass, its presets, field-by-field overrides.

The presets reproduce the seed blog post, Algorithm 1 of the WGAN paper (arXiv 1701.07875) with the
official code's critic warm-up, the WGAN-GP paper (arXiv 1704.00028), the shipped weight-clipping recipe
and a standard (non-saturating) GAN baseline for contrast.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from wgan.models import ARCHITECTURES
from wgan.objectives import LIPSCHITZ, METHODS, OBJECTIVES, method_name

OPTIMIZERS = ("rmsprop", "adam")
DATASETS = ("mnist", "fashion-mnist", "digits-offline")
LAYOUTS = ("channels_last", "contiguous")


class ConfigError(ValueError):
    """A config value, override or preset name is not valid; the message says which and why (one line)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes (not where its files live)."""

    preset: str = "seed"  # name of the preset this config started from (informational)
    objective: str = "wgan"  # "wgan" (the critic estimates W) or "gan" (the baseline's discriminator, BCE)
    lipschitz: str = "clip"  # how the critic is kept Lipschitz: "clip" (clip_value), "gp" (gp_weight) or "none"
    arch: str = "seed"  # models: "seed" (the blog post's, blind border and all) or "repaired"
    dataset: str = "mnist"  # "mnist", "fashion-mnist" or "digits-offline" (5,000 real digits from pip)
    split: str = "train"  # which MNIST split to train on: "train" or "test"
    batch_size: int = 512  # real (and fake) images per critic step
    z_dim: int = 100  # latent size; the seed's generator takes 100-d N(0, I) noise
    critic_batch_norm: bool = True  # the seed's critic has batch norm; WGAN-GP drops it (penalty is per sample)
    critic_dropout: float = 0.5  # the seed critic's dropout2d after each conv (the repaired critic has none)
    critic_hidden: int = 0  # repaired critic only: a fully-connected layer this wide before the score; 0 = none
    generator_width: int = 0  # repaired generator only: channels at 14x14 (twice that at 7x7); 0 = its own, 64
    critic_width: int = 0  # repaired critic only: channels of its first convolution (x2, x4 after); 0 = its own, 32
    optimizer: str = "rmsprop"  # "rmsprop" (WGAN: no momentum) or "adam"
    lr_critic: float = 2e-4  # critic learning rate
    lr_generator: float = 2e-4  # generator learning rate
    adam_beta1: float = 0.5  # Adam only: first-moment decay (WGAN-GP uses 0.0, DCGAN-style GANs 0.5)
    adam_beta2: float = 0.999  # Adam only: second-moment decay (WGAN-GP uses 0.9)
    rmsprop_alpha: float = 0.99  # RMSprop only: squared-gradient decay (PyTorch default, as in the seed)
    clip_value: float = 0.01  # lipschitz="clip" only: every critic parameter is clamped to [-c, c] after each step
    gp_weight: float = 10.0  # lipschitz="gp" only: the gradient penalty's weight lambda (WGAN-GP paper: 10)
    n_critic: int = 1  # critic updates per generator update
    critic_warmup: bool = False  # official WGAN code: warmup_n_critic steps early on and every 500th iteration
    warmup_n_critic: int = 100  # critic updates in a warm-up iteration
    warmup_iterations: int = 25  # the first this-many generator iterations are warm-up iterations
    warmup_every: int = 500  # ... and so is every warmup_every-th generator iteration
    generator_ema: float = 0.0  # decay of a moving average of the generator's weights that samples use; 0 = off
    precision: str = "fp32"  # "fp32", or "bf16" autocast for the forward passes (CPUs with AMX or AVX512-BF16, GPUs)
    layout: str = "channels_last"  # activation memory layout: "channels_last" (NHWC) or "contiguous" (NCHW)
    holdout_size: int = 500  # real images kept out of training to check the critic for overfitting
    seed: int = 0  # seeds model initialisation, data order, noise and dropout

    def __post_init__(self) -> None:
        problems = []
        if self.objective not in OBJECTIVES:
            hint = " (now objective='wgan' with lipschitz='gp')" if self.objective == "wgan-gp" else ""
            problems.append(f"objective must be one of {OBJECTIVES}, not {self.objective!r}{hint}")
        elif self.lipschitz not in LIPSCHITZ:
            problems.append(f"lipschitz must be one of {LIPSCHITZ}, not {self.lipschitz!r}")
        else:
            problems.extend(_lipschitz_problems(self))
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}")
        if self.dataset not in DATASETS:
            problems.append(f"dataset must be one of {DATASETS}, not {self.dataset!r}")
        if self.precision not in ("fp32", "bf16"):
            problems.append(f"precision must be 'fp32' or 'bf16', not {self.precision!r}")
        if self.arch not in ARCHITECTURES:
            problems.append(f"arch must be one of {tuple(ARCHITECTURES)}, not {self.arch!r}")
        if self.layout not in LAYOUTS:
            problems.append(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if self.split not in ("train", "test"):
            problems.append(f"split must be 'train' or 'test', not {self.split!r}")
        for name in ("batch_size", "z_dim", "n_critic", "warmup_n_critic", "warmup_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        for name in ("lr_critic", "lr_generator"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive")
        if self.clip_value < 0 or self.gp_weight < 0 or self.holdout_size < 0 or self.warmup_iterations < 0:
            problems.append("clip_value, gp_weight, holdout_size and warmup_iterations cannot be negative")
        if not 0 <= self.generator_ema < 1:
            problems.append("generator_ema must be in [0, 1)")
        if not 0 <= self.critic_dropout < 1:
            problems.append("critic_dropout must be in [0, 1)")
        if self.critic_hidden < 0:
            problems.append("critic_hidden cannot be negative")
        elif self.critic_hidden and self.arch != "repaired":
            problems.append("critic_hidden needs arch='repaired' (the seed's critic stays as the blog post wrote it)")
        for name in ("generator_width", "critic_width"):
            width = getattr(self, name)
            if width < 0 or width == 1 or width % 2:
                problems.append(f"{name} must be 0 (the model's own) or an even number of channels, not {width}")
            elif width and self.arch != "repaired":
                problems.append(f"{name} needs arch='repaired' (the seed's models stay as the blog post wrote them)")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def method(self) -> str:
        """The objective with its Lipschitz control, as one name: "wgan-clip", "wgan-gp" or "gan" (METHODS)."""
        return method_name(self.objective, self.lipschitz)

    def n_critic_at(self, iteration: int) -> int:
        """Critic updates before generator iteration `iteration` (0-based), warm-up included.

        The official WGAN code trains the critic 100 times for each of the first 25 generator iterations
        and every 500th one, so the critic is near-optimal when the generator starts learning from it.
        """
        if self.critic_warmup and (iteration < self.warmup_iterations or iteration % self.warmup_every == 0):
            return self.warmup_n_critic
        return self.n_critic

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild a config saved by `to_dict` (by this code or an older one: `migrate_config`); unknown keys
        are an error, missing ones take defaults."""
        values = migrate_config(values)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**values)


def _lipschitz_problems(config: TrainConfig) -> list[str]:
    """What is wrong with the config's (objective, lipschitz) pair and the knob it uses; [] when nothing.

    The pairs allowed are `wgan.objectives.METHODS`; the other knob keeps its value and is ignored.
    """
    allowed = tuple(lipschitz for objective, lipschitz in METHODS.values() if objective == config.objective)
    lipschitz = config.lipschitz
    if lipschitz not in allowed:
        if config.objective == "gan":
            return [f"the GAN baseline (objective='gan') has no Lipschitz control: lipschitz='none', not {lipschitz!r}"]
        need = f"objective {config.objective!r} needs a Lipschitz control"
        return [f"{need}: lipschitz one of {allowed}, not {lipschitz!r}"]
    if config.lipschitz == "gp" and not config.gp_weight > 0:
        return [f"lipschitz='gp' needs gp_weight > 0, not {config.gp_weight:g} (no penalty of weight 0)"]
    if config.lipschitz == "clip" and not config.clip_value > 0:
        return [f"lipschitz='clip' needs clip_value > 0, not {config.clip_value:g}"]
    return []


def migrate_config(values: dict[str, Any]) -> dict[str, Any]:
    """A config dict saved before `lipschitz` existed, in today's fields (a copy; a newer dict is returned as is).

    Then, objective "wgan-gp" named the penalty and otherwise the values decided: the critic was clipped
    when clip_value > 0 and penalised when gp_weight > 0 (defaults 0.01 and 0). So "wgan-gp" becomes
    objective "wgan" with lipschitz "gp"; "wgan" becomes "clip" when it clipped, else "gp" when it
    penalised, else "none" (which validation refuses: that run's critic was unconstrained); "gan" becomes
    "none". A run that both clipped and penalised is read as its objective's named control.
    """
    values = dict(values)
    if "lipschitz" in values:
        return values
    values.setdefault("gp_weight", 0.0)  # the old default (today's is 10), so the dict means what it meant
    objective = values.get("objective", "wgan")
    if objective == "gan":
        values["lipschitz"] = "none"
    elif objective == "wgan-gp":
        values["objective"], values["lipschitz"] = "wgan", "gp"
    elif objective == "wgan":
        clipped, penalised = values.get("clip_value", 0.01) > 0, values["gp_weight"] > 0
        values["lipschitz"] = "clip" if clipped else "gp" if penalised else "none"
    return values


REPAIRED_ONLY = ("critic_hidden", "generator_width", "critic_width")  # fields the seed's models do not have

PRESETS: dict[str, TrainConfig] = {
    # The blog post (07_WGAN): RMSprop 2e-4, batch 512, clip 0.01, one critic step per generator step.
    "seed": TrainConfig(preset="seed"),
    # WGAN with weight clipping as shipped (checkpoints/wgan-clip.pt): the seed's four changes and its
    # optimiser settings, at batch 64, on the repaired models with a hidden layer before the critic's score
    # (without it the clipped critic cannot judge shapes: checkpoints/README.md, ablation).
    "clip": TrainConfig(preset="clip", arch="repaired", critic_dropout=0.0, critic_hidden=256, batch_size=64),
    # The clip recipe sized for a visitor's first minute on a CPU: narrower repaired models (about a fifth of
    # the clip preset's work per iteration) and a generator learning rate 10x the critic's, so the clipped
    # critic's small gradients move the generator faster (the curves: checkpoints/README.md, time to digits).
    "quick": TrainConfig(
        preset="quick",
        arch="repaired",
        critic_dropout=0.0,
        critic_hidden=256,
        generator_width=16,
        critic_width=16,
        batch_size=64,
        lr_generator=2e-3,
    ),
    # WGAN paper, Algorithm 1, with the official code's critic warm-up.
    "paper": TrainConfig(
        preset="paper",
        batch_size=64,
        lr_critic=5e-5,
        lr_generator=5e-5,
        clip_value=0.01,
        n_critic=5,
        critic_warmup=True,
    ),
    # WGAN-GP paper: Adam(1e-4, betas (0, 0.9)), lambda 10, five critic steps, no batch norm in the critic;
    # the repaired models (the seed's let the generator draw where the critic cannot see).
    "gp": TrainConfig(
        preset="gp",
        lipschitz="gp",
        gp_weight=10.0,
        arch="repaired",
        critic_dropout=0.0,
        batch_size=64,
        optimizer="adam",
        lr_critic=1e-4,
        lr_generator=1e-4,
        adam_beta1=0.0,
        adam_beta2=0.9,
        n_critic=5,
        critic_batch_norm=False,
    ),
    # Standard GAN baseline: BCE with logits, non-saturating generator loss, Adam(2e-4, beta1 0.5); repaired models.
    "gan": TrainConfig(
        preset="gan",
        objective="gan",
        lipschitz="none",
        arch="repaired",
        critic_dropout=0.0,
        batch_size=64,
        optimizer="adam",
        lr_critic=2e-4,
        lr_generator=2e-4,
        adam_beta1=0.5,
        adam_beta2=0.999,
        n_critic=1,
    ),
}


# What the Training page's Start trains unless the visitor picks another preset.
PAGE_DEFAULT_PRESET = "quick"


def preset(name: str, overrides: Iterable[str] = (), **changes: Any) -> TrainConfig:
    """The named preset with `key=value` strings and keyword changes applied, validated."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    config = apply_overrides(PRESETS[name], overrides)
    return replace(config, **changes) if changes else config


def apply_overrides(config: TrainConfig, overrides: Iterable[str]) -> TrainConfig:
    """Apply `key=value` strings (the CLI's `--set`), parsing each value as the field's type.

    Choosing the seed architecture also drops what only the repaired models have (`REPAIRED_ONLY`: the
    critic's hidden layer, the widths) unless an override sets it itself, so `--set arch=seed` is one change
    from any preset.
    """
    types = {f.name: f.type for f in fields(config)}
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types:
            raise ConfigError(f"bad override {item!r}: expected key=value with key one of {', '.join(types)}")
        changes[key] = parse_value(types[key], raw.strip(), key)
    if changes.get("arch", "repaired") != "repaired":
        for name in REPAIRED_ONLY:
            changes.setdefault(name, 0)
    return replace(config, **changes)


def parse_value(type_name: Any, raw: str, key: str) -> Any:
    """Parse `raw` as the dataclass field type named `type_name` ("int", "float", "bool" or "str")."""
    type_name = getattr(type_name, "__name__", type_name)
    try:
        if type_name == "bool":
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        return raw
    except ValueError:
        raise ConfigError(f"bad value for {key}: {raw!r} is not a {type_name}") from None


# One line per preset for menus (the Training page's Preset box): what the recipe is and where it comes from.
PRESET_DESCRIPTIONS: dict[str, str] = {
    "quick": "WGAN with weight clipping, sized for digits within minutes on a CPU (narrow repaired models, "
    "generator lr 2e-3)",
    "clip": "WGAN with weight clipping on the repaired models (the shipped wgan-clip.pt's recipe)",
    "seed": "the blog post (seed models, RMSprop 2e-4, batch 512, clip 0.01, 1 critic step)",
    "paper": "WGAN Algorithm 1 (seed models, RMSprop 5e-5, batch 64, 5 critic steps, warm-up)",
    "gp": "WGAN-GP (repaired models, Adam 1e-4, betas 0/0.9, penalty 10, no critic batch norm)",
    "gan": "standard GAN baseline (repaired models, BCE, Adam 2e-4, beta1 0.5)",
}


def preset_label(name: str) -> str:
    """`name: description` for a menu; a preset without a description is shown by its name alone."""
    description = PRESET_DESCRIPTIONS.get(name)
    return f"{name}: {description}" if description else name
