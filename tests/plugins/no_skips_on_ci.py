"""Under CI=true a skipped test is a failure: CI must install what every test needs.

Registered in pyproject.toml (`-p tests.plugins.no_skips_on_ci`). Locally, skips stay skips. Covers skips
while running a test (skip(), skipif, importorskip in a fixture) and while collecting a module (a
module-level importorskip). Expected failures (xfail) are left alone; deselected tests (`-m "not browser"`)
never run, so they do not count.
"""

from __future__ import annotations

import os

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _reason(longrepr: object) -> str:
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if on_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip is a failure on CI): {_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if on_ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped under CI=true (a skip is a failure on CI): {_reason(report.longrepr)}"
