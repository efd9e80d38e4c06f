"""Exact answers the toy critics are measured against: closed forms and exact W1 on samples.

Nothing here is trained: the divergences of the WGAN paper's Example 1 (parallel lines), W1 and JS of two
equal-spread 1-D Gaussians (its Figure 2), the optimal GAN discriminator D* between them and the
gradients it hands a generator, and exact W1 between two samples (sorted in 1-D, optimal assignment in
any dimension).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from wgan.objectives import LOG2

# --------------------------------------------------------------------------------------------------
# Example 1 of the WGAN paper: parallel lines
# --------------------------------------------------------------------------------------------------


def parallel_lines_divergences(theta: np.ndarray | float) -> dict[str, np.ndarray]:
    """W, JS (nats), KL and total variation between P_0 and P_theta (WGAN paper, Example 1).

    W = |theta|; JS = log 2 for theta != 0 and 0 at 0; KL(P_theta || P_0) = +inf for theta != 0 and 0 at 0;
    TV = 1 for theta != 0 and 0 at 0. Only W is continuous in theta.
    """
    theta = np.asarray(theta, dtype=np.float64)
    off = theta != 0
    return {
        "W": np.abs(theta),
        "JS": np.where(off, LOG2, 0.0),
        "KL": np.where(off, np.inf, 0.0),
        "TV": np.where(off, 1.0, 0.0),
    }


def parallel_lines_gradients(theta: float) -> dict[str, float]:
    """d/dtheta of each distance at ``theta`` (Example 1): sign(theta) for W, 0 for JS and TV.

    KL is +inf on both sides of theta = 0, so it offers no gradient either (reported as 0); at theta = 0
    the JS, KL and TV curves jump and W has a kink (its subgradient there contains 0).
    """
    return {"W": float(np.sign(theta)), "JS": 0.0, "KL": 0.0, "TV": 0.0}


def parallel_lines_curves(theta_max: float = 1.0, n: int = 401) -> dict[str, np.ndarray]:
    """W, JS, KL and TV on n evenly spaced thetas in [-theta_max, theta_max], theta = 0 left out.

    JS, KL and TV jump at 0, so a chart draws the curves without it and the value at 0 as its own point
    (``parallel_lines_divergences(0.0)``). Returns {"theta", "W", "JS", "KL", "TV"}.
    """
    theta = np.linspace(-theta_max, theta_max, n)
    theta = theta[np.abs(theta) > 1e-9]
    return {"theta": theta, **parallel_lines_divergences(theta)}


# --------------------------------------------------------------------------------------------------
# Figure 2 of the WGAN paper: two 1-D Gaussians with equal spread
# --------------------------------------------------------------------------------------------------


def gaussian_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """Density of N(mu, sigma^2) at ``x``."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def gaussian_w1(mu_real: float, mu_fake: float, sigma: float) -> float:
    """Exact W1 between N(mu_real, sigma^2) and N(mu_fake, sigma^2): |mu_real - mu_fake|.

    With equal spreads one is a translate of the other, so moving every point by the difference of the
    means is an optimal plan, and the linear critic f(x) = +-x (slope 1) certifies it (WGAN paper, eq. 2).
    """
    return abs(float(mu_real) - float(mu_fake))


def gaussian_js(mu_real: float, mu_fake: float, sigma: float) -> float:
    """Jensen-Shannon divergence (nats, with the 1/2 factors, maximum log 2) by numerical integration.

    JS = 1/2 KL(p_r || m) + 1/2 KL(p_g || m), m = (p_r + p_g) / 2, integrated with scipy's adaptive
    quadrature over the means +- 12 sigma (the tails beyond carry less than 1e-30 of either mass).
    """
    lo = min(mu_real, mu_fake) - 12 * sigma
    hi = max(mu_real, mu_fake) + 12 * sigma

    def integrand(x: float) -> float:
        # log-densities relative to the mixture, computed stably
        lr = -0.5 * ((x - mu_real) / sigma) ** 2
        lg = -0.5 * ((x - mu_fake) / sigma) ** 2
        lm = np.logaddexp(lr, lg) - LOG2
        norm = sigma * math.sqrt(2 * math.pi)
        pr, pg = math.exp(lr) / norm, math.exp(lg) / norm
        return 0.5 * (pr * (lr - lm) + pg * (lg - lm))

    mid = 0.5 * (mu_real + mu_fake)
    value, _ = integrate.quad(integrand, lo, hi, points=sorted({mu_real, mid, mu_fake}), limit=200)
    return float(min(max(value, 0.0), LOG2))


def optimal_discriminator_logit(x: np.ndarray, mu_real: float, mu_fake: float, sigma: float) -> np.ndarray:
    """Logit of D*(x) = p_r / (p_r + p_g) for two equal-spread Gaussians (GAN paper, Prop. 1).

    log p_r - log p_g = ((x - mu_fake)^2 - (x - mu_real)^2) / (2 sigma^2), linear in x with slope
    (mu_real - mu_fake) / sigma^2.
    """
    x = np.asarray(x, dtype=np.float64)
    return ((x - mu_fake) ** 2 - (x - mu_real) ** 2) / (2 * sigma**2)


def optimal_discriminator(x: np.ndarray, mu_real: float, mu_fake: float, sigma: float) -> np.ndarray:
    """D*(x) = p_r / (p_r + p_g), the optimal discriminator between two equal-spread Gaussians."""
    return 1.0 / (1.0 + np.exp(-optimal_discriminator_logit(x, mu_real, mu_fake, sigma)))


def optimal_minimax_gradient(x: np.ndarray, mu_real: float, mu_fake: float, sigma: float) -> np.ndarray:
    """d/dx log(1 - D*(x)): the gradient the minimax generator loss sends back through the optimal D*.

    With logit l(x), log(1 - sigmoid(l)) has derivative -sigmoid(l) l'(x); at the fake mean
    sigmoid(l) = sigmoid(-(mu_real - mu_fake)^2 / (2 sigma^2)), which vanishes as the Gaussians separate
    (WGAN paper, Figure 2 and Section 3).
    """
    slope = (mu_real - mu_fake) / sigma**2
    return -optimal_discriminator(x, mu_real, mu_fake, sigma) * slope


def optimal_nonsaturating_gradient(x: np.ndarray, mu_real: float, mu_fake: float, sigma: float) -> np.ndarray:
    """d/dx -log D*(x): the non-saturating loss's gradient through D*, -(1 - D*(x)) l'(x).

    It stays near the logit's slope where D* rejects the fakes, so it does not vanish with the distance.
    """
    return -(1.0 - optimal_discriminator(x, mu_real, mu_fake, sigma)) * (mu_real - mu_fake) / sigma**2


def gradients_by_distance(sigma: float, max_distance: float | None = None, n: int = 200) -> dict[str, np.ndarray]:
    """|generator gradient| at the fake mean through D*, against the distance d between the two means.

    Real N(0, sigma^2), fake N(d, sigma^2) for n distances in [0, max_distance] (default 12 sigma): the
    minimax loss's gradient falls like exp(-d^2 / (2 sigma^2)), the non-saturating one's does not, and a
    1-Lipschitz critic's slope is 1 whatever d is. Returns {"distance", "minimax", "nonsaturating", "critic"}.
    """
    distance = np.linspace(0.0, 12.0 * sigma if max_distance is None else max_distance, n)
    return {
        "distance": distance,
        "minimax": np.abs(optimal_minimax_gradient(distance, 0.0, distance, sigma)),
        "nonsaturating": np.abs(optimal_nonsaturating_gradient(distance, 0.0, distance, sigma)),
        "critic": np.ones_like(distance),
    }


# --------------------------------------------------------------------------------------------------
# Exact distances between samples
# --------------------------------------------------------------------------------------------------


def w1_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W1 between two equal-sized 1-D samples: the mean |sorted(a) - sorted(b)|.

    In 1-D the monotone (sorted) matching is an optimal transport plan.
    """
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.shape != b.shape:
        raise ValueError(f"w1_sorted needs equal-sized samples, got {a.size} and {b.size}")
    return float(np.abs(a - b).mean())


def w1_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W1 between two equal-sized samples in any dimension (Euclidean ground cost).

    Between two empirical measures with n equally weighted points each an optimal plan is a permutation
    (Birkhoff), so W1 is the optimal assignment's mean cost: ``scipy.optimize.linear_sum_assignment``.
    Costs O(n^3) in time and O(n^2) in memory, so keep n to a few thousand.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"w1_exact needs equal-sized samples, got {a.shape} and {b.shape}")
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
