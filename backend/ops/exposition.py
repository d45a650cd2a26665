"""What ``/metrics`` answers: this process's counters (:mod:`backend.ops.metrics`), its
database pool, and the push outbox read from the database at scrape time."""

import asyncio
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db.engine import driver_connection
from backend.ops import metrics
from backend.ops.metrics import Gauge

log = logging.getLogger("learnloop.ops")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT_MS = 2000

# pending nudges whatever their due time, the due ones, and how long the oldest due one waits;
# through the (status, due_at) index
OUTBOX = """
SELECT count(*),
       count(*) FILTER (WHERE due_at <= now()),
       COALESCE(EXTRACT(EPOCH FROM now() - min(due_at) FILTER (WHERE due_at <= now())), 0)
FROM nudge WHERE status = 'pending'
"""

PROCESS_INFO = Gauge("learnloop_process_info", "This process (pid) answered the scrape.", ("pid",))
STARTED = Gauge("learnloop_process_start_time_seconds", "When this process started (Unix time).")
POOL = Gauge(
    "learnloop_db_pool_connections",
    "This process's database pool: its size, connections checked out (in use, or kept for "
    "ingestion), idle in the pool, overflow beyond the size, and the limit (size + overflow "
    "allowed) past which a request waits.",
    ("state",),
)
DATABASE_UP = Gauge("learnloop_database_up", "1 when the scrape's outbox query succeeded.")
OUTBOX_PENDING = Gauge("learnloop_outbox_pending", "Nudges waiting to be pushed, due or not.")
OUTBOX_DUE = Gauge("learnloop_outbox_due", "Nudges due now and not pushed yet (outbox depth).")
OUTBOX_AGE = Gauge(
    "learnloop_outbox_oldest_due_age_seconds",
    "How long the oldest due, unpushed nudge has waited past its due time (0: none).",
)


def pool_state(engine: AsyncEngine) -> dict[metrics.Labels, float]:
    """The pool's numbers (none for a ``NullPool``: the command line's engines)."""
    pool: Any = engine.pool
    if not hasattr(pool, "checkedout"):
        return {}
    state: dict[metrics.Labels, float] = {
        ("size",): pool.size(),
        ("checked_out",): pool.checkedout(),
        ("idle",): pool.checkedin(),
        ("overflow",): max(0, pool.overflow()),
    }
    max_overflow = getattr(pool, "_max_overflow", None)  # QueuePool keeps it private
    if isinstance(max_overflow, int) and max_overflow >= 0:
        state[("limit",)] = pool.size() + max_overflow
    return state


async def outbox_state(engine: AsyncEngine) -> tuple[int, int, float]:
    """(pending, due, oldest due age in seconds), bounded by :data:`SCRAPE_TIMEOUT_MS`."""
    async with driver_connection(engine) as pg, pg.transaction(readonly=True):
        await pg.execute(f"SET LOCAL statement_timeout = {SCRAPE_TIMEOUT_MS}")
        pending, due, age = await pg.fetchrow(OUTBOX)
    return int(pending), int(due), float(age)


async def scrape(engine: AsyncEngine) -> str:
    lines = metrics.render(metrics.COUNTERS)
    lines += PROCESS_INFO.render({(str(metrics.PID),): 1})
    lines += STARTED.render({(): round(metrics.STARTED_AT, 3)})
    lines += POOL.render(pool_state(engine))
    started = time.perf_counter()
    try:
        # a pool with no connection to spare must not hold the scrape past its own timeout
        pending, due, age = await asyncio.wait_for(
            outbox_state(engine), SCRAPE_TIMEOUT_MS / 1000 + 1
        )
    except Exception as exc:  # the scrape still answers: the database is down, say so
        log.warning("metrics: the outbox could not be read: %s", exc)
        lines += DATABASE_UP.render({(): 0})
    else:
        lines += DATABASE_UP.render({(): 1})
        lines += OUTBOX_PENDING.render({(): pending})
        lines += OUTBOX_DUE.render({(): due})
        lines += OUTBOX_AGE.render({(): round(age, 3)})
    log.debug("metrics: outbox read in %.1f ms", (time.perf_counter() - started) * 1000)
    return "\n".join(lines) + "\n"
