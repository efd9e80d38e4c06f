"""Home page, the default of app.py's navigation: what a WGAN is in a few screens, the seed's four changes,
links to the pages, what this runs on.

Charts come from ui/home.py; files are found through wgan.paths, so the page works from any working folder.
Reads no query parameters.
"""

from __future__ import annotations

import math
from pathlib import Path

import streamlit as st
import torch

import ui.home
from ui.navigation import PAGES, PAGES_DIR, leave_pages_folder_mode
from wgan import catalog
from wgan.device import describe_device, pick_device
from wgan.figure3 import Figure3Error, Figure3Missing, load_figure3
from wgan.hosting import Hosting
from wgan.objectives import LOG2
from wgan.paths import FIGURE3_FILE

PAGE_BLURBS = {
    "1_Train.py": "train the seed's WGAN live, beside a GAN on the same seed; pause, scrub, save, resume",
    "2_Toy_distributions.py": "JS versus Wasserstein on toy distributions: which one gives the generator a gradient",
    "3_Sampling.py": "explore the latent space of the shipped checkpoints: seeds, interpolation, grids",
}

leave_pages_folder_mode()  # a shared deep link opened first on a fresh server
st.set_page_config(page_title="Wasserstein GAN, step by step", page_icon="🏠", layout="wide")
st.title("Wasserstein GAN, step by step")
st.markdown(
    "A GAN trains two networks against each other: a **generator** that turns noise z into images and a "
    "**discriminator** that tells real images from generated ones. The Wasserstein GAN (Arjovsky, Chintala, "
    "Bottou, 2017) changes four lines of that recipe, and training stops being a guessing game."
)

why, earth, changes, measured = st.tabs(
    ["1. Why the original GAN stalls", "2. Earth moving", "3. GAN vs WGAN", "4. Does the loss mean anything?"]
)

with why:
    left, right = st.columns([2, 3])
    left.markdown(
        "- **JS is flat when the supports are disjoint.** Real images lie on a thin manifold; early fakes lie "
        "somewhere else. Then the Jensen-Shannon divergence the GAN minimises is exactly **log 2**, however far "
        "apart the two are: it has no slope to follow.\n"
        "- **Vanishing gradients.** A discriminator that wins saturates its sigmoid, so the generator's gradient "
        "goes to zero; a weak one gives gradients that point nowhere useful.\n"
        "- **Mode collapse.** The generator finds a few outputs that fool the discriminator and makes only those.\n"
        "- **A loss that says nothing.** The GAN's losses do not fall as the samples improve, so you cannot tell "
        "a good run from a broken one without looking at pictures."
    )
    theta = right.slider("Move the fake line: theta", -1.0, 1.0, 0.5, 0.05, key="home.theta")
    # Example 1 of the WGAN paper: real (0, Z) against fake (theta, Z), Z ~ U[0, 1].
    right.plotly_chart(ui.home.lines_figure(theta), key="home.chart.lines")
    right.caption(
        f"At theta = {theta:+.2f}: W = {abs(theta):.2f}, JS = {0.0 if theta == 0 else LOG2:.3f}. "
        "Only W changes as the fake line moves, so only W gives the generator a gradient towards the data."
    )

with earth:
    left, right = st.columns([2, 3])
    left.markdown(
        "Picture the real and the generated distributions as two piles of earth. The **Wasserstein-1 distance** "
        "is the least work needed to reshape one pile into the other: mass times distance moved.\n\n"
        "It shrinks smoothly as the piles approach, even when they do not overlap at all. By the "
        "Kantorovich-Rubinstein duality it equals the largest gap **mean f(real) - mean f(fake)** over all "
        "1-Lipschitz functions f. The WGAN trains a **critic** to be that f (weight clipping keeps it Lipschitz), "
        "so the critic's gap, the **W estimate**, is a distance you can plot: it should be positive and fall as "
        "the samples get better."
    )
    shift = right.slider("Distance between the piles", 0.0, 4.0, 2.0, 0.25, key="home.shift")
    right.plotly_chart(ui.home.earth_figure(shift), key="home.chart.earth")

with changes:
    st.markdown(
        "The seed's four changes turn the GAN into a WGAN (the Training page's *Compare on the same seed* "
        "switch trains both from the same start and shows the difference):\n\n"
        "| | GAN | WGAN |\n"
        "|---|---|---|\n"
        "| 1. last layer | sigmoid: a probability real/fake | no sigmoid: a real-valued **critic** score |\n"
        "| 2. losses | log-losses (binary cross-entropy) | no log: critic loss = mean f(fake) - mean f(real), "
        "generator loss = -mean f(fake) |\n"
        "| 3. constraint | none | clip every critic weight to [-c, c], c = 0.01, after each critic update |\n"
        "| 4. optimiser | Adam with momentum | RMSprop (no momentum) |\n"
        "| what to plot | nothing reliable (JS estimate stays near log 2) | the **W estimate** = minus the critic "
        "loss, positive and falling |\n"
    )
    st.caption(
        "WGAN-GP (2017) replaces clipping with a gradient penalty; the presets on the Training page "
        "reproduce the seed, the WGAN paper, WGAN-GP and a GAN baseline."
    )


def figure3_section(results_path: Path, key: str) -> None:
    """The WGAN paper's Figures 3/4 claim, as measured by `python -m benchmarks.figure3`.

    Both runs' loss curves with FID-MNIST over the same generator iterations, and the Spearman rank
    correlation of each (median-filtered) curve with FID-MNIST. A missing or bad file gives one line of
    explanation, never a traceback.
    """
    st.subheader("Does the loss track sample quality? (WGAN paper, Figures 3 and 4)")
    try:
        results = load_figure3(results_path)
    except Figure3Missing as error:
        st.info(str(error))
        return
    except Figure3Error as error:
        st.error(str(error))
        return
    wgan, gan = results["runs"]["wgan"], results["runs"]["gan"]
    cols = st.columns(2)
    for col, run, label in ((cols[0], wgan, "WGAN: W estimate"), (cols[1], gan, "GAN: JS estimate")):
        spearman = run["spearman"]
        rho = ui.home.number(spearman.get("rho"))
        col.metric(
            f"Spearman rho, {label} vs FID-MNIST",
            "n/a" if math.isnan(rho) else f"{rho:+.2f}",
            help=f"{spearman.get('points')} evaluation points; p = {ui.home.number(spearman.get('p')):.2g}. "
            "+1: the curve falls exactly when FID-MNIST falls; 0: no relation.",
        )
    window = int(results.get("window") or 25)
    cols = st.columns(2)
    cols[0].plotly_chart(ui.home.figure3_figure(wgan, "WGAN (paper preset)", window), key=f"{key}.chart.wgan")
    cols[1].plotly_chart(ui.home.figure3_figure(gan, "GAN baseline", window), key=f"{key}.chart.gan")
    config = wgan.get("config", {})
    warmup = (
        f"critic warm-up {config.get('warmup_n_critic')} critic steps for the first "
        f"{config.get('warmup_iterations')} iterations"
        if config.get("critic_warmup")
        else "no critic warm-up"
    )
    st.caption(
        f"WGAN: {config.get('preset')} preset (RMSprop {config.get('lr_critic')}, {config.get('n_critic')} critic "
        f"steps, clip {config.get('clip_value')}, batch {config.get('batch_size')}, {warmup}, "
        f"{config.get('precision')}). "
        f"Both runs: {results.get('iterations')} generator iterations from seed {results.get('seed')} on "
        f"{results.get('data')}, FID-MNIST on {results.get('n_samples')} samples every {results.get('eval_every')} "
        f"iterations against {results.get('reference')}. Device: {results.get('device')}; "
        f"{ui.home.number(results.get('wall_seconds')):.0f} s. Command: `{results.get('command')}`. "
        "The paper's claim: the W estimate falls as quality rises (strong positive rho); the GAN's JS estimate "
        "does not follow quality. This short run shows what it shows; "
        "rerun the command for longer runs."
    )


with measured:
    figure3_section(FIGURE3_FILE, key="home.figure3")

st.header("The pages")
for page in ("1_Train.py", "2_Toy_distributions.py", "3_Sampling.py"):
    title, icon = PAGES[page]
    st.page_link(str(PAGES_DIR / page), label=f"{title}: {PAGE_BLURBS[page]}", icon=icon)


@st.cache_data(max_entries=64, show_spinner=False)
def checkpoint_entry(path: str, mtime_ns: int) -> catalog.Entry:
    """One file read once; `mtime_ns` keys the cache so a rewritten file is read again."""
    return catalog.read_entry(path)


st.header("What this runs on")
hosting = Hosting.from_environment()
device = pick_device("auto")
left, right = st.columns(2)
left.markdown(
    f"- Device: **{describe_device(device)}**\n- PyTorch {torch.__version__}, Streamlit {st.__version__}\n"
    f"- {hosting.describe()}"
)
paths = catalog.listed(catalog.checkpoint_folder(), hosting.hosted)
rows = [catalog.table_row(checkpoint_entry(str(path), catalog.modified_ns(path))) for path in paths]
rows = [row for row in rows if row]
if rows:
    right.markdown(
        "Shipped checkpoints:" if hosting.hosted else "Checkpoints (shipped first, then your saved runs in `runs/`):"
    )
    right.dataframe(rows, hide_index=True)
else:
    right.info("No checkpoints yet: train one on the Training page and save it, or fetch the shipped ones.")
