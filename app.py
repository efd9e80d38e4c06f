"""Entry point, `streamlit run app.py`: the navigation (every page's title and icon) and the page it runs;
hosted, it also caps the server's malloc arenas (wgan.hosting.prepare_hosted_process). After the page, the
objects its imports built are frozen out of Streamlit's full garbage collection after every run
(ui.collector).

The pages live in pages/ and are listed in ui/navigation.py; Home is the default.
"""

import streamlit as st

from ui.collector import freeze_imported_objects
from ui.navigation import HOME, PAGES, PAGES_DIR
from wgan.hosting import Hosting, prepare_hosted_process

# The navigation first: on a fresh server the sidebar shows Streamlit's pages/-folder list until it runs.
page = st.navigation(
    [st.Page(PAGES_DIR / name, title=title, icon=icon, default=name == HOME) for name, (title, icon) in PAGES.items()]
)
if Hosting.from_environment().hosted:
    prepare_hosted_process()
page.run()
freeze_imported_objects()  # not reached when the page reruns or stops; the next run does it
