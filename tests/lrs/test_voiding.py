"""Voiding undoes the game, once (xAPI 1.0.3 Data 2.3.2): a voiding statement takes back the
XP, streak day, weekly goal minutes and challenge progress its statement earned, with a
countering ledger entry; voiding twice, a voiding that arrives first and a voiding of a
voiding statement are handled as the spec says; a badge already awarded stays."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import (
    BadgeAward,
    Challenge,
    LearnerState,
    LearnerWeek,
    LearningEvent,
    XpLedgerEntry,
)
from backend.learning import adapters, voiding, xapi
from backend.learning import lookup as ingestion_lookup
from backend.learning.service import record_events
from backend.lrs import statement_store
from gamification import ChallengeDefinition, EventKind, TeamChallenge, local_day
from gamification.challenges import TeamTargetKind
from tests.factories import World, signed_in_client

XAPI = {"X-Experience-API-Version": "1.0.3"}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
COURSE = "https://lms.acme.example/courses/feedback"  # the world's course: 45 minutes
Client = AsyncTestClient[Litestar]


def _completed(statement_id: str | None = None) -> dict[str, Any]:
    return {
        "id": statement_id or str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": COMPLETED, "display": {"en-US": "completed"}},
        "object": {"objectType": "Activity", "id": COURSE},
        "result": {"completion": True},
        "timestamp": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }


def _voiding(target: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:lms@acme.example"},
        "verb": {"id": VOIDED, "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    }


def _headers(world: World, org: str = "a") -> dict[str, str]:
    return {"Authorization": f"Bearer {getattr(world, org).api_key}", **XAPI}


async def _post(client: Client, world: World, body: Any, org: str = "a") -> None:
    response = await client.post("/xapi/statements", json=body, headers=_headers(world, org))
    assert response.status_code == 200, response.text


async def _challenges(ctx: AppContext, world: World) -> None:
    """An individual challenge (one completion this week) and a team challenge (100
    minutes) for Sam's team, running today."""
    today = local_day(datetime.now(UTC), "Europe/Amsterdam")
    starts, ends = today - timedelta(days=3), today + timedelta(days=10)
    manager = world.a.users["manager"]
    async with ctx.sessionmaker() as session:
        individual = Challenge(
            organisation_id=world.a.id, kind="individual", title="Eentje", starts_on=starts,
            ends_on=ends,
        )  # fmt: skip
        team = Challenge(
            organisation_id=world.a.id, kind="team", title="Samen", starts_on=starts,
            ends_on=ends, team_id=world.a.team_id, sponsor_id=manager.id, pledge="taart",
        )  # fmt: skip
        session.add_all([individual, team])
        await session.flush()
        individual.definition = ChallengeDefinition(
            str(individual.id), "Eentje", starts, ends, EventKind.COMPLETION, target_count=1
        ).to_dict()
        assert manager.id is not None
        team.definition = TeamChallenge(
            challenge_id=str(team.id), sponsor_user_id=manager.id, pledge="taart",
            starts_on=starts, ends_on=ends, target_kind=TeamTargetKind.TEAM_MINUTES,
            target_minutes=100,
        ).to_dict()  # fmt: skip
        await session.commit()


def _seen(today: dict[str, Any]) -> dict[str, Any]:
    """What Sam's Today shows of the game."""
    return {
        "xp": today["level"]["xp_total"],
        "level": today["level"]["level"],
        "streak": today["streak"]["current"],
        "weekly_minutes": today["weekly_goal"]["minutes"],
        "minutes_today": today["minutes_today"],
        "challenges": sorted(
            (c["kind"], c["my_count"], c["completed"])
            for c in today["challenges"]
            if c["kind"] == "individual"
        ),
    }


async def _team_progress(ctx: AppContext, world: World) -> float:
    """The team challenge's progress (a team of one learner is below the privacy floor:
    Today shows no team figures, so it is read as stored)."""
    async with ctx.sessionmaker() as session:
        row = (
            await session.exec(
                select(Challenge).where(
                    Challenge.organisation_id == world.a.id, Challenge.kind == "team"
                )
            )
        ).one()
        return row.progress


async def _last_active(ctx: AppContext, world: World) -> date | None:
    """Sam's latest active day, as the streak counts days."""
    async with ctx.sessionmaker() as session:
        row = await session.get(LearnerState, world.a.users["employee"].id)
        assert row is not None
        return row.last_active_date


async def _ledger(ctx: AppContext, world: World) -> list[tuple[int, str]]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(XpLedgerEntry.amount, XpLedgerEntry.reason)
            .where(XpLedgerEntry.user_id == world.a.users["employee"].id)
            .order_by(col(XpLedgerEntry.id))
        )
        return [(amount, reason) for amount, reason in rows.all()]


async def _awards(ctx: AppContext, world: World) -> set[tuple[str, str]]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(BadgeAward.badge_code, BadgeAward.tier).where(
                BadgeAward.user_id == world.a.users["employee"].id
            )
        )
        return set(rows.all())


async def test_a_voided_completion_takes_back_xp_streak_goal_and_challenges_once(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    await _challenges(ctx, world)
    async with signed_in_client(app, "sam@example.com") as sam:
        before = _seen((await sam.get("/api/v1/me/today")).json())
        weeks_before = (await sam.get("/api/v1/me/xp")).json()
        statement = _completed()
        await _post(client, world, statement)
        earned = _seen((await sam.get("/api/v1/me/today")).json())
        assert earned["xp"] > before["xp"] and await _last_active(ctx, world) is not None
        assert earned["weekly_minutes"] == before["weekly_minutes"] + 45
        assert earned["challenges"] == [("individual", 1, True)]
        assert await _team_progress(ctx, world) == 0.45
        awarded = await _awards(ctx, world)

        await _post(client, world, _voiding(statement["id"]))
        assert _seen((await sam.get("/api/v1/me/today")).json()) == before
        assert (await sam.get("/api/v1/me/xp")).json() == weeks_before  # this week's XP too
        assert await _team_progress(ctx, world) == 0.0
        assert await _last_active(ctx, world) is None  # no streak day left
        ledger = await _ledger(ctx, world)
        assert ledger[-1] == (before["xp"] - earned["xp"], "voided")
        assert sum(amount for amount, _ in ledger) == before["xp"]
        assert await _awards(ctx, world) == awarded  # a badge once awarded stays

        # voiding it again (another voiding statement) and resending it change nothing
        await _post(client, world, _voiding(statement["id"]))
        await _post(client, world, statement)
        assert _seen((await sam.get("/api/v1/me/today")).json()) == before
        assert await _ledger(ctx, world) == ledger
        history = (await sam.get("/api/v1/me/history")).json()
        assert history["items"] == []

    voided = await client.get(
        "/xapi/statements", params={"voidedStatementId": statement["id"]}, headers=_headers(world)
    )
    assert voided.status_code == 200 and voided.json()["id"] == statement["id"]
    gone = await client.get(
        "/xapi/statements", params={"statementId": statement["id"]}, headers=_headers(world)
    )
    assert gone.status_code == 404


async def test_a_statement_whose_voiding_arrived_first_earns_nothing(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    statement = _completed()
    await _post(client, world, _voiding(statement["id"]))  # its target is not here yet: kept
    await _post(client, world, statement)
    together = _completed()
    await _post(client, world, [together, _voiding(together["id"])])  # in one request
    async with ctx.sessionmaker() as session:
        events = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.organisation_id == world.a.id)
            )
        ).all()
    assert [e for e in events if not e.voided] == []
    assert await _ledger(ctx, world) == []
    for sid in (statement["id"], together["id"]):
        got = await client.get(
            "/xapi/statements", params={"voidedStatementId": sid}, headers=_headers(world)
        )
        assert got.status_code == 200


async def test_a_voiding_statement_cannot_be_voided_and_stays_in_force(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    statement = _completed()
    await _post(client, world, statement)
    first = _voiding(statement["id"])
    await _post(client, world, first)
    xp_after_voiding = sum(amount for amount, _ in await _ledger(ctx, world))
    # Data 2.3.2: the LRS may refuse it; accepted, it is ignored (the suite accepts either)
    await _post(client, world, _voiding(first["id"]))
    got = await client.get(
        "/xapi/statements", params={"statementId": first["id"]}, headers=_headers(world)
    )
    assert got.status_code == 200
    still = await client.get(
        "/xapi/statements", params={"voidedStatementId": statement["id"]}, headers=_headers(world)
    )
    assert still.status_code == 200
    assert sum(amount for amount, _ in await _ledger(ctx, world)) == xp_after_voiding == 0


async def test_another_organisation_cannot_void_a_statement(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    statement = _completed()
    await _post(client, world, statement)
    earned = await _ledger(ctx, world)
    await _post(client, world, _voiding(statement["id"]), org="b")
    done = await voiding.void_statements(ctx.sessionmaker, world.b.id, [statement["id"]])
    assert done.statement_ids == []
    assert await _ledger(ctx, world) == earned
    got = await client.get(
        "/xapi/statements", params={"statementId": statement["id"]}, headers=_headers(world)
    )
    assert got.status_code == 200


async def test_voiding_through_the_service_twice_takes_back_once(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    statement = _completed()
    await _post(client, world, statement)
    earned = sum(amount for amount, _ in await _ledger(ctx, world))
    assert await _insights_week(ctx, world) == (1, 1, 45)
    first = await voiding.void_statements(ctx.sessionmaker, world.a.id, [statement["id"]])
    second = await voiding.void_statements(ctx.sessionmaker, world.a.id, [statement["id"]])
    sam = world.a.users["employee"].id
    assert first.statement_ids == [statement["id"]] and first.xp_change == {sam: -earned}
    assert second.statement_ids == [] and second.xp_change == {}
    # a statement stored while its voiding was being stored is voided here as well
    got = await client.get(
        "/xapi/statements", params={"voidedStatementId": statement["id"]}, headers=_headers(world)
    )
    assert got.status_code == 200
    assert sum(amount for amount, _ in await _ledger(ctx, world)) == 0
    assert await _insights_week(ctx, world) == (0, 0, 0)  # L&D's insights follow


async def _insights_week(ctx: AppContext, world: World) -> tuple[int, int, int]:
    """Sam's insights rollup over all weeks: activity events, completions, formal minutes."""
    async with ctx.sessionmaker() as session:
        rows = (
            await session.exec(
                select(LearnerWeek).where(LearnerWeek.user_id == world.a.users["employee"].id)
            )
        ).all()
    return (
        sum(r.active_events for r in rows),
        sum(r.completions for r in rows),
        sum(r.minutes_formal for r in rows),
    )


async def test_a_voiding_waits_for_its_statement_still_being_stored(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    """The statement's request began before the voiding was stored (so it did not see it)
    and commits after: the voiding waits for it, then takes its game back."""
    now = datetime.now(UTC)
    parsed = xapi.parse_statement(_completed())
    lookup = await ingestion_lookup.load(
        ctx.engine, world.a.id, adapters.statement_keys([parsed]), now
    )
    events = adapters.statements_to_events([parsed], lookup, now)
    authority = statement_store.authority_of(world.a.api_key_id, "LMS", "http://test")
    batch = statement_store.batch_of([parsed], world.a.api_key_id, authority, now)
    async with ctx.sessionmaker() as session:
        await record_events(
            session, world.a.id, events, lookup=lookup, now=now, atomic=True, commit=False,
            statements=batch,
        )  # fmt: skip
        # what the voiding request does once its voiding statement is stored
        voiding_task = asyncio.create_task(
            voiding.void_statements(ctx.sessionmaker, world.a.id, [parsed.id])
        )
        await asyncio.sleep(0.3)
        assert not voiding_task.done()  # it waits for the statement's request
        await session.commit()
    assert (await voiding_task).statement_ids == [parsed.id]
    ledger = await _ledger(ctx, world)
    assert ledger[-1][1] == "voided" and sum(amount for amount, _ in ledger) == 0
    got = await client.get(
        "/xapi/statements", params={"voidedStatementId": parsed.id}, headers=_headers(world)
    )
    assert got.status_code == 200
