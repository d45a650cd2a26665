"""Ingestion on PostgreSQL keeps learners, courses, rules and states in memory between
requests; any change to them is seen by the very next event (the database stamps them)."""

import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import (
    BadgeAward,
    BadgeDefinition,
    Course,
    LearnerState,
    LearningEvent,
    User,
)
from backend.learning.ingest_cache import IngestionCache, cache_for
from gamification import LearnerState as EngineState
from tests.factories import World, signed_in_client

XAPI = {"X-Experience-API-Version": "1.0.3"}


def _statement(when: datetime, *, email: str = "sam@example.com") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/a/cache"},
        "timestamp": when.isoformat(),
    }


async def _post(client: AsyncTestClient[Litestar], world: World, body: dict) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    response = await client.post("/xapi/statements", json=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_the_state_written_is_kept_for_the_next_event(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    employee = world.a.users["employee"].id
    await _post(client, world, _statement(datetime.now(UTC) - timedelta(hours=2)))
    await _post(client, world, _statement(datetime.now(UTC) - timedelta(hours=1)))
    async with ctx.sessionmaker() as session:
        row = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == employee))
        ).one()
    assert row.xp_total == 40
    cached = cache_for(ctx.engine).state(world.a.id, employee)
    assert cached is not None and cached.version == row.version
    assert cached.state.xp_total == row.xp_total
    assert cache_for(ctx.engine).state(world.b.id, employee) is None  # never across orgs


async def test_a_changed_timezone_counts_for_the_next_event(
    app: Litestar,
    client: AsyncTestClient[Litestar],
    world: World,
    ctx: AppContext,
) -> None:
    # 02:30 UTC is the next morning in Amsterdam and still the evening before in New York
    moment = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=2, minute=30, second=0, microsecond=0
    )
    await _post(client, world, _statement(moment - timedelta(hours=3)))  # learner now cached
    async with signed_in_client(app, "sam@example.com") as sam:
        response = await sam.patch("/api/v1/me", json={"timezone": "America/New_York"})
        assert response.status_code == 200, response.text
    late = _statement(moment)
    await _post(client, world, late)
    async with ctx.sessionmaker() as session:
        event = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.idempotency_key == f"xapi:{late['id']}")
            )
        ).one()
    assert event.local_date == (moment - timedelta(days=1)).date()


async def test_a_deactivated_learner_earns_nothing_from_the_next_event(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    await _post(client, world, _statement(datetime.now(UTC) - timedelta(hours=2)))
    async with ctx.sessionmaker() as session:
        user = await session.get(User, world.a.users["employee"].id)
        assert user is not None
        user.is_active = False
        session.add(user)
        await session.commit()
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    response = await client.post(
        "/xapi/statements", json=_statement(datetime.now(UTC)), headers=headers
    )
    assert response.status_code == 200  # kept for when they are back (backend.lrs.unclaimed)
    async with ctx.sessionmaker() as session:
        events = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.user_id == world.a.users["employee"].id)
            )
        ).all()
    assert len(events) == 1  # the cached learner was not used: the new one earned nothing


async def test_a_badge_switched_off_meanwhile_is_not_awarded(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    async with ctx.sessionmaker() as session:
        badge = BadgeDefinition(
            organisation_id=world.a.id,
            code="tweede",
            name="Tweede",
            criterion={"kind": "event_count", "event_kind": "experience"},
            tiers=[{"name": "bronze", "threshold": 2}],
        )
        session.add(badge)
        await session.commit()
        badge_id = badge.id
    await _post(client, world, _statement(datetime.now(UTC) - timedelta(hours=2)))
    async with ctx.sessionmaker() as session:
        row = await session.get(BadgeDefinition, badge_id)
        assert row is not None
        row.is_active = False
        session.add(row)
        await session.commit()
    await _post(client, world, _statement(datetime.now(UTC) - timedelta(hours=1)))
    async with ctx.sessionmaker() as session:
        awards = (await session.exec(select(BadgeAward.badge_code))).all()
    assert "tweede" not in awards


async def test_a_statement_written_from_memory_answers_like_one_written_under_the_lock(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    # nothing in memory yet: the first is read from the database, the second found in
    # memory; both are written optimistically
    first = _statement(datetime.now(UTC) - timedelta(hours=3))
    second = _statement(datetime.now(UTC) - timedelta(hours=2))
    answers = [
        await client.post("/xapi/statements", json=s, headers=headers) for s in (first, second)
    ]
    assert [r.status_code for r in answers] == [200, 200]
    assert [r.json() for r in answers] == [[first["id"]], [second["id"]]]
    # a resent statement is sorted out under the lock: the same answer, the same headers
    again = await client.post("/xapi/statements", json=second, headers=headers)
    assert again.status_code == 200 and again.json() == [second["id"]]
    own = {"content-length", "x-request-id"}  # each answer's own
    locked_headers = {k: v for k, v in again.headers.items() if k not in own}
    optimistic_headers = {k: v for k, v in answers[1].headers.items() if k not in own}
    assert optimistic_headers == locked_headers
    bad = await client.post(
        "/xapi/statements", json={**second, "id": str(uuid.uuid4()), "verb": {}}, headers=headers
    )
    assert bad.status_code == 400 and "verb" in bad.json()["detail"]
    unversioned = await client.post(
        "/xapi/statements",
        json=_statement(datetime.now(UTC)),
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert unversioned.status_code == 400
    async with ctx.sessionmaker() as session:
        stored = (
            await session.exec(
                select(LearningEvent.idempotency_key).where(
                    LearningEvent.user_id == world.a.users["employee"].id
                )
            )
        ).all()
    assert sorted(stored) == sorted([f"xapi:{first['id']}", f"xapi:{second['id']}"])


async def test_a_state_the_memory_lacks_is_read_and_counted_exactly(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    # another server process wrote the learner's state, or this one forgot it (the memory is
    # bounded, or the process restarted): the next event builds on the stored state
    employee = world.a.users["employee"].id
    cache = cache_for(ctx.engine)
    first = _statement(datetime.now(UTC) - timedelta(hours=5))
    await _post(client, world, first)
    cache.forget_states([employee])
    cache.forget_org(world.a.id)
    await _post(client, world, _statement(datetime.now(UTC) - timedelta(hours=4)))
    # written optimistically from the stored state, and kept
    cached = cache.state(world.a.id, employee)
    assert cached is not None and (cached.version, cached.state.xp_total) == (2, 40)
    await _post(client, world, first)  # the stored state knows it: nothing changes
    async with ctx.sessionmaker() as session:
        row = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == employee))
        ).one()
        events = (
            await session.exec(select(LearningEvent.id).where(LearningEvent.user_id == employee))
        ).all()
    assert (row.xp_total, row.version, len(events)) == (40, 2, 2)


async def test_a_batch_from_memory_stores_the_columns_a_first_read_stores(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    # statements read afresh and statements found in memory store the same columns, an
    # activity the catalogue lacks as no course
    async with ctx.sessionmaker() as session:
        course = (
            await session.exec(select(Course).where(Course.organisation_id == world.a.id))
        ).first()
    assert course is not None and course.xapi_activity_id
    activities = [course.xapi_activity_id, "https://elsewhere.example/x,y"]
    when = datetime.now(UTC) - timedelta(hours=3)
    for activity in activities:
        await _post(client, world, _statement(when) | {"object": {"id": activity}})
    batch = [
        _statement(when + timedelta(minutes=i))
        | {"object": {"id": activities[i % 2]}, "result": {"duration": f"PT{10 + i}M"}}
        for i in range(1, 5)
    ]
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    response = await client.post("/xapi/statements", json=batch, headers=headers)
    assert response.status_code == 200 and response.json() == [s["id"] for s in batch]
    async with ctx.sessionmaker() as session:
        rows = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.user_id == world.a.users["employee"].id)
            )
        ).all()
    stored = {row.idempotency_key: row for row in rows}
    assert len(stored) == 2 + len(batch)
    for i, statement in enumerate(batch, start=1):
        row = stored[f"xapi:{statement['id']}"]
        assert (row.kind, row.source, row.organisation_id) == ("experience", "xapi", world.a.id)
        assert row.course_id == (None if i % 2 else course.id)
        assert row.activity_id == activities[i % 2] and row.minutes == 10 + i
        assert len(row.payload_hash) == 64 and row.payload["id"] == statement["id"]


def test_the_cache_keeps_the_most_recently_used_states_only() -> None:
    cache = IngestionCache(max_states=2)
    for user_id in (1, 2):
        cache.remember_state(7, user_id, 1, EngineState())
    assert cache.state(7, 1) is not None  # 1 is now the most recent
    cache.remember_state(7, 3, 1, EngineState())
    assert [uid for uid in (1, 2, 3) if cache.state(7, uid)] == [1, 3]
    nothing = IngestionCache(max_states=0)
    nothing.remember_state(7, 1, 1, EngineState())
    assert nothing.state(7, 1) is None
