"""Entry point, `streamlit run app.py`: the navigation (every page's title and icon) and the page it runs.

The pages live in pages/ and are listed in ui/navigation.py; Home is the default.
"""

import streamlit as st

from ui.navigation import HOME, PAGES, PAGES_DIR

st.navigation(
    [st.Page(PAGES_DIR / name, title=title, icon=icon, default=name == HOME) for name, (title, icon) in PAGES.items()]
).run()
