"""Hosted entrypoint (Streamlit Community Cloud: main file `hosted/streamlit_app.py`).

The same app as `streamlit run app.py`, in hosted mode: WGAN_HOSTED=1 unless the host sets it, so saved runs
stay in each visitor's session and training has the hosted caps (wgan.hosting). Living in its own folder
lets hosted/requirements.txt install CPU-only torch without changing the root requirements.txt.
"""

import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("WGAN_HOSTED", "1")
if str(ROOT) not in sys.path:  # Streamlit puts only this file's folder on the path; the app imports wgan, ui
    sys.path.insert(0, str(ROOT))
runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
