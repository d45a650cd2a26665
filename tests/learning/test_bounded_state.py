"""The learner state stays small as history grows, and nothing is lost by not keeping facts:
old duplicates are refused by the store, rules created later count the whole history, and
documents written by the earlier engine (every fact kept) are converted on the next event."""

import json
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import BadgeAward, BadgeDefinition, LearnerState, LearningEvent
from gamification.state import LearnerState as EngineState
from tests.factories import World, signed_in_client

HEADERS_KEY = "Authorization"


def _event(key: str, when: datetime, kind: str = "experience", minutes: int = 10) -> dict:
    return {
        "id": key,
        "learner": {"email": "sam@example.com"},
        "kind": kind,
        "occurred_at": when.isoformat(),
        "minutes": minutes,
    }


def _headers(world: World) -> dict[str, str]:
    return {HEADERS_KEY: f"Bearer {world.a.api_key}"}


async def _state(ctx: AppContext, user_id: int) -> LearnerState:
    async with ctx.sessionmaker() as session:
        return (
            await session.exec(select(LearnerState).where(LearnerState.user_id == user_id))
        ).one()


async def _tiers(ctx: AppContext, user_id: int, code: str) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(BadgeAward.tier).where(
                BadgeAward.user_id == user_id, BadgeAward.badge_code == code
            )
        )
        return sorted(rows.all())


async def test_a_year_of_learning_keeps_a_small_document_without_facts(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    start = datetime.now(UTC) - timedelta(days=365)
    batch = [_event(f"year-{i}", start + timedelta(hours=29 * i)) for i in range(300)]
    response = await client.post("/api/v1/events", json=batch, headers=_headers(world))
    assert response.status_code == 200, response.text
    assert {r["status"] for r in response.json()["results"]} == {"created"}
    row = await _state(ctx, world.a.users["employee"].id)
    assert row.data["schema"] == 3
    assert "facts" not in row.data
    # ~300 active days cost a few numbers each; the keys remembered are the last week's only
    assert len(row.data["recent_keys"]) <= 8
    assert len(json.dumps(row.data)) < 12_000
    assert row.xp_total > 300 * 20


async def test_a_duplicate_older_than_the_engine_remembers_is_still_refused(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    now = datetime.now(UTC)
    old = _event("old-one", now - timedelta(days=30))
    assert (
        await client.post("/api/v1/events", json=old, headers=_headers(world))
    ).status_code == 201
    recent = _event("recent-one", now - timedelta(hours=1))
    assert (
        await client.post("/api/v1/events", json=recent, headers=_headers(world))
    ).status_code == 201
    employee = world.a.users["employee"].id
    before = await _state(ctx, employee)
    # the engine forgot it...
    assert not EngineState.from_dict(before.data).remembers("api:old-one")
    again = await client.post("/api/v1/events", json=old, headers=_headers(world))
    assert (
        again.status_code == 200 and again.json()["status"] == "duplicate"
    )  # ...the store did not
    after = await _state(ctx, employee)
    assert (after.xp_total, after.version) == (before.xp_total, before.version)


async def test_a_badge_created_later_counts_the_learning_before_it(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    now = datetime.now(UTC)
    earlier = [_event(f"before-{i}", now - timedelta(days=9 - i)) for i in range(9)]
    assert (
        await client.post("/api/v1/events", json=earlier, headers=_headers(world))
    ).status_code == 200
    async with ctx.sessionmaker() as session:
        session.add(
            BadgeDefinition(
                organisation_id=world.a.id,
                code="veelleerder",
                name="Veelleerder",
                criterion={"kind": "event_count", "event_kind": "experience"},
                tiers=[
                    {"name": "bronze", "threshold": 5},
                    {"name": "silver", "threshold": 10},
                    {"name": "gold", "threshold": 20},
                ],
            )
        )
        await session.commit()
    employee = world.a.users["employee"].id
    # the badge wall already counts the history (read from the stored events)...
    async with signed_in_client(app, "sam@example.com") as sam:
        wall = (await sam.get("/api/v1/me/badges")).json()
    [mine] = [b for b in wall if b["code"] == "veelleerder"]
    assert mine["earned"] == []  # nothing is awarded by looking
    assert [t["current"] for t in mine["locked"]] == [5, 9, 9]  # bronze reached, not yet given
    # ...and the next event earns bronze and silver: 10 experiences in all
    tenth = _event("tenth", now - timedelta(minutes=5))
    assert (
        await client.post("/api/v1/events", json=tenth, headers=_headers(world))
    ).status_code == 201
    assert await _tiers(ctx, employee, "veelleerder") == ["bronze", "silver"]


async def test_a_document_of_the_earlier_engine_is_converted_on_the_next_event(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    now = datetime.now(UTC)
    first = _event("v1-a", now - timedelta(days=2))
    assert (
        await client.post("/api/v1/events", json=first, headers=_headers(world))
    ).status_code == 201
    employee = world.a.users["employee"].id
    async with ctx.sessionmaker() as session:
        stored = (
            await session.exec(select(LearningEvent).where(LearningEvent.user_id == employee))
        ).one()
        row = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == employee))
        ).one()
        xp_before = row.xp_total
        # the document as schema 1 wrote it: every fact, no tallies
        row.data = {
            "schema": 1,
            "facts": [
                {
                    "key": stored.idempotency_key,
                    "kind": "experience",
                    "occurred_at": stored.occurred_at.isoformat(),
                    "local_date": stored.local_date.isoformat(),
                    "minutes": 10,
                    "course_id": None,
                    "course_duration_minutes": None,
                    "competency_ids": [],
                    "hot_skill": False,
                    "text_fingerprint": None,
                }
            ],
            "xp_total": xp_before,
            "level": row.level,
            "weekly_goal_minutes": 60,
        }
        session.add(row)
        await session.commit()
    second = _event("v1-b", now - timedelta(hours=1))
    assert (
        await client.post("/api/v1/events", json=second, headers=_headers(world))
    ).status_code == 201
    after = await _state(ctx, employee)
    assert after.data["schema"] == 3 and "facts" not in after.data
    assert after.data["fact_count"] == 2
    assert after.xp_total == xp_before + 20
    async with signed_in_client(app, "sam@example.com") as sam:
        today = (await sam.get("/api/v1/me/today")).json()
    assert today["level"]["xp_total"] == after.xp_total
