"""Plotly figures for the pages; the library stays in wgan/.

One rule for charts: every plotly figure builder lives here, one module per page (`ui.home` for
pages/0_Home.py, `ui.train` for pages/1_Train.py, `ui.toy` for pages/2_Toy_distributions.py, `ui.sampling` for
pages/3_Sampling.py). A builder is a pure function, data in and `plotly.graph_objects.Figure` out: no
Streamlit call, no session state, no file access, so it can be tested and reused without a running app. Pages
keep the widgets, the caching, the calls into wgan/ and the drawing: `st.plotly_chart(ui.<page>.<figure>(...),
key="<page>.chart...")`.

`ui.navigation` is the table of pages (file, title, icon) that app.py and the home page read.
`ui.quality` is the one module that also draws: `render_quality_section` is the Training page's whole
quality section (its trackers live in session state), and its figures sit beside it.
"""
