"""Async engines and sessions: PostgreSQL through asyncpg, the only store."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.settings import ConfigurationError, Settings

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _json_serializer(value: Any) -> str:
    # msgspec (Litestar's JSON library): several times faster than json.dumps on state documents
    return _json_encoder.encode(value).decode()


def _json_deserializer(value: str | bytes) -> Any:
    return _json_decoder.decode(value)


def database_url(settings: Settings) -> str:
    """The configured server's URL, or the embedded server's (started when needed)."""
    if settings.database_url:
        return settings.database_url
    from backend.db import embedded

    embedded.warn_about_old_sqlite_file()
    try:
        return embedded.database_url()
    except embedded.EmbeddedServerError as exc:
        raise ConfigurationError(str(exc)) from exc


@dataclass(frozen=True)
class PoolBounds:
    """How many connections a process opens, how long a request waits for one (then the
    pool raises ``sqlalchemy.exc.TimeoutError``: 503 with Retry-After) and how long any
    statement may run (then PostgreSQL cancels it: 503 too); 0 ms: no bound."""

    size: int = 20
    max_overflow: int = 20
    timeout_seconds: float = 30.0
    statement_timeout_ms: int = 0


def make_engine(
    url: str,
    *,
    echo: bool = False,
    null_pool: bool = False,
    bounds: PoolBounds | None = None,
) -> AsyncEngine:
    bounds = bounds or PoolBounds()
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_serializer,
        "json_deserializer": _json_deserializer,
    }
    if null_pool:
        kwargs["poolclass"] = NullPool
    if not null_pool:
        # pre-ping costs three round trips per checkout on asyncpg; recycle instead
        kwargs.update(
            pool_size=bounds.size,
            max_overflow=bounds.max_overflow,
            pool_timeout=bounds.timeout_seconds,
            pool_recycle=1800,
        )
    if bounds.statement_timeout_ms > 0:
        server_settings = {"statement_timeout": str(bounds.statement_timeout_ms)}
        kwargs["connect_args"] = {"server_settings": server_settings}
    return create_async_engine(url, **kwargs)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under one of ``engine``'s pooled connections, for hand-written
    statements (the nudge tick, the push outbox).

    SQLAlchemy never sees what is done on it, and its pool's reset on return only ends
    transactions it began: a connection the server or the network dropped, or one still in
    a transaction of ours (a rollback that did not get through), is closed here instead of
    handed on.
    """
    async with engine.connect() as conn:
        driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection
        try:
            yield driver
        finally:
            if driver.is_closed() or driver.is_in_transaction():
                await conn.invalidate()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits on success and rolls back on error."""
    async with maker() as session, session.begin():
        yield session
