"""Entry point, `streamlit run app.py`: the navigation (every page's title and icon) and the page it runs;
hosted, it also caps the server's malloc arenas (wgan.device.limit_malloc_arenas).

The pages live in pages/ and are listed in ui/navigation.py; Home is the default.
"""

import streamlit as st

from ui.navigation import HOME, PAGES, PAGES_DIR
from wgan.device import limit_malloc_arenas
from wgan.hosting import Hosting

if Hosting.from_environment().hosted:
    limit_malloc_arenas()  # every visitor's session is a thread; without a cap each keeps its own arena

st.navigation(
    [st.Page(PAGES_DIR / name, title=title, icon=icon, default=name == HOME) for name, (title, icon) in PAGES.items()]
).run()
