"""A small, typed PyTorch library for Wasserstein GANs: models, objectives, data, training, checkpoints.

Nothing runs at import time and nothing here imports Streamlit; the pages and the command line are
thin drivers over these modules.
"""
