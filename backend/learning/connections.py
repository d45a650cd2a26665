"""asyncpg connections for the ingestion statements: outside any ORM session, and inside one.

The lookup and the optimistic write (``backend.learning.lookup``, ``backend.learning.service``)
run one statement each per request on a driver connection of the engine's pool. Checking a
connection out of SQLAlchemy's pool and back in costs about 100 us of CPU (two greenlet
switches, the pool's locks, the reset on return): more than a single statement's own work in
the app. So a few idle connections stay checked out between statements, per engine
(:class:`KeptConnections`); the rest go back to the pool. The locking path runs its
statements on its ORM session's connection (:func:`session_connection`).

- A connection that failed with a :data:`CONNECTION_ERRORS` error or was left in a
  transaction (the pool's reset only ends transactions SQLAlchemy began) is invalidated:
  closed, and replaced by the pool. After any other error it goes back to the pool, which
  resets it, and so does one kept for longer than :data:`KEEP_SECONDS`, so the pool's own
  recycling still applies.
- A kept connection the server closed meanwhile (a restart) is not handed out again; a
  statement that finds its connection gone before this process noticed runs once more on a
  fresh one (:func:`on_pooled_connection`).
- ``engine.dispose()`` closes the kept connections with the pool's.
- An engine without a pool of its own (``NullPool``: the CLI, the benchmark's seeding) keeps
  none.
"""

import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.pool import NullPool
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

# what a statement on a pooled connection can raise that leaves the connection unusable
CONNECTION_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)
# what a kept connection raises when the server went away meanwhile (a restart, a failover)
LOST_CONNECTION = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)

log = logging.getLogger("learnloop.ingestion")
T = TypeVar("T")

KEEP = 10
"""Idle connections kept per engine (of its pool's 20, with 20 more as overflow)."""
KEEP_SECONDS = 60.0
"""A kept connection goes back to the pool after this long."""


class KeptConnections:
    """The idle driver connections kept checked out of one engine's pool (see the module
    docstring)."""

    def __init__(self, sync_engine: Any) -> None:
        self._engine = weakref.ref(sync_engine)  # not a strong one: the engine is the key
        self.idle: list[tuple[Any, float]] = []  # (pool connection, checked out at)
        pool = sync_engine.pool
        # at most half the pool idle here: the ORM's sessions need connections too
        self.keep = 0 if isinstance(pool, NullPool) else min(KEEP, pool.size() // 2)
        event.listen(sync_engine, "engine_disposed", self._disposed)

    async def take(self) -> tuple[Any, float]:
        now = time.monotonic()
        while self.idle:
            fairy, since = self.idle.pop()
            if fairy.driver_connection.is_closed():
                await greenlet_spawn(fairy.invalidate)
            elif now - since < KEEP_SECONDS:
                return fairy, since
            else:
                await greenlet_spawn(fairy.close)
        engine = self._engine()
        assert engine is not None  # the caller holds it
        return await greenlet_spawn(engine.raw_connection), now

    async def give_back(self, fairy: Any, since: float) -> None:
        conn = fairy.driver_connection
        if conn.is_closed() or conn.is_in_transaction():
            # the pool's reset would not end a transaction begun on the driver connection
            await greenlet_spawn(fairy.invalidate)
        elif len(self.idle) < self.keep and time.monotonic() - since < KEEP_SECONDS:
            self.idle.append((fairy, since))
        else:
            await greenlet_spawn(fairy.close)

    def _disposed(self, _engine: Any) -> None:
        # Engine.dispose() runs in a greenlet (AsyncEngine.dispose), where invalidate can
        # close the asyncpg connection
        idle, self.idle = self.idle, []
        for fairy, _since in idle:
            fairy.invalidate()


_kept: "weakref.WeakKeyDictionary[Any, KeptConnections]" = weakref.WeakKeyDictionary()


def kept_connections(engine: Any) -> KeptConnections:
    """The kept connections of ``engine`` (an ``AsyncEngine``)."""
    sync_engine = engine.sync_engine
    kept = _kept.get(sync_engine)
    if kept is None:
        kept = _kept[sync_engine] = KeptConnections(sync_engine)
    return kept


async def on_pooled_connection(engine: Any, statement: Callable[[Any], Awaitable[T]]) -> T:
    """``statement(connection)`` on a pooled asyncpg connection; once more on a fresh one
    when the first turns out to be gone (the server dropped it before this process noticed).
    Safe for ingestion's statements: each is one transaction, undone unless it all lands."""
    try:
        async with pooled_connection(engine) as pg:
            return await statement(pg)
    except LOST_CONNECTION as exc:
        log.warning("ingestion: a kept database connection was gone (%s); trying a fresh one", exc)
    async with pooled_connection(engine) as pg:
        return await statement(pg)


@asynccontextmanager
async def pooled_connection(engine: Any) -> AsyncIterator[Any]:
    """An asyncpg connection of ``engine``'s pool, outside any ORM session (autocommit),
    handed back afterwards; one that failed with a :data:`CONNECTION_ERRORS` error is
    discarded instead (the error goes on to the caller)."""
    kept = kept_connections(engine)
    fairy, since = await kept.take()
    try:
        yield fairy.driver_connection
    except CONNECTION_ERRORS:
        await greenlet_spawn(fairy.invalidate)
        raise
    except BaseException:
        await greenlet_spawn(fairy.close)  # the pool resets it
        raise
    await kept.give_back(fairy, since)


async def session_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection, in the session's transaction (begun now if it was
    not: SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its own first statement), so
    ``session.commit()`` commits what runs on it."""
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapter: Any = fairy.dbapi_connection
    if adapter._transaction is None:
        await adapter._start_transaction()
    return fairy.driver_connection
