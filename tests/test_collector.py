"""ui.collector: the objects imported modules built are frozen out of Streamlit's post-run full collections."""

from __future__ import annotations

import gc
import sys
import types
from pathlib import Path

from streamlit.testing.v1 import AppTest

import ui.collector as collector

ROOT = Path(__file__).resolve().parent.parent


def test_freezes_only_after_new_imports(monkeypatch):
    monkeypatch.setattr(collector, "_modules_at_last_freeze", 0)
    gc.unfreeze()
    try:
        assert collector.freeze_imported_objects()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # pytest, torch and streamlit's objects at least
        kept = [object() for _ in range(3)]  # objects made by a run, with no new imports: not frozen
        assert not collector.freeze_imported_objects()
        assert gc.get_freeze_count() == frozen
        monkeypatch.setitem(sys.modules, "wgan_test_new_module", types.ModuleType("wgan_test_new_module"))
        assert collector.freeze_imported_objects()
        assert gc.get_freeze_count() > frozen
        del kept
    finally:
        gc.unfreeze()


def test_app_freezes_after_the_page_run(monkeypatch):
    monkeypatch.setattr(collector, "_modules_at_last_freeze", 0)
    gc.unfreeze()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        assert not at.exception, [e.value for e in at.exception]
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
