"""Toy distributions: JS against Wasserstein, measured on the page (WGAN paper Example 1 and Figure 2;
WGAN-GP paper Figure 1 and its toy datasets).

Widgets -> wgan.toy -> plotly charts. Pure computations are cached by their slider values; the live 2-D
comparison keeps its run (models, latest snapshot, exact-W history) in session state and trains in a
fragment, about a second per tick. The figures are built in ui/toy.py (plain plotly); this file keeps
the widgets, the caching and the calls into wgan.toy.
"""

from __future__ import annotations

import math
import time

import numpy as np
import streamlit as st

import ui.toy
from ui.navigation import leave_pages_folder_mode
from wgan import toy
from wgan.objectives import LOG2, METHOD_LABELS

leave_pages_folder_mode()  # a shared deep link opened first on a fresh server
st.set_page_config(page_title="Toy distributions - WGAN", page_icon="📐", layout="wide")

CHUNK_SECONDS = 1.0  # training time per tick of the live panel (drawing adds to it)
STEP_ITERATIONS = 25  # generator iterations per press of Step


# --- cached computations (small numpy results, keyed by the slider values) ------------------------------


@st.cache_data(max_entries=1, show_spinner="Training a discriminator and a critic at each theta...")
def lines_estimates() -> dict:
    with toy.limit_threads():  # tiny networks: one thread is faster, and far faster on a busy machine
        return toy.parallel_lines_estimates(toy.LINES_THETAS)


@st.cache_data(max_entries=64, show_spinner="Training a discriminator and two critics...")
def gaussians(mu_real: float, mu_fake: float, sigma: float) -> dict:
    with toy.limit_threads():
        return toy.two_gaussians_experiment(mu_real, mu_fake, sigma)


@st.cache_data(max_entries=len(toy.TOY_DATASETS), show_spinner="Training clipped and penalty critics...")
def clip_study(dataset: str) -> dict:
    with toy.limit_threads():
        return toy.clipping_study(dataset)


def fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def fixed(x: float, digits: int = 3) -> str:
    """x to `digits` decimals, without a minus sign on a value that rounds to zero."""
    return f"{round(x, digits) + 0.0:.{digits}f}"


# --- 1. parallel lines ----------------------------------------------------------------------------------


def section_parallel_lines() -> None:
    st.header("1. Parallel lines (WGAN paper, Example 1)")
    st.markdown(
        "Real: P0, the law of (0, Z) with Z ~ U[0, 1]. Fake: P_theta, the law of (theta, Z). "
        "For every theta != 0 the two segments do not overlap, so JS, KL and total variation cannot see how "
        "far apart they are; only W = |theta| shrinks as theta goes to 0."
    )
    theta = st.slider("theta", -1.0, 1.0, 0.5, 0.05, key="toy.theta")
    est = lines_estimates()
    at_zero = {key: float(value) for key, value in toy.parallel_lines_divergences(0.0).items()}
    st.plotly_chart(ui.toy.lines_figure(toy.parallel_lines_curves(), at_zero, est, theta), key="toy.chart.lines")

    value = {k: float(v) for k, v in toy.parallel_lines_divergences(theta).items()}
    grad = toy.parallel_lines_gradients(theta)
    cols = st.columns(4)
    for col, key in zip(cols, ui.toy.LINES_NAMES, strict=True):
        slope = f"{grad[key]:+g}" if grad[key] else "0"
        col.metric(ui.toy.LINES_NAMES[key], fmt(value[key]))
        col.caption(f"gradient d/dtheta = {slope}")
    at1 = int(np.argmin(np.abs(est["theta"] - 1.0)))
    at01 = int(np.argmin(np.abs(est["theta"] - 0.1)))
    at0 = int(np.argmin(np.abs(est["theta"])))
    js, w = est["JS"], est["W"]
    st.caption(
        f"At theta = {theta:g}: only W offers a gradient ({grad['W']:+g}); JS sits at "
        f"{fmt(value['JS'])} nats (its maximum, log 2 = {LOG2:.4f}) whatever theta != 0 is. "
        f"Crosses: estimated from {toy.LINES_N} samples per line at theta in {list(toy.LINES_THETAS)}. "
        "A discriminator trained to optimality gives the JS estimate log 2 - L_D / 2 = "
        f"{fixed(js[at1], 4)} at theta = 1 and {fixed(js[at01], 4)} at theta = 0.1; a gradient-penalty "
        f"critic gives the W estimate mean f(real) - mean f(fake) = {fixed(w[at1])} at theta = 1 and "
        f"{fixed(w[at01])} at theta = 0.1. At theta = 0 the two estimates are {fixed(js[at0])} and "
        f"{fixed(w[at0])}: fresh samples of one distribution, nothing to separate."
    )


# --- 2. two Gaussians -----------------------------------------------------------------------------------


def section_two_gaussians() -> None:
    st.header("2. Two Gaussians (WGAN paper, Figure 2)")
    fit = toy.GAUSS_FIT
    st.markdown(
        "Real N(mu_real, sigma^2) against fake N(mu_fake, sigma^2); defaults mu_real = 0, mu_fake = 4, "
        f"sigma = 1 (four standard deviations apart). On {toy.GAUSS_N:,} samples of each, trained to "
        f"optimality ({fit.steps} full-batch steps, {fit.depth}x{fit.hidden} {fit.activation} MLPs): a GAN "
        f"discriminator, a weight-clipped critic (c = {fit.clip_value:g}) and a gradient-penalty critic "
        f"(gp_weight = {fit.gp_weight:g}). Numbers are read on {toy.GAUSS_N:,} fresh samples of each."
    )
    cols = st.columns(3)
    mu_real = cols[0].slider("mu_real", -4.0, 4.0, 0.0, 0.5, key="toy.mu_real")
    mu_fake = cols[1].slider("mu_fake (slide it away)", -4.0, 12.0, 4.0, 0.5, key="toy.mu_fake")
    sigma = cols[2].slider("sigma (both)", 0.25, 2.0, 1.0, 0.25, key="toy.sigma")
    if mu_real == mu_fake:
        st.info("The two Gaussians coincide: W1 = JS = 0 and there is nothing to learn. Move a mean.")
        return
    r = gaussians(mu_real, mu_fake, sigma)
    st.plotly_chart(ui.toy.gaussian_curves_figure(r), key="toy.chart.gauss_curves")

    w1, w_gp = r["W1_exact"], r["W"]["wgan-gp"]
    st.dataframe(
        {
            "quantity": ["W1", "JS (nats)"],
            "exact (closed form / quadrature)": [fmt(w1), fmt(r["JS_exact"])],
            "exact from sorted samples": [fmt(r["W1_sorted"]), "-"],
            "gradient-penalty critic": [fmt(w_gp) + f" ({(w_gp / w1 - 1) * 100:+.1f}%)", "-"],
            "clipped critic (= K * W1)": [f"{r['W']['wgan-clip']:.3g}, implied K = {r['K_clip']:.3g}", "-"],
            "GAN discriminator": ["-", fmt(r["JS_estimate"])],
        },
        hide_index=True,
    )
    closed = toy.gradients_by_distance(sigma)
    st.plotly_chart(
        ui.toy.gaussian_gradient_figure(r, closed, abs(mu_fake - mu_real)), key="toy.chart.gauss_grads"
    )
    at_mean = r["grad_at_mean"]
    st.markdown(
        "**At the fake mean** the minimax generator gets |d/dx log(1 - D)| = "
        f"{at_mean['minimax']:.2e} "
        f"(through the exact D*: {r['grad_at_mean_minimax_exact']:.2e}); the penalty critic gives "
        f"{at_mean['wgan-gp']:.3f}. **Ratio minimax / critic = {r['ratio_minimax_to_critic']:.2e}.** "
        f"The clipped critic's {at_mean['wgan-clip']:.2e} is K = {r['K_clip']:.2g} times a unit slope: "
        f"small, but the same everywhere, and RMSProp rescales it."
    )
    st.caption(
        "Slide mu_fake away: the minimax gradient through a saturated D falls like exp(-d^2 / (2 sigma^2)) "
        "(right panel), while a critic's slope stays put. The non-saturating loss -log D "
        f"(here {at_mean['nonsaturating']:.3g} at the fake mean) restores a strong gradient, but it "
        "is no longer the gradient of JS: it grows with a sharper discriminator and its minimiser weighs "
        "KL(P_g || P_r) - 2 JS, which is unstable and favours dropping modes (Arjovsky and Bottou, 2017). "
        "With a two-sided penalty the critic's slope settles near 1 + W1 / (2 gp_weight), hence a small "
        "overshoot of the W estimate."
    )


# --- 3. live 2-D comparison -----------------------------------------------------------------------------


def ensure_run() -> toy.ToyRun:
    dataset = st.session_state.get("toy.dataset", toy.TOY_DATASETS[0])
    run = st.session_state.get("toy.run")
    if run is None or run.dataset != dataset:
        run = toy.init_toy_run(dataset, seed=0)
        st.session_state["toy.run"] = run
        st.session_state["toy.playing"] = False
    return run


def play() -> None:
    st.session_state["toy.playing"] = True


def pause() -> None:
    st.session_state["toy.playing"] = False


def step() -> None:
    st.session_state["toy.playing"] = False
    with toy.limit_threads():
        toy.toy_train_steps(ensure_run(), STEP_ITERATIONS)


def reset() -> None:
    for key in ("toy.run", "toy.playing", "toy.tick_wall"):
        st.session_state.pop(key, None)


def live_panel() -> None:
    start = time.perf_counter()
    run = ensure_run()
    with toy.limit_threads():
        if st.session_state.get("toy.playing"):
            toy.train_for(run, CHUNK_SECONDS)
        snap = toy.current_snapshot(run)
    history = run.exact_w_history
    st.metric("Generator iterations (each method)", run.step)
    st.plotly_chart(ui.toy.live_figure(snap), key="toy.chart.live")
    spec = snap["modes"]
    n_modes = len(spec["centres"])
    rows = {
        "method": [METHOD_LABELS[m] for m in toy.METHODS],
        "critic's estimate": [
            (f"JS {snap[m]['estimate']:.3f} nats" if m == "gan" else f"W {snap[m]['estimate']:.3g}")
            for m in toy.METHODS
        ],
        "exact W(fake, real)": [f"{snap[m]['w_exact']:.3f}" for m in toy.METHODS],
        f"{spec['kind']} covered": [f"{snap[m]['modes_covered']} / {n_modes}" for m in toy.METHODS],
        "steps/s": [
            f"{snap[m]['steps_per_s']:.0f}" if math.isfinite(snap[m]["steps_per_s"]) else "-"
            for m in toy.METHODS
        ],
    }
    left, right = st.columns([3, 2])
    left.dataframe(rows, hide_index=True)
    left.caption(
        f"Exact W: optimal assignment between {len(snap['real'])} fixed real samples and the generator's "
        "output on fixed noise (it includes sampling noise: two samples of one distribution are not at "
        f"distance 0). A {spec['kind'][:-1]} counts as covered when a quarter of its fair share of the "
        f"fake samples lies within {spec['radius']:.2f} of its centre. The GAN column shows the "
        f"discriminator's JS estimate (maximum log 2 = {LOG2:.3f}); the clipped critic's W estimate is "
        "K * W for a small unknown K. Arrows: where the generator loss pushes each fake point, scaled "
        "per panel."
    )
    if len(history) > 1:
        right.plotly_chart(ui.toy.history_figure(history, run.config.n_eval), key="toy.chart.history")
    st.session_state["toy.tick_wall"] = time.perf_counter() - start


def section_live() -> None:
    st.header("3. 2-D toys, trained live side by side")
    config = toy.ToyConfig()
    st.markdown(
        "GAN, WGAN with weight clipping and WGAN-GP from the same seed: identical initial weights, identical "
        f"noise. Generator and critic are {config.depth}-layer ReLU MLPs of width {config.hidden}, batch "
        f"{config.batch_size}, n_critic = {config.n_critic} for all three; GAN: Adam {config.lr_gan:g} "
        f"(0.5, 0.9), {config.gan_loss} loss; WGAN: RMSProp {config.lr_clip:g}, clip_value = "
        f"{config.clip_value:g}; WGAN-GP: Adam {config.lr_gp:g} (0.5, 0.9), gp_weight = {config.gp_weight:g} "
        "(gan_toy.py uses 0.1, the paper 10). Shading: the critic's value, D(x) for the GAN."
    )
    st.selectbox(
        "Dataset", toy.TOY_DATASETS, format_func=toy.TOY_LABELS.get, key="toy.dataset", on_change=reset
    )
    run = ensure_run()
    playing = bool(st.session_state.get("toy.playing"))
    buttons = st.columns([1, 1, 1, 5])
    if playing:
        buttons[0].button("Pause", key="toy.pause", on_click=pause, type="primary")
    else:
        buttons[0].button("Play", key="toy.play", on_click=play, type="primary")
    buttons[1].button(
        "Step", key="toy.step", on_click=step, help=f"Pause and train {STEP_ITERATIONS} iterations."
    )
    buttons[2].button("Reset", key="toy.reset", on_click=reset)
    buttons[3].caption(f"{'Training' if playing else 'Paused'} on {toy.TOY_LABELS[run.dataset]}.")
    last_tick = st.session_state.get("toy.tick_wall", CHUNK_SECONDS + 0.5)
    st.fragment(live_panel, run_every=toy.tick_interval(last_tick) if playing else None)()


# --- 4. what clipping does ------------------------------------------------------------------------------


def section_clipping() -> None:
    st.header("4. What clipping does to a critic (WGAN-GP paper, Figure 1)")
    cfg = toy.ClipStudyConfig()
    st.markdown(
        "The generator is held fixed at real data plus N(0, I) noise, and critics are trained against it "
        f"({cfg.steps} updates of batch {cfg.batch_size}): a {cfg.hidden}-wide 3-layer ReLU critic clipped "
        f"at c = {cfg.clip_value:g}, the same critic with gp_weight = {cfg.gp_weight:g}, and "
        f"{cfg.deep_depth}-layer critics (width {cfg.deep_hidden}, He init) clipped at "
        f"c in {list(toy.DEEP_CLIP_VALUES)} or penalised."
    )
    dataset = st.selectbox(
        "Dataset",
        toy.TOY_DATASETS,
        index=toy.TOY_DATASETS.index("swissroll"),
        format_func=toy.TOY_LABELS.get,
        key="toy.clip_dataset",
    )
    r = clip_study(dataset)
    st.plotly_chart(ui.toy.surfaces_figure(r, cfg.clip_value), key="toy.chart.surfaces")
    st.caption(
        f"Exact W between {cfg.n_exact} real and {cfg.n_exact} fixed-generator samples: "
        f"{r['w_exact']:.3f}. The penalty critic's estimate {r['w']['wgan-gp']:.3f} lies below it: a 1-Lipschitz "
        "critic's estimate is a lower bound on W, and the exact W of two finite samples is biased upward by "
        f"sampling noise. The clipped critic's {r['w']['wgan-clip']:.2g} is K * W for a tiny K, and its surface is "
        "nearly flat and simple: clipping limits which functions it can represent."
    )
    left, right = st.columns(2)
    left.plotly_chart(ui.toy.weights_figure(r), key="toy.chart.hist")
    left.caption(
        f"{r['frac_at_bound']:.0%} of the clipped critic's weights sit within 1% of "
        f"+-c = +-{cfg.clip_value:g} (log scale): clipping pushes weights to the bounds. The penalty "
        "critic's weights spread out."
    )
    right.plotly_chart(ui.toy.deep_norms_figure(r, cfg.deep_depth), key="toy.chart.deep")
    right.caption(
        "Norm of d(mean f(fake) - mean f(real)) / d(layer output), geometric mean over training. From the "
        "output back to the input it changes by a factor of "
        + ", ".join(f"{v:.1e} ({k})" for k, v in r["deep_spans"].items())
        + ": clipped layers each scale the backward signal by about the same amount, so it explodes or "
        "vanishes with depth; the penalty keeps it level."
    )


# --- page -----------------------------------------------------------------------------------------------

st.title("Toy distributions: JS against Wasserstein, measured")
st.markdown(
    "Each number below is computed on this page, from closed forms, exact optimal transport on samples, or "
    f"networks trained here. JS is in nats, with maximum log 2 = {LOG2:.4f}."
)
section_parallel_lines()
section_two_gaussians()
section_live()
section_clipping()
