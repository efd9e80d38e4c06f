"""The app's pages in navigation order: file (under pages/), title and icon. app.py builds st.navigation
from this table and the home page links to the others with it, so a page is named in one place."""

from __future__ import annotations

import streamlit as st

from wgan.paths import PROJECT_ROOT

PAGES_DIR = PROJECT_ROOT / "pages"
PAGES: dict[str, tuple[str, str]] = {
    "0_Home.py": ("Home", ":material/home:"),
    "1_Train.py": ("Train", ":material/model_training:"),
    "2_Toy_distributions.py": ("Toy distributions", ":material/scatter_plot:"),
    "3_Sampling.py": ("Sampling", ":material/grid_view:"),
}
HOME = "0_Home.py"


_left_pages_folder_mode = False  # once per process: a server never returns to the pages/ folder mode


def leave_pages_folder_mode() -> None:
    """Run this page through app.py's navigation even when a deep link is a server's first request.

    Until some session has run app.py (and so st.navigation), Streamlit serves a fresh server in its older
    "pages/ folder" mode: a shared link straight to /Sampling runs pages/3_Sampling.py alone, under a
    sidebar that lists "app" and untitled pages. Switching the process to st.navigation and rerunning
    fixes it for this visitor and every later one; a first run carries no widget events, so the rerun
    loses nothing. Streamlit keeps that switch on PagesManager, which is not public API: where it is
    missing, nothing happens (the page still works, under the plain sidebar). Once per process, because
    AppTest resets the switch before every run and a rerun there would drop the run's widget events.
    """
    global _left_pages_folder_mode
    if _left_pages_folder_mode:
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", None):
        _left_pages_folder_mode = True
        PagesManager.uses_pages_directory = False
        st.rerun()
