"""Toy distributions where the WGAN argument can be measured: what the toy page uses.

- ``distributions``: the 2-D shapes (8/25 Gaussians, Swiss roll, ring, two moons), their modes, the
  parallel lines of the WGAN paper's Example 1, a grid over the plane;
- ``exact``: closed forms (W, JS, KL, TV; W1 and JS of two Gaussians; the optimal discriminator D* and
  its gradients) and exact W1 on samples;
- ``networks``: the toy MLPs and an ensemble of them trained as one;
- ``fitting``: discriminators and critics trained to optimality, Example 1 and Figure 2 measured;
- ``live``: GAN, WGAN (clip) and WGAN-GP trained side by side on a 2-D toy, one step at a time;
- ``clipping``: what weight clipping does to a critic (WGAN-GP paper, Figure 1).

Methods are named as in ``wgan.objectives.METHODS`` ("gan", "wgan-clip", "wgan-gp": an objective and a
Lipschitz control each); their display labels are ``wgan.objectives.METHOD_LABELS``. Nothing runs at import
time.
"""

from wgan.toy.clipping import DEEP_CLIP_VALUES, ClipStudyConfig, clipping_study
from wgan.toy.distributions import TOY_DATASETS, TOY_LABELS
from wgan.toy.exact import (
    gradients_by_distance,
    parallel_lines_curves,
    parallel_lines_divergences,
    parallel_lines_gradients,
)
from wgan.toy.fitting import (
    GAUSS_FIT,
    GAUSS_N,
    LINES_N,
    LINES_THETAS,
    METHODS,
    parallel_lines_estimates,
    two_gaussians_experiment,
)
from wgan.toy.live import ToyConfig, ToyRun, current_snapshot, init_toy_run, tick_interval, toy_train_steps, train_for
from wgan.toy.networks import limit_threads

__all__ = [
    "DEEP_CLIP_VALUES",
    "GAUSS_FIT",
    "GAUSS_N",
    "LINES_N",
    "LINES_THETAS",
    "METHODS",
    "TOY_DATASETS",
    "TOY_LABELS",
    "ClipStudyConfig",
    "ToyConfig",
    "ToyRun",
    "clipping_study",
    "current_snapshot",
    "gradients_by_distance",
    "init_toy_run",
    "limit_threads",
    "parallel_lines_curves",
    "parallel_lines_divergences",
    "parallel_lines_gradients",
    "parallel_lines_estimates",
    "tick_interval",
    "toy_train_steps",
    "train_for",
    "two_gaussians_experiment",
]
