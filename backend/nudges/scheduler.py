"""The nudge scheduler tick: learners whose ``next_nudge_at`` has come -> outbox rows.

Called every minute by the worker loop (and in-process by ``serve`` on SQLite).
"""

from datetime import datetime

from backend.context import AppContext


async def run_tick(ctx: AppContext, now: datetime) -> int:
    """Plan nudges for every learner due at ``now``; returns the number of nudges created."""
    return 0
