"""The app's pages in navigation order: file (under pages/), title and icon. app.py builds st.navigation
from this table and the home page links to the others with it, so a page is named in one place."""

from __future__ import annotations

from wgan.paths import PROJECT_ROOT

PAGES_DIR = PROJECT_ROOT / "pages"
PAGES: dict[str, tuple[str, str]] = {
    "0_Home.py": ("Home", ":material/home:"),
    "1_Train.py": ("Train", ":material/model_training:"),
    "2_Toy_distributions.py": ("Toy distributions", ":material/scatter_plot:"),
    "3_Sampling.py": ("Sampling", ":material/grid_view:"),
}
HOME = "0_Home.py"
