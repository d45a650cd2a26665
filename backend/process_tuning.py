"""How a long-running learnloop process tunes the interpreter: once, at its start.

The app's server processes call it on start-up (not the test suite, which builds many apps
in one process) and so does ``learnloop worker``; nothing else changes interpreter-wide
behaviour (docs/ARCHITECTURE.md lists the per-process state).
"""

import gc

GC_GEN0_THRESHOLD = 100_000
"""Allocations between young-generation collections once the app has started (Python's
default is 700; 20,000 cost an ingestion batch ~6 us per event more than 100,000, and
200,000 measured the same as 100,000)."""


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector cheap for a server's steady state.

    Reference counting frees a request's objects; the cyclic collector only finds cycles. By
    default it runs every 700 allocations and, every 100 of those runs, walks the whole heap:
    the framework, the ORM and the ingestion cache. An ingestion batch allocates thousands of
    short-lived objects, so that was a sixth of its CPU time. Everything alive after startup
    is moved out of the collector's sight (``gc.freeze``) and the young generation collects
    every :data:`GC_GEN0_THRESHOLD` allocations instead.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
