"""Streamlit helpers shared by the pages (widgets and plotly figures); the library stays in wgan/."""
