"""Home page: what a WGAN is in a few screens, the seed's four changes, links to the pages, what this runs on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from ui.quality import render_figure3
from wgan.checkpoint import CheckpointError, find_checkpoints, load_checkpoint
from wgan.device import describe_device, pick_device
from wgan.objectives import LOG2

ROOT = Path(__file__).resolve().parent
PAGE_BLURBS = {
    "Train": "train the seed's WGAN live, beside a GAN on the same seed; pause, scrub, save, resume",
    "Toy": "JS versus Wasserstein on toy distributions: which one gives the generator a gradient",
    "Sampling": "explore the latent space of the shipped checkpoints: seeds, interpolation, grids",
}

st.set_page_config(page_title="WGAN, step by step", layout="wide")
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
    thetas = np.linspace(-1, 1, 401)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=thetas, y=np.abs(thetas), name="Wasserstein W = |theta|", line=dict(width=3)))
    js = np.where(np.abs(thetas) < 1e-9, 0.0, LOG2)
    fig.add_trace(go.Scatter(x=thetas, y=js, name="Jensen-Shannon (log 2 unless theta = 0)", line=dict(width=3)))
    fig.add_vline(x=theta, line_dash="dot", line_color="gray")
    fig.update_layout(
        title="Real points on x = 0, fake on x = theta (WGAN paper, Example 1)",
        xaxis_title="theta",
        yaxis_title="distance",
        height=340,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.25),
    )
    right.plotly_chart(fig, key="home.chart.lines")
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
    x = np.linspace(-3, 7, 400)
    real = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    fake = np.exp(-0.5 * (x - shift) ** 2) / math.sqrt(2 * math.pi)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=real, fill="tozeroy", name="real"))
    fig.add_trace(go.Scatter(x=x, y=fake, fill="tozeroy", name="generated"))
    if shift > 0:
        fig.add_annotation(
            x=shift,
            y=0.2,
            ax=0,
            ay=0.2,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            text=f"move all the mass by {shift:.2f}",
        )
    fig.update_layout(
        height=300,
        margin=dict(l=10, r=10, t=30, b=10),
        title=f"W1 = {shift:.2f}",
        legend=dict(orientation="h", y=-0.25),
    )
    right.plotly_chart(fig, key="home.chart.earth")

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

with measured:
    render_figure3(ROOT / "checkpoints" / "figure3.json", key="home.figure3")

st.header("The pages")
pages = sorted((ROOT / "pages").glob("*.py"))
for page in pages:
    title = page.stem.split("_", 1)[-1].replace("_", " ")
    blurb = next((text for word, text in PAGE_BLURBS.items() if word.lower() in title.lower()), "")
    st.page_link(f"pages/{page.name}", label=f"{title}: {blurb}" if blurb else title)


@st.cache_data(max_entries=64, show_spinner=False)
def checkpoint_summary(path: str, modified: float) -> dict:
    """One row about a checkpoint file; `modified` keys the cache so a rewritten file is read again."""
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        if "not a wgan checkpoint" in str(error):
            return {}  # another tool's file in the folder (e.g. the quality page's classifier): not listed
        return {"file": Path(path).name, "kind": "unreadable", "iteration": None, "note": str(error)}
    kind = "full run (resumable)" if checkpoint.full else "generator only (sampling)"
    note = checkpoint.card.get("data", "") or checkpoint.config.dataset
    return {
        "file": Path(path).name,
        "kind": kind,
        "iteration": checkpoint.iteration,
        "note": f"{checkpoint.config.preset}, {note}",
    }


st.header("What this runs on")
device = pick_device("auto")
left, right = st.columns(2)
left.markdown(f"- Device: **{describe_device(device)}**\n- PyTorch {torch.__version__}, Streamlit {st.__version__}")
rows = [checkpoint_summary(str(path), path.stat().st_mtime) for path in find_checkpoints(ROOT / "checkpoints")]
rows = [row for row in rows if row]
if rows:
    right.markdown("Checkpoints (shipped first, then your saved runs in `checkpoints/runs/`):")
    right.dataframe(rows, hide_index=True)
else:
    right.info("No checkpoints yet: train one on the Training page and save it, or fetch the shipped ones.")
