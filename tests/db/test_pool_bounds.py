"""Bounded waits for the database: a burst beyond the connection pool, or a statement held up
past the statement timeout, answers 503 with Retry-After in bounded time instead of queueing
without limit, and the client's retry then stores the statement once."""

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from backend.app import create_app
from backend.context import AppContext
from backend.settings import Settings
from tests.factories import World, sign_in

XAPI = {"X-Experience-API-Version": "1.0.3"}


def _statement(email: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:{email}"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://lms.acme.example/course/safety"},
    }


@pytest.fixture
async def bounded(settings: Settings) -> AsyncIterator[tuple[AppContext, httpx.AsyncClient]]:
    """A pooled app (as a server process runs) of one connection that waits 0.3 s for it,
    statements bounded to 0.5 s; its client runs in this test's event loop, as the pool's
    connections must."""
    context = AppContext.from_settings(
        replace(
            settings,
            db_pool_size=1,
            db_max_overflow=0,
            db_pool_timeout_seconds=0.3,
            db_statement_timeout_ms=500,
        )
    )
    app: Litestar = create_app(context=context)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield context, c
    await context.engine.dispose()


async def _stored(client: httpx.AsyncClient, headers: dict[str, str], sid: str) -> int:
    answer = await client.get("/xapi/statements", params={"statementId": sid}, headers=headers)
    return answer.status_code


async def test_a_request_finding_no_free_connection_is_a_503_with_retry_after(
    bounded: tuple[AppContext, httpx.AsyncClient], world: World
) -> None:
    ctx, client = bounded
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    statement = _statement(world.email("a", "employee"))
    async with ctx.engine.connect() as held:  # the process's only connection, busy
        await held.execute(text("SELECT 1"))
        started = time.monotonic()
        answer = await client.post("/xapi/statements", json=statement, headers=headers)
        waited = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "2"
    assert "busy" in answer.json()["detail"]
    assert waited < 3  # the pool's 0.3 s, not a queue without end
    # the LMS tries again once the burst is over: stored, once
    again = await client.post("/xapi/statements", json=statement, headers=headers)
    assert again.status_code == 200 and again.json() == [statement["id"]]
    assert await _stored(client, headers, statement["id"]) == 200


async def test_a_statement_held_up_past_the_timeout_is_a_503_and_the_retry_counts_once(
    bounded: tuple[AppContext, httpx.AsyncClient], world: World
) -> None:
    ctx, client = bounded
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    learner = world.a.users["employee"]
    first = await client.post("/xapi/statements", json=_statement(learner.email), headers=headers)
    assert first.status_code == 200
    blocked = _statement(learner.email)
    # another session holds the learner's state row (a long report, a stuck migration)
    dsn = ctx.settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    other = await asyncpg.connect(dsn)
    try:
        async with other.transaction():
            await other.execute(
                "SELECT 1 FROM learner_state WHERE user_id = $1 FOR UPDATE", learner.id
            )
            started = time.monotonic()
            answer = await client.post("/xapi/statements", json=blocked, headers=headers)
            waited = time.monotonic() - started
    finally:
        await other.close()
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"]
    assert waited < 5  # the 0.5 s statement timeout, not the lock's holder
    assert await _stored(client, headers, blocked["id"]) == 404  # nothing half-stored
    retried = await client.post("/xapi/statements", json=blocked, headers=headers)
    assert retried.status_code == 200
    async with ctx.engine.connect() as conn:
        counted = await conn.scalar(
            text(
                "SELECT count(*) FROM learning_event WHERE organisation_id = :org"
                " AND idempotency_key = :key"
            ),
            {"org": world.a.id, "key": f"xapi:{blocked['id']}"},
        )
    assert counted == 1


async def test_a_database_that_is_down_is_a_503_with_retry_after(
    settings: Settings, world: World
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the database is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = AppContext.from_settings(
        replace(settings, database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    )
    transport = httpx.ASGITransport(app=create_app(context=down))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
        answer = await client.post(
            "/xapi/statements", json=_statement(world.email("a", "employee")), headers=headers
        )
    await down.engine.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    assert "unavailable" in answer.json()["detail"]


async def _starting_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A PostgreSQL server that is starting up (or shutting down): every connection is
    refused with FATAL 57P03 after its startup message, as during a restart."""
    length = int.from_bytes(await reader.readexactly(4), "big")
    body = await reader.readexactly(length - 4)
    if length == 8 and body == (80877103).to_bytes(4, "big"):  # SSLRequest: no TLS here
        writer.write(b"N")
        await writer.drain()
        await reader.readexactly(int.from_bytes(await reader.readexactly(4), "big") - 4)
    fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
    writer.write(b"E" + (len(fields) + 4).to_bytes(4, "big") + fields)
    await writer.drain()
    writer.close()


async def test_a_database_that_is_restarting_is_a_503_with_retry_after(
    settings: Settings, world: World, client: AsyncTestClient[Litestar]
) -> None:
    await sign_in(client, world.email("a", "employee"))  # a session cookie to check
    server = await asyncio.start_server(_starting_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    restarting = AppContext.from_settings(
        replace(settings, database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    )
    transport = httpx.ASGITransport(app=create_app(context=restarting))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as c:
            headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
            answer = await c.post(
                "/xapi/statements", json=_statement(world.email("a", "employee")), headers=headers
            )
            c.cookies = client.cookies  # the session check reads on a raw pooled connection
            today = await c.get("/api/v1/me/today")
    finally:
        await restarting.engine.dispose()
        server.close()
    for each in (answer, today):
        assert each.status_code == 503, each.text
        assert each.headers["retry-after"] == "5"
        assert "unavailable" in each.json()["detail"]
