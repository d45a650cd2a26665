"""Ingestion keeps a few PostgreSQL connections between its statements (taking one out of
SQLAlchemy's pool and back costs more than a single statement's work in the app). What an
operator sees of that: statements are recorded after the database dropped every connection,
work left half-done on a connection never lands, and a stopped app leaves nothing connected."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.app import create_app
from backend.context import AppContext
from backend.db.models import LearningEvent
from backend.learning.connections import CONNECTION_ERRORS, pooled_connection
from backend.settings import Settings
from tests.factories import World

XAPI = {"X-Experience-API-Version": "1.0.3"}


@pytest.fixture
async def pooled(settings: Settings) -> AsyncIterator[AppContext]:
    """The app's context as production builds it: a connection pool, not NullPool."""
    context = AppContext.from_settings(settings)
    yield context
    await context.engine.dispose()


async def _admin(ctx: AppContext) -> asyncpg.Connection:
    return await asyncpg.connect(ctx.settings.database_url.replace("+asyncpg", ""))


async def _backends(ctx: AppContext) -> int:
    """Connections to the test database other than the one asking."""
    admin = await _admin(ctx)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await admin.close()


async def _stored_keys(ctx: AppContext, organisation_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        keys = await session.exec(
            select(LearningEvent.idempotency_key).where(
                LearningEvent.organisation_id == organisation_id
            )
        )
        return sorted(keys.all())


def _statement(minutes_ago: int) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/a/conn"},
        "timestamp": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
    }


async def test_statements_are_recorded_and_a_stopped_app_leaves_nothing_connected(
    world: World, pooled: AppContext
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    sent = [_statement(60 - i) for i in range(5)]
    async with AsyncTestClient(app=create_app(context=pooled)) as client:
        for statement in sent:
            response = await client.post("/xapi/statements", json=statement, headers=headers)
            assert response.status_code == 200, response.text
    # the app's shutdown disposes the engine, kept connections included
    assert await _backends(pooled) == 0
    assert await _stored_keys(pooled, world.a.id) == sorted(f"xapi:{s['id']}" for s in sent)


async def test_statements_are_recorded_after_the_database_dropped_every_connection(
    world: World, pooled: AppContext
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    before, after = _statement(30), _statement(20)
    async with AsyncTestClient(app=create_app(context=pooled)) as client:
        response = await client.post("/xapi/statements", json=before, headers=headers)
        assert response.status_code == 200, response.text
        admin = await _admin(pooled)  # as a database restart would, but for this database only
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        response = await client.post("/xapi/statements", json=after, headers=headers)
        assert response.status_code == 200, response.text
    assert await _stored_keys(pooled, world.a.id) == sorted(
        [f"xapi:{before['id']}", f"xapi:{after['id']}"]
    )


async def test_work_left_half_done_on_a_kept_connection_never_lands(pooled: AppContext) -> None:
    engine = pooled.engine
    admin = await _admin(pooled)
    try:
        await admin.execute("CREATE TABLE half_done (n int)")
        async with pooled_connection(engine) as pg:
            await pg.execute("BEGIN")
            await pg.execute("INSERT INTO half_done VALUES (1)")
        # the next statement does not run inside that transaction, and its work is gone
        async with pooled_connection(engine) as pg:
            assert not pg.is_in_transaction()
            await pg.execute("INSERT INTO half_done VALUES (2)")
        assert [r["n"] for r in await admin.fetch("SELECT n FROM half_done")] == [2]
        with pytest.raises(CONNECTION_ERRORS):
            async with pooled_connection(engine) as pg:
                await pg.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        async with pooled_connection(engine) as pg:  # a broken one is not handed out again
            assert await pg.fetchval("SELECT 1") == 1
    finally:
        await admin.execute("DROP TABLE IF EXISTS half_done")
        await admin.close()
