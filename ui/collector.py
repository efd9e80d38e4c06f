"""The server process's garbage collector: what the imported modules built is kept out of full collections.

Streamlit runs a full collection (`gc.collect(2)`, its `runner.postScriptGC` option) after every script and
fragment run, so that cyclic garbage does not pile up between visitors. With Streamlit, torch and plotly
loaded, a full collection walks a quarter of a million objects that are never garbage (functions, classes,
plotly's validators), and the Training page reruns its fragment every few seconds, so that walk takes a
visible share of a run's wall time (benchmarks/page_run.py measures it). Freezing moves the objects alive
now into the collector's permanent generation, which collections skip; reference counting still frees them
as usual.
"""

from __future__ import annotations

import gc
import sys

_modules_at_last_freeze = 0


def freeze_imported_objects() -> bool:
    """Freeze every object alive now if modules were imported since the last call; returns whether it froze.

    Call it at the end of a script run, when that page's imports are done. It freezes only when
    `sys.modules` has grown, so a server freezes a few times in its life (each page's first imports), not
    once per run. The cost: an object alive at a freeze that later becomes part of unreachable cycle is
    never collected; at a few freezes per process that is bounded by what one run holds.
    """
    global _modules_at_last_freeze
    if len(sys.modules) <= _modules_at_last_freeze:
        return False
    _modules_at_last_freeze = len(sys.modules)
    gc.freeze()
    return True
