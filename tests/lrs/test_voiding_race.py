"""A voiding statement and the statement it voids, arriving at the same moment on two
connections: whichever way they interleave, the learner keeps no XP from the voided
statement and the statement is stored voided (xAPI 1.0.3 Data 2.3.2)."""

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from backend.app import create_app
from backend.context import AppContext
from backend.learning import service
from tests.factories import World
from tests.lrs.test_voiding import XAPI, _completed, _voiding

Client = httpx.AsyncClient


@pytest.fixture
async def client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    """The app served in this test's event loop (the test client runs it in a thread of
    its own, one request at a time): requests sent together run together."""
    transport = httpx.ASGITransport(app=create_app(context=ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def _post(client: Client, world: World, body: Any) -> None:
    response = await client.post(
        "/xapi/statements",
        json=body,
        headers={"Authorization": f"Bearer {world.a.api_key}", **XAPI},
    )
    assert response.status_code == 200, response.text


async def _sams_game(ctx: AppContext, world: World) -> tuple[int, int]:
    """Sam's XP total as the learner sees it, and the sum of Sam's XP ledger."""
    sam = world.a.users["employee"].id
    async with ctx.engine.connect() as conn:
        xp = (
            await conn.execute(
                text("SELECT xp_total FROM learner_state WHERE user_id = :u"), {"u": sam}
            )
        ).scalar_one()
        ledger = (
            await conn.execute(
                text("SELECT coalesce(sum(amount), 0) FROM xp_ledger WHERE user_id = :u"),
                {"u": sam},
            )
        ).scalar_one()
    return int(xp), int(ledger)


async def _voided(ctx: AppContext, world: World, statement_ids: list[str]) -> dict[str, bool]:
    """Per statement id: stored voided (as the Statement resource answers it), and every
    learning event of it voided."""
    async with ctx.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT s.statement_id::text, s.voided AND NOT EXISTS ("
                "  SELECT 1 FROM learning_event e WHERE e.organisation_id = s.organisation_id"
                "  AND e.idempotency_key = 'xapi:' || s.statement_id::text AND NOT e.voided)"
                " FROM xapi_statement s WHERE s.organisation_id = :o"
                " AND s.statement_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"o": world.a.id, "ids": statement_ids},
        )
        return {sid: bool(voided) for sid, voided in rows.all()}


async def _waiting_on_locks(ctx: AppContext, connections: int) -> None:
    """Until that many other connections wait on a lock."""
    for _ in range(300):
        async with ctx.engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND wait_event_type = 'Lock'"
                    )
                )
            ).scalar_one()
        if waiting >= connections:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{connections} requests never got to the lock held for them")


class _LearnerRowHeld:
    """Sam's learner_state row locked on a connection of its own: a request that writes
    Sam's learning waits on it mid-statement (its snapshot already taken), until released."""

    def __init__(self, ctx: AppContext, world: World) -> None:
        self.ctx, self.world = ctx, world

    async def __aenter__(self) -> "_LearnerRowHeld":
        self.conn = await self.ctx.engine.connect()
        await self.conn.execute(
            text("SELECT 1 FROM learner_state WHERE user_id = :u FOR UPDATE"),
            {"u": self.world.a.users["employee"].id},
        )
        return self

    async def someone_waits(self) -> None:
        """Until another connection waits on a lock (the request got to Sam's row)."""
        await _waiting_on_locks(self.ctx, 1)

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.rollback()
        await self.conn.close()


async def _void_while_written(client: Client, world: World, ctx: AppContext, before: Any) -> None:
    """Sam's statement is sent and held on Sam's state row while its voiding is stored; then
    it is stored voided and Sam's game is as ``before``."""
    statement = _completed()
    async with _LearnerRowHeld(ctx, world) as held:
        sending = asyncio.create_task(_post(client, world, statement))
        await held.someone_waits()
        await _post(client, world, _voiding(statement["id"]))
    await sending
    assert await _voided(ctx, world, [statement["id"]]) == {statement["id"]: True}
    assert await _sams_game(ctx, world) == before


async def test_a_statement_whose_voiding_is_stored_while_it_is_written_earns_nothing(
    client: Client, world: World, ctx: AppContext
) -> None:
    """The statement's one optimistic write began (and took its snapshot) before the voiding
    was stored, and inserts the statement after the voiding request has finished."""
    await _post(client, world, _completed())  # Sam's state row exists: the optimistic way
    before = await _sams_game(ctx, world)
    await _void_while_written(client, world, ctx, before)


async def test_a_statement_on_the_locked_way_whose_voiding_is_stored_meanwhile_earns_nothing(
    client: Client, world: World, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The locked way looked for a voiding before it locked Sam's row, and stores the
    statement after the voiding request has finished."""
    await _post(client, world, _completed())
    before = await _sams_game(ctx, world)
    # Sam's optimistic write lost a race lately: Sam's learning goes the locked way
    monkeypatch.setitem(service._contended_at, world.a.users["employee"].id, 1e12)
    await _void_while_written(client, world, ctx, before)


async def test_a_statement_about_nobody_yet_whose_voiding_is_stored_meanwhile_is_voided(
    client: Client, world: World, ctx: AppContext
) -> None:
    """Statements that earn nothing (no learner has the address yet) are stored in one
    statement, outside a transaction; it waits on the batch's first id (another request
    inserting it), its snapshot taken, while the second one's voiding is stored."""
    newcomer = {"mbox": "mailto:newcomer@acme.example"}
    first, statement = {**_completed(), "actor": newcomer}, {**_completed(), "actor": newcomer}
    async with ctx.engine.connect() as held:  # another transaction inserting the first id
        await held.execute(
            text(
                "INSERT INTO xapi_statement (organisation_id, statement_id, document, "
                "fingerprint, verb_id, related_agents, related_activities, voided, timestamp, "
                "stored) VALUES (:o, CAST(:s AS uuid), '{}', '', '', '{}', '{}', true, now(), "
                "now())"
            ),
            {"o": world.a.id, "s": first["id"]},
        )
        sending = asyncio.create_task(_post(client, world, [first, statement]))
        await _waiting_on_locks(ctx, 1)
        await _post(client, world, _voiding(statement["id"]))
        await held.rollback()
    await sending
    assert await _voided(ctx, world, [first["id"], statement["id"]]) == {
        first["id"]: False,
        statement["id"]: True,
    }


async def test_a_statement_and_its_voiding_sent_together_many_times_earn_nothing(
    client: Client, world: World, ctx: AppContext
) -> None:
    await _post(client, world, _completed())
    before = await _sams_game(ctx, world)
    sent: list[str] = []
    for _ in range(10):
        statement = _completed()
        pair = [_post(client, world, statement), _post(client, world, _voiding(statement["id"]))]
        random.shuffle(pair)
        await asyncio.gather(*pair)
        sent.append(statement["id"])
    assert await _voided(ctx, world, sent) == dict.fromkeys(sent, True)
    assert await _sams_game(ctx, world) == before
