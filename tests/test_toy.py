"""The toy page's mathematics: closed forms, exact distances, mode counting, measured claims (CPU, fast)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import norm

from wgan import objectives, toy
from wgan.config import LIPSCHITZ, OBJECTIVES, TrainConfig
from wgan.objectives import LOG2, METHOD_LABELS
from wgan.toy import clipping, distributions, exact, fitting, live


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one intra-op thread (two spin-waiting OpenMP threads crawl on a busy 2-core box)."""
    with toy.limit_threads(1):
        yield


# --- closed forms ---------------------------------------------------------------------------------------


def test_parallel_lines_closed_forms() -> None:
    theta = np.array([-1.0, -0.3, 0.0, 1e-6, 2.0])
    d = exact.parallel_lines_divergences(theta)
    np.testing.assert_allclose(d["W"], np.abs(theta))
    np.testing.assert_allclose(d["JS"], [LOG2, LOG2, 0.0, LOG2, LOG2])
    assert np.isinf(d["KL"][[0, 1, 3, 4]]).all() and d["KL"][2] == 0.0
    np.testing.assert_allclose(d["TV"], [1.0, 1.0, 0.0, 1.0, 1.0])
    assert exact.parallel_lines_gradients(0.7) == {"W": 1.0, "JS": 0.0, "KL": 0.0, "TV": 0.0}
    assert exact.parallel_lines_gradients(-0.2)["W"] == -1.0
    curves = exact.parallel_lines_curves(n=401)
    assert len(curves["theta"]) == 400 and not (curves["theta"] == 0).any()  # 0 is drawn on its own
    np.testing.assert_allclose(curves["JS"], LOG2)
    np.testing.assert_allclose(curves["W"], np.abs(curves["theta"]))


def test_one_vocabulary_for_the_three_methods() -> None:
    assert math.isclose(LOG2, math.log(2.0))
    assert toy.METHODS == tuple(objectives.METHODS) == tuple(METHOD_LABELS) == ("gan", "wgan-clip", "wgan-gp")
    assert toy.METHODS[0] == "gan"  # the page shows the GAN first
    for name, (objective, lipschitz) in objectives.METHODS.items():  # each is a MNIST config too, by the same name
        assert objective in OBJECTIVES and lipschitz in LIPSCHITZ
        assert TrainConfig(objective=objective, lipschitz=lipschitz).method == name
    assert fitting.CRITICS == ("wgan-clip", "wgan-gp")
    with pytest.raises(ValueError, match="unknown method"):
        fitting.fit_critic("clip", torch.zeros(4, 1), torch.ones(4, 1), fitting.LINES_FIT)


def test_parallel_lines_sampler() -> None:
    x = distributions.sample_parallel_lines(0.4, 1000, torch.Generator().manual_seed(0))
    assert x.shape == (1000, 2)
    assert torch.all(x[:, 0] == 0.4)
    assert 0.0 <= float(x[:, 1].min()) and float(x[:, 1].max()) <= 1.0


def test_gaussian_w1_closed_form_matches_sorted_quantiles() -> None:
    # the n quantiles of N(mu, sigma^2) are a deterministic "sample"; sorted matching gives |delta| exactly
    q = norm.ppf((np.arange(1000) + 0.5) / 1000)
    assert exact.gaussian_w1(0.0, 3.0, 1.0) == 3.0
    assert exact.gaussian_w1(2.0, -1.5, 0.5) == 3.5
    assert exact.w1_sorted(q, q + 3.0) == pytest.approx(3.0, abs=1e-12)
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 1.0, 100_000), rng.normal(3.0, 1.0, 100_000)
    assert exact.w1_sorted(a, b) == pytest.approx(3.0, abs=0.02)


def test_gaussian_js_known_cases() -> None:
    assert exact.gaussian_js(1.0, 1.0, 0.7) == pytest.approx(0.0, abs=1e-10)
    assert exact.gaussian_js(0.0, 40.0, 1.0) == pytest.approx(LOG2, abs=1e-9)
    assert exact.gaussian_js(0.0, 2.0, 1.0) == pytest.approx(exact.gaussian_js(2.0, 0.0, 1.0), abs=1e-12)
    # against an independent trapezoid integration on a fine grid
    mu_r, mu_g, sigma = -0.5, 1.5, 0.8
    x = np.linspace(-12, 12, 400_001)
    pr, pg = norm.pdf(x, mu_r, sigma), norm.pdf(x, mu_g, sigma)
    m = 0.5 * (pr + pg)
    js = 0.5 * np.trapezoid(pr * np.log(pr / m), x) + 0.5 * np.trapezoid(pg * np.log(pg / m), x)
    assert exact.gaussian_js(mu_r, mu_g, sigma) == pytest.approx(js, abs=1e-7)
    # JS depends on the means only through (mu_r - mu_g) / sigma
    assert exact.gaussian_js(0.0, 1.0, 0.5) == pytest.approx(exact.gaussian_js(3.0, 5.0, 1.0), abs=1e-9)


def test_optimal_minimax_gradient_is_the_derivative_of_log_one_minus_dstar() -> None:
    mu_r, mu_g, sigma = 0.0, 3.0, 1.2

    def log_one_minus_dstar(x: np.ndarray) -> np.ndarray:
        logit = exact.optimal_discriminator_logit(x, mu_r, mu_g, sigma)
        return -np.logaddexp(0.0, logit)

    x = np.array([-1.0, 1.5, 3.0, 5.0])
    h = 1e-5
    finite = (log_one_minus_dstar(x + h) - log_one_minus_dstar(x - h)) / (2 * h)
    np.testing.assert_allclose(exact.optimal_minimax_gradient(x, mu_r, mu_g, sigma), finite, rtol=1e-5)
    # D* is p_r / (p_r + p_g)
    pr, pg = norm.pdf(x, mu_r, sigma), norm.pdf(x, mu_g, sigma)
    np.testing.assert_allclose(exact.optimal_discriminator(x, mu_r, mu_g, sigma), pr / (pr + pg), rtol=1e-10)

    def minus_log_dstar(x: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, -exact.optimal_discriminator_logit(x, mu_r, mu_g, sigma))

    finite = (minus_log_dstar(x + h) - minus_log_dstar(x - h)) / (2 * h)
    np.testing.assert_allclose(exact.optimal_nonsaturating_gradient(x, mu_r, mu_g, sigma), finite, rtol=1e-5)


def test_gradients_by_distance_vanish_for_minimax_only() -> None:
    sigma = 0.5
    curves = toy.gradients_by_distance(sigma, n=50)
    d = curves["distance"]
    assert d[0] == 0.0 and d[-1] == pytest.approx(12 * sigma)
    # at the fake mean D* = sigmoid(-d^2 / (2 sigma^2)): the minimax gradient is D* d / sigma^2
    dstar = 1 / (1 + np.exp(d**2 / (2 * sigma**2)))
    np.testing.assert_allclose(curves["minimax"], dstar * d / sigma**2, rtol=1e-12)
    np.testing.assert_allclose(curves["nonsaturating"], (1 - dstar) * d / sigma**2, rtol=1e-12)
    assert curves["minimax"][-1] < 1e-10 < 1.0 < curves["nonsaturating"][-1]
    np.testing.assert_array_equal(curves["critic"], 1.0)


def test_generator_loss_gradients() -> None:
    # through a linear "critic" l(x) = 2x: -f gives -2; log(1 - sigmoid(l)) gives -2 sigmoid(l); -log
    # sigmoid(l) gives -2 (1 - sigmoid(l))
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(2.0)
    x = torch.tensor([[-1.0], [0.0], [2.0]])
    s = torch.sigmoid(2 * x)
    torch.testing.assert_close(fitting.input_gradient(net, x, "wgan"), torch.full_like(x, -2.0))
    torch.testing.assert_close(fitting.input_gradient(net, x, "minimax"), -2 * s)
    torch.testing.assert_close(fitting.input_gradient(net, x, "nonsaturating"), -2 * (1 - s))


# --- exact distances on samples -------------------------------------------------------------------------


def test_w1_sorted_small_case() -> None:
    assert exact.w1_sorted([0.0, 1.0, 2.0], [5.0, 3.0, 4.0]) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        exact.w1_sorted([0.0, 1.0], [0.0])


def test_w1_exact_2d_by_hand() -> None:
    # two points each; matching straight up costs 1 + 1, crossing costs 2 * sqrt(5): W = 1
    a = np.array([[0.0, 0.0], [2.0, 0.0]])
    b = np.array([[2.0, 1.0], [0.0, 1.0]])
    assert exact.w1_exact(a, b) == pytest.approx(1.0)
    # a unit square translated by (3, 4): every point moves 5
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert exact.w1_exact(square, square[::-1] + np.array([3.0, 4.0])) == pytest.approx(5.0)
    # three points on a line against a rotated copy: the assignment must beat the greedy choice
    a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    b = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    assert exact.w1_exact(a, b) == pytest.approx(1.0)
    # in 1-D it agrees with the sorted formula
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=200), rng.normal(1.0, 2.0, size=200)
    assert exact.w1_exact(u[:, None], v[:, None]) == pytest.approx(exact.w1_sorted(u, v), abs=1e-12)


# --- 2-D toys and mode counting -------------------------------------------------------------------------


@pytest.mark.parametrize("name", toy.TOY_DATASETS)
def test_toy_samplers_are_seeded_and_in_range(name: str) -> None:
    a = distributions.sample_toy(name, 500, torch.Generator().manual_seed(3))
    b = distributions.sample_toy(name, 500, torch.Generator().manual_seed(3))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    torch.testing.assert_close(a, b)
    assert float(a.abs().max()) < 3.0  # inside the page's [-3, 3]^2 window
    spec = distributions.toy_modes(name)
    covered, counts = distributions.count_modes(a.numpy(), spec.centres, spec.radius)
    assert covered == len(spec.centres)  # real data covers all of its own modes or regions
    assert counts.sum() > 0.5 * 500  # most real samples lie on a mode or region


def test_eight_gaussians_geometry() -> None:
    x = distributions.sample_toy("8gaussians", 2000, torch.Generator().manual_seed(0)).numpy()
    radius = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(radius, 2 / 1.414, atol=0.08)  # std 0.02 / 1.414, 5.6 std slack


def test_count_modes_on_a_known_sample() -> None:
    spec = distributions.toy_modes("8gaussians")
    rng = np.random.default_rng(0)
    on_three = np.concatenate([spec.centres[i] + 0.01 * rng.normal(size=(100, 2)) for i in (0, 3, 5)])
    stray = np.concatenate([spec.centres[6] + 0.01 * rng.normal(size=(5, 2)), np.full((20, 2), 10.0)])
    covered, counts = distributions.count_modes(np.concatenate([on_three, stray]), spec.centres, spec.radius)
    # 325 samples: fair share 40.6, a quarter of it 10.2; mode 6 holds only 5; the far points hold none
    assert covered == 3
    assert counts.tolist() == [100, 0, 0, 100, 0, 100, 5, 0]


# --- measured claims ------------------------------------------------------------------------------------


def test_two_gaussians_four_std_apart_vanishing_gradient_measured() -> None:
    """WGAN paper, Figure 2, as numbers: the critic estimates W1, the minimax gradient vanishes."""
    r = fitting.two_gaussians_experiment(0.0, 4.0, 1.0)
    assert r["W1_exact"] == 4.0
    assert r["W1_sorted"] == pytest.approx(4.0, rel=0.03)
    assert r["W"]["wgan-gp"] == pytest.approx(r["W1_exact"], rel=0.10)
    assert r["JS_estimate"] == pytest.approx(r["JS_exact"], abs=0.02)
    assert 0 < r["K_clip"] < 0.1  # the clipped critic estimates K * W1 with a small K
    assert r["K_clip"] == pytest.approx(r["W"]["wgan-clip"] / r["W1_exact"])
    # the minimax generator gradient at the fake mean is under 1% of the critic's
    at_mean = r["grad_at_mean"]
    assert at_mean["minimax"] < 0.01 * at_mean["wgan-gp"]
    assert r["ratio_minimax_to_critic"] == pytest.approx(at_mean["minimax"] / at_mean["wgan-gp"])
    assert at_mean["wgan-gp"] == pytest.approx(1.0, abs=0.1)
    assert at_mean["nonsaturating"] > 0.5  # the non-saturating loss keeps a strong gradient
    # the trained D is close to D* between the two means, where both densities have mass
    middle = np.abs(r["x"] - 2.0) < 1.0
    np.testing.assert_allclose(r["D"][middle], r["D_star"][middle], atol=0.15)
    assert set(r["grad"]) == set(at_mean) == {"minimax", "nonsaturating", "wgan-clip", "wgan-gp"}


def test_parallel_lines_estimates() -> None:
    est = fitting.parallel_lines_estimates((0.0, 0.5), n=256, config=replace(fitting.LINES_FIT, steps=150))
    assert est["JS"][1] == pytest.approx(LOG2, abs=0.01)  # perfectly separated: log 2
    assert abs(est["JS"][0]) < 0.05  # identical: about 0
    assert est["W"][1] == pytest.approx(0.5, rel=0.1)
    assert abs(est["W"][0]) < 0.05


def test_ensemble_members_train_independently() -> None:
    cfg = replace(fitting.LINES_FIT, steps=20)
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(2, 64, 2, generator=g), torch.randn(2, 64, 2, generator=g) + 1.0
    other = fake.clone()
    other[1] += 5.0  # change only member 1's data
    a = fitting.fit_critics("wgan-gp", real, fake, cfg, seed=0)
    b = fitting.fit_critics("wgan-gp", real, other, cfg, seed=0)
    x = torch.randn(32, 2, generator=g)
    torch.testing.assert_close(a(x)[0], b(x)[0])  # member 0 never saw the change
    assert not torch.allclose(a(x)[1], b(x)[1])


def test_live_run_same_seed_steps_and_snapshot() -> None:
    config = replace(live.ToyConfig(), n_eval=128, batch_size=64)
    run = live.init_toy_run("8gaussians", seed=0, config=config)
    gens = [run.methods[m].generator for m in toy.METHODS]
    z = run.eval_z[:8]
    with torch.no_grad():
        first = gens[0](z)
        for g in gens[1:]:
            torch.testing.assert_close(g(z), first)  # identical starting generators
    out = live.toy_train_steps(run, 3)
    assert run.step == 3 and set(out) == set(toy.METHODS)
    snap = live.toy_snapshot(run, grid_size=16, n_arrows=8)
    assert snap["step"] == 3 and snap["real"].shape == (128, 2) and snap["grid"].shape == (16,)
    for m in toy.METHODS:
        s = snap[m]
        assert s["fake"].shape == (128, 2) and s["field"].shape == (16, 16)
        assert s["arrow_xy"].shape == (8, 2) and s["arrow_uv"].shape == (8, 2)
        assert s["arrow_norm"] == pytest.approx(float(np.linalg.norm(s["arrow_uv"], axis=1).mean()))
        assert s["w_exact"] > 0 and 0 <= s["modes_covered"] <= 8 and s["steps_per_s"] > 0
    assert 0 < snap["gan"]["field"].min() and snap["gan"]["field"].max() < 1  # D(x) is a probability
    # the same seed replays the same run
    again = live.init_toy_run("8gaussians", seed=0, config=config)
    live.toy_train_steps(again, 3)
    np.testing.assert_array_equal(
        live.toy_snapshot(again, grid_size=16, n_arrows=8)["wgan-gp"]["fake"], snap["wgan-gp"]["fake"]
    )


def test_current_snapshot_is_taken_once_per_step_and_keeps_the_exact_w_history() -> None:
    config = replace(live.ToyConfig(), n_eval=64, batch_size=32, exact_w_points=2)
    run = toy.init_toy_run("ring", seed=1, config=config)
    first = toy.current_snapshot(run)
    assert toy.current_snapshot(run) is first  # same step: not recomputed
    assert [h["step"] for h in run.exact_w_history] == [0]
    assert run.exact_w_history[0]["wgan-clip"] == first["wgan-clip"]["w_exact"]
    for _ in range(2):
        toy.toy_train_steps(run, 1)
        assert toy.current_snapshot(run)["step"] == run.step
    assert [h["step"] for h in run.exact_w_history] == [1, 2]  # only the latest exact_w_points kept
    assert set(run.exact_w_history[-1]) == {"step", *toy.METHODS}
    assert toy.train_for(run, 0.0) == 0 and run.step == 2
    assert toy.tick_interval(0.1) == 0.5 and toy.tick_interval(2.0) == pytest.approx(2.6)
    assert toy.tick_interval(10.0) == 5.0


def test_clipping_study_explodes_vanishes_and_piles_up() -> None:
    cfg = replace(clipping.ClipStudyConfig(), n_pool=2048, steps=60, grid_size=16, n_exact=128)
    r = clipping.clipping_study("swissroll", config=cfg)
    assert r["surface"]["wgan-clip"].shape == (16, 16) and r["surface"]["wgan-gp"].shape == (16, 16)
    assert r["frac_at_bound"] > 0.5  # clipped weights pile up at +-c
    assert r["hist"]["wgan-clip"].sum() == r["hist"]["wgan-gp"].sum()  # same architecture, same number of weights
    edges = r["hist_edges"]["wgan-clip"]
    assert edges[0] == -cfg.clip_value and edges[-1] == cfg.clip_value
    norms = r["deep_norms"]
    assert norms["clip c=0.1"][0] > 100 * norms["clip c=0.1"][-1]  # explodes towards the input
    assert norms["clip c=0.001"][0] < 1e-10 * norms["clip c=0.001"][-1]  # vanishes
    gp = norms["gradient penalty"]
    assert gp.max() / gp.min() < 100  # stays level
    assert r["deep_spans"]["clip c=0.1"] == pytest.approx(norms["clip c=0.1"][0] / norms["clip c=0.1"][-1])
    assert r["w_exact"] > 0 and 0 < r["w"]["wgan-gp"] < r["w_exact"]  # a 1-Lipschitz critic's lower bound
