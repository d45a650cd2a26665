"""Learning enters once, exactly: duplicates, conflicts, late events and concurrency."""

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import (
    BadgeAward,
    BadgeDefinition,
    LearnerState,
    LearningEvent,
    Organisation,
    XpLedgerEntry,
)
from backend.learning import lookup as ingestion_lookup
from backend.learning.model import IncomingEvent, LookupKeys, StateSnapshot
from backend.learning.service import record_events
from backend.learning.webhook import sign
from gamification import EventKind, LearningFact, OrgRules, local_day, replay
from tests.factories import World, signed_in_client

XAPI = {"X-Experience-API-Version": "1.0.3"}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"


def statement(
    email: str,
    when: datetime,
    *,
    activity: str = "https://lms.acme.example/courses/feedback",
    verb: str = COMPLETED,
    sid: str | None = None,
) -> dict:
    body = {
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": verb, "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": {"name": {"nl-NL": "Feedback geven"}},
        },
        "result": {"completion": True, "duration": "PT45M"},
        "timestamp": when.isoformat(),
    }
    if sid:
        body["id"] = sid
    return body


def key_headers(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.a.api_key}", **XAPI}


async def _xp_and_events(ctx: AppContext, user_id: int) -> tuple[int, int, int]:
    async with ctx.sessionmaker() as session:
        state = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == user_id))
        ).one()
        ledger = (
            await session.exec(
                select(func.coalesce(func.sum(XpLedgerEntry.amount), 0)).where(
                    XpLedgerEntry.user_id == user_id
                )
            )
        ).one()
        events = (
            await session.exec(
                select(func.count())
                .select_from(LearningEvent)
                .where(LearningEvent.user_id == user_id)
            )
        ).one()
    return state.xp_total, int(ledger), int(events)


async def test_xapi_completion_is_recorded_and_a_resent_statement_changes_nothing(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    sid = str(uuid.uuid4())
    body = statement("sam@example.com", datetime.now(UTC) - timedelta(hours=1), sid=sid)
    first = await client.post("/xapi/statements", json=body, headers=key_headers(world))
    assert first.status_code == 200, first.text
    assert first.json() == [sid]
    assert first.headers["x-experience-api-version"] == "1.0.3"
    employee = world.a.users["employee"].id
    xp, ledger, events = await _xp_and_events(ctx, employee)
    assert events == 1 and xp > 0 and xp == ledger
    # the LMS resends (also as a PUT): nothing changes
    again = await client.post("/xapi/statements", json=body, headers=key_headers(world))
    assert again.status_code == 200 and again.json() == [sid]
    put = await client.put(
        f"/xapi/statements?statementId={sid}", json=body, headers=key_headers(world)
    )
    assert put.status_code == 204
    assert await _xp_and_events(ctx, employee) == (xp, ledger, events)


async def test_same_statement_id_with_different_content_is_a_conflict(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    sid = str(uuid.uuid4())
    when = datetime.now(UTC) - timedelta(hours=2)
    assert (
        await client.post(
            "/xapi/statements",
            json=statement("sam@example.com", when, sid=sid),
            headers=key_headers(world),
        )
    ).status_code == 200
    before = await _xp_and_events(ctx, world.a.users["employee"].id)
    changed = statement(
        "sam@example.com", when, sid=sid, verb="http://adlnet.gov/expapi/verbs/passed"
    )
    response = await client.post("/xapi/statements", json=changed, headers=key_headers(world))
    assert response.status_code == 409
    assert sid in response.json()["detail"]
    put = await client.put(
        f"/xapi/statements?statementId={sid}", json=changed, headers=key_headers(world)
    )
    assert put.status_code == 409
    assert await _xp_and_events(ctx, world.a.users["employee"].id) == before


async def test_a_batch_with_one_unknown_learner_still_counts_for_the_others(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    now = datetime.now(UTC)
    batch = [statement("sam@example.com", now), statement("nobody@acme.example", now)]
    response = await client.post("/xapi/statements", json=batch, headers=key_headers(world))
    assert response.status_code == 200  # the stranger's statement is kept (tests/lrs)
    assert len(response.json()) == 2
    assert (await _xp_and_events(ctx, world.a.users["employee"].id))[2] == 1


async def test_malformed_statement_names_the_field_and_version_header_is_required(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    bad = statement("sam@example.com", datetime.now(UTC))
    bad["result"]["duration"] = "45 minutes"
    response = await client.post("/xapi/statements", json=bad, headers=key_headers(world))
    assert response.status_code == 400
    assert "result.duration" in response.json()["detail"]
    no_version = await client.post(
        "/xapi/statements",
        json=statement("sam@example.com", datetime.now(UTC)),
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert no_version.status_code == 400
    assert "X-Experience-API-Version" in no_version.json()["detail"]
    anonymous = await client.post(
        "/xapi/statements", json=statement("sam@example.com", datetime.now(UTC)), headers=XAPI
    )
    assert anonymous.status_code == 401  # xAPI's answer without credentials, not a CSRF 403
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")


async def test_unknown_course_is_stored_and_counts_as_learning(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    body = statement(
        "sam@example.com", datetime.now(UTC), activity="https://elsewhere.example/courses/excel"
    )
    assert (
        await client.post("/xapi/statements", json=body, headers=key_headers(world))
    ).status_code == 200
    async with ctx.sessionmaker() as session:
        event = (
            await session.exec(
                select(LearningEvent).where(LearningEvent.user_id == world.a.users["employee"].id)
            )
        ).one()
    assert (
        event.course_id is None and event.activity_id == "https://elsewhere.example/courses/excel"
    )
    assert event.minutes == 45


async def _set_daily_streaks(ctx: AppContext, org_id: int) -> None:
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == org_id))).one()
        org.settings = {**org.settings, "streak_mode": "daily"}
        session.add(org)
        await session.commit()


async def test_statement_arriving_three_days_late_extends_the_streak_for_its_own_day(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    await _set_daily_streaks(ctx, world.a.id)
    amsterdam = ZoneInfo("Europe/Amsterdam")
    today = datetime.now(amsterdam).replace(hour=12, minute=0, second=0, microsecond=0)
    # learned 5, 4, 2 and 1 days ago and today; 3 days ago is missing
    for days_ago in (5, 4, 2, 1, 0):
        body = statement(
            "sam@example.com",
            today - timedelta(days=days_ago),
            activity=f"https://lms.acme.example/a/{days_ago}",
        )
        assert (
            await client.post("/xapi/statements", json=body, headers=key_headers(world))
        ).status_code == 200
    async with signed_in_client(app, "sam@example.com") as sam:
        before = (await sam.get("/api/v1/me/today")).json()["streak"]
        late = statement(
            "sam@example.com", today - timedelta(days=3), activity="https://lms.acme.example/a/late"
        )
        assert (
            await client.post("/xapi/statements", json=late, headers=key_headers(world))
        ).status_code == 200
        after = (await sam.get("/api/v1/me/today")).json()["streak"]
    assert before["current"] == 3  # 2 and 1 days ago and today; 3 days ago breaks it
    assert after["current"] == 6
    assert after["longest"] >= 6


async def _define_event_count_badge(ctx: AppContext, org_id: int) -> None:
    async with ctx.sessionmaker() as session:
        session.add(
            BadgeDefinition(
                organisation_id=org_id,
                code="ontdekker",
                name="Ontdekker",
                criterion={"kind": "event_count", "event_kind": "experience"},
                tiers=[
                    {"name": "bronze", "threshold": 1},
                    {"name": "silver", "threshold": 10},
                    {"name": "gold", "threshold": 25},
                ],
            )
        )
        await session.commit()


async def test_fifty_concurrent_events_for_one_learner_give_exact_xp_and_one_award_per_tier(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    await _define_event_count_badge(ctx, world.a.id)
    base = datetime.now(UTC) - timedelta(hours=3)
    events = [
        {
            "id": f"exp-{i}",
            "learner": {"email": "sam@example.com"},
            "kind": "experience",
            "occurred_at": (base + timedelta(seconds=i)).isoformat(),
            "minutes": 5,
        }
        for i in range(50)
    ]
    headers = {"Authorization": f"Bearer {world.a.api_key}"}

    async def send(event: dict) -> int:
        async with AsyncTestClient(app=app) as c:
            return (await c.post("/api/v1/events", json=event, headers=headers)).status_code

    statuses = await asyncio.gather(*(send(e) for e in events))
    assert statuses == [201] * 50
    # the same 50 facts through the pure engine, one by one
    facts = [
        LearningFact(
            key=f"api:exp-{i}",
            kind=EventKind.EXPERIENCE,
            occurred_at=base + timedelta(seconds=i),
            local_date=local_day(base + timedelta(seconds=i), "Europe/Amsterdam"),
            minutes=5,
        )
        for i in range(50)
    ]
    expected = replay(facts, OrgRules(), (), datetime.now(UTC), "Europe/Amsterdam")
    xp, ledger, count = await _xp_and_events(ctx, world.a.users["employee"].id)
    assert count == 50
    assert xp == ledger == expected.state.xp_total
    assert xp == 50 * 20 + 25  # 20 per experience, plus the weekly goal (250 of 60 minutes) once
    async with ctx.sessionmaker() as session:
        awards = (
            await session.exec(
                select(BadgeAward.tier).where(BadgeAward.user_id == world.a.users["employee"].id)
            )
        ).all()
    assert sorted(awards) == ["bronze", "gold", "silver"]


async def test_an_event_computed_on_a_stale_state_is_redone_under_the_lock(
    client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    """Two integrations read the learner's state at the same moment: the second write must
    not overwrite the first (PostgreSQL writes optimistically, then locks and redoes)."""
    employee = world.a.users["employee"].id
    when = datetime.now(UTC) - timedelta(hours=2)
    first = await client.post(
        "/xapi/statements", json=statement("sam@example.com", when), headers=key_headers(world)
    )
    assert first.status_code == 200, first.text
    xp_first, _, _ = await _xp_and_events(ctx, employee)
    late = IncomingEvent(
        key="api:stale-read",
        user_id=employee,
        kind="experience",
        source="api",
        occurred_at=when + timedelta(minutes=5),
        minutes=10,
        payload={"id": "stale-read"},
    )
    lookup = await ingestion_lookup.load(
        ctx.engine, world.a.id, LookupKeys(ids=[employee]), datetime.now(UTC)
    )
    # the state as it was before the first statement: version 0, no document
    stale = dataclasses.replace(lookup, snapshots={employee: StateSnapshot(0, None)})
    [result] = await record_events(ctx.sessionmaker, world.a.id, [late], lookup=stale)
    assert result.status == "created" and result.xp == 20
    xp, ledger, events = await _xp_and_events(ctx, employee)
    assert events == 2
    assert xp == ledger == xp_first + 20


async def test_native_batch_reports_each_item(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    when = datetime.now(UTC).isoformat()
    batch = [
        {
            "id": "b1",
            "learner": {"email": "sam@example.com"},
            "kind": "completion",
            "occurred_at": when,
            "course": {"id": world.a.course_id},
        },
        {
            "id": "b2",
            "learner": {"email": "ghost@acme.example"},
            "kind": "completion",
            "occurred_at": when,
        },
        {
            "id": "b3",
            "learner": {"email": "sam@example.com"},
            "kind": "completion",
            "occurred_at": when,
            "course": {"id": world.b.course_id},
        },
        {
            "id": "b1",
            "learner": {"email": "sam@example.com"},
            "kind": "completion",
            "occurred_at": when,
            "course": {"id": world.a.course_id},
        },
    ]
    response = await client.post(
        "/api/v1/events", json=batch, headers={"Authorization": f"Bearer {world.a.api_key}"}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "created"]
    assert results[0]["xp"] > 0
    assert (
        "learner" in results[1]["detail"]
        and f"no course {world.b.course_id}" in results[2]["detail"]
    )
    naive = await client.post(
        "/api/v1/events",
        json={**batch[0], "id": "n1", "occurred_at": "2026-01-01T10:00:00"},
        headers={"Authorization": f"Bearer {world.a.api_key}"},
    )
    assert naive.status_code == 400 and "occurred_at" in naive.json()["detail"]


async def _webhook_secret(app: Litestar) -> dict:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post("/api/v1/webhook-secrets", json={"name": "Moodle"})
        assert response.status_code == 201
        return response.json()


def _signed(secret: dict, body: dict, at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    ts = int((at or datetime.now(UTC)).timestamp())
    return raw, {
        "content-type": "application/json",
        "x-learnloop-webhook-key": secret["key_id"],
        "x-learnloop-timestamp": str(ts),
        "x-learnloop-signature": sign(secret["secret"].encode(), raw, ts),
    }


async def test_signed_webhook_is_recorded_once_and_replays_are_refused(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    secret = await _webhook_secret(app)
    delivery = {
        "delivery_id": "dlv-1",
        "event": "course.completed",
        "learner": {"email": "sam@example.com"},
        "course": {"external_id": "ext-unknown", "title": "Klantgesprekken"},
        "occurred_at": datetime.now(UTC).isoformat(),
        "minutes": 30,
    }
    raw, headers = _signed(secret, delivery)
    first = await client.post("/api/v1/webhooks/lms", content=raw, headers=headers)
    assert first.status_code == 201, first.text
    before = await _xp_and_events(ctx, world.a.users["employee"].id)
    again = await client.post("/api/v1/webhooks/lms", content=raw, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert await _xp_and_events(ctx, world.a.users["employee"].id) == before
    changed_raw, changed_headers = _signed(secret, {**delivery, "minutes": 90})
    assert (
        await client.post("/api/v1/webhooks/lms", content=changed_raw, headers=changed_headers)
    ).status_code == 409
    old_raw, old_headers = _signed(
        secret, {**delivery, "delivery_id": "dlv-2"}, at=datetime.now(UTC) - timedelta(minutes=6)
    )
    old = await client.post("/api/v1/webhooks/lms", content=old_raw, headers=old_headers)
    assert old.status_code == 401 and "old" in old.json()["detail"]
    tampered = await client.post(
        "/api/v1/webhooks/lms", content=raw.replace(b"30", b"31"), headers=headers
    )
    assert tampered.status_code == 401
    assert await _xp_and_events(ctx, world.a.users["employee"].id) == before


async def test_offline_moment_sent_twice_counts_once(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    moment = {
        "client_id": str(uuid.uuid4()),
        "what": "Draaitabellen in Excel van Priya geleerd",
        "minutes": 15,
        "competency_id": world.a.competency_id,
        "colleague_id": world.a.users["manager"].id,
    }
    async with signed_in_client(app, "sam@example.com") as sam:
        first = await sam.post("/api/v1/me/moments", json=moment)
        assert first.status_code == 201, first.text
        assert first.json()["today"]["minutes_today"] == 15
        second = await sam.post("/api/v1/me/moments", json=moment)
        assert second.status_code == 200 and second.json()["status"] == "duplicate"
        assert second.json()["today"]["minutes_today"] == 15
        other_org = await sam.post(
            "/api/v1/me/moments",
            json={
                **moment,
                "client_id": str(uuid.uuid4()),
                "colleague_id": world.b.users["manager"].id,
            },
        )
        assert other_org.status_code == 404
    assert (await _xp_and_events(ctx, world.a.users["employee"].id))[2] == 1


async def test_today_shows_level_goal_and_streak_from_kept_state(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, "sam@example.com") as sam:
        empty = (await sam.get("/api/v1/me/today")).json()
        assert empty["level"] == {
            "level": 1,
            "xp_total": 0,
            "xp_into_level": 0,
            "xp_to_next_level": 100,
            "fraction": 0.0,
        }
        for minutes in (20, 25):
            await sam.post(
                "/api/v1/me/moments",
                json={
                    "client_id": str(uuid.uuid4()),
                    "what": f"Podcast over AI, {minutes} min",
                    "minutes": minutes,
                },
            )
        today = (await sam.get("/api/v1/me/today")).json()
    assert today["weekly_goal"]["minutes"] == 45 and today["weekly_goal"]["target_minutes"] == 60
    assert today["level"]["xp_total"] == 20
    assert today["minutes_today"] == 45
