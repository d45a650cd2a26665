"""Async engines and sessions for PostgreSQL (asyncpg) and the embedded SQLite default."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel.ext.asyncio.session import AsyncSession

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _json_serializer(value: Any) -> str:
    # msgspec (Litestar's JSON library): several times faster than json.dumps on state documents
    return _json_encoder.encode(value).decode()


def _json_deserializer(value: str | bytes) -> Any:
    return _json_decoder.decode(value)


def make_engine(url: str, *, echo: bool = False, null_pool: bool = False) -> AsyncEngine:
    kwargs: dict[str, Any] = {
        "echo": echo,
        "json_serializer": _json_serializer,
        "json_deserializer": _json_deserializer,
    }
    if null_pool:
        kwargs["poolclass"] = NullPool
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if not null_pool:
        # pre-ping costs three round trips per checkout on asyncpg; recycle instead
        kwargs.update(pool_size=20, max_overflow=20, pool_recycle=1800)
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE so writers queue on the lock instead of deadlocking."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we emit it ourselves below
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits on success and rolls back on error."""
    async with maker() as session, session.begin():
        yield session
