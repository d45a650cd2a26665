"""The fast lane keeps a few PostgreSQL connections between its statements (taking one out
of SQLAlchemy's pool and back costs more than a single statement's work in the app): they
are reused, never handed on in a bad state, and closed when the app shuts down."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlmodel import select

from backend.app import create_app
from backend.context import AppContext
from backend.db.models import LearningEvent
from backend.learning.connections import CONNECTION_ERRORS, kept_connections, pooled_connection
from backend.learning.ingest_cache import cache_for
from backend.settings import Settings
from tests.factories import World

XAPI = {"X-Experience-API-Version": "1.0.3"}


@pytest.fixture
async def pooled(settings: Settings) -> AsyncIterator[AppContext]:
    """The app's context as production builds it: a connection pool, not NullPool."""
    context = AppContext.from_settings(settings)
    yield context
    await context.engine.dispose()


async def _backends(ctx: AppContext) -> int:
    """Connections to the test database other than the one asking."""
    admin = await asyncpg.connect(ctx.settings.database_url.replace("+asyncpg", ""))
    try:
        return int(
            await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await admin.close()


def _statement(minutes_ago: int) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/a/conn"},
        "timestamp": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
    }


async def test_statements_reuse_one_kept_connection_and_shutdown_closes_it(
    world: World, pooled: AppContext
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    sent = [_statement(60 - i) for i in range(5)]
    async with AsyncTestClient(app=create_app(context=pooled)) as client:
        for statement in sent:
            response = await client.post("/xapi/statements", json=statement, headers=headers)
            assert response.status_code == 200, response.text
        assert cache_for(pooled.engine).fast_lane_answers == len(sent)
        # one statement at a time: one connection, the fast lane's, kept for the next one
        assert len(kept_connections(pooled.engine).idle) == 1
        assert await _backends(pooled) == 1
    # the app's shutdown disposes the engine: nothing stays connected
    assert kept_connections(pooled.engine).idle == []
    assert await _backends(pooled) == 0
    async with pooled.sessionmaker() as session:
        keys = (
            await session.exec(
                select(LearningEvent.idempotency_key).where(
                    LearningEvent.organisation_id == world.a.id
                )
            )
        ).all()
    assert sorted(keys) == sorted(f"xapi:{s['id']}" for s in sent)


async def test_a_connection_left_in_a_transaction_or_broken_is_not_reused(
    pooled: AppContext,
) -> None:
    engine = pooled.engine
    async with pooled_connection(engine) as pg:
        await pg.execute("CREATE TEMPORARY TABLE scratch (n int)")
        first = await pg.fetchval("SELECT pg_backend_pid()")
    async with pooled_connection(engine) as pg:  # the kept one, as it was left
        assert await pg.fetchval("SELECT pg_backend_pid()") == first
        await pg.execute("BEGIN")
        await pg.execute("INSERT INTO scratch VALUES (1)")
    # closed, so the half-done transaction is gone: the next statement gets a fresh one
    assert kept_connections(engine).idle == []
    async with pooled_connection(engine) as pg:
        assert not pg.is_in_transaction()
        second = await pg.fetchval("SELECT pg_backend_pid()")
        assert second != first
        await pg.execute("CREATE TEMPORARY TABLE scratch (n int)")  # the old one's is gone
    with pytest.raises(CONNECTION_ERRORS):
        async with pooled_connection(engine) as pg:
            await pg.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    # the broken connection was thrown away: the next statement gets a working one
    async with pooled_connection(engine) as pg:
        assert await pg.fetchval("SELECT pg_backend_pid()") not in (first, second)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
