"""Measuring nudges: clicks from the service worker, learning within 24 h, L&D's insights."""

import random
import secrets
import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from backend.context import AppContext
from backend.db.models import LearnerState, Nudge, Organisation, User
from backend.db.types import utcnow
from backend.learning.model import IncomingEvent
from backend.learning.service import record_events
from backend.nudges.scheduler import run_tick
from tests.factories import World, signed_in_client


async def add_nudge(
    ctx: AppContext,
    organisation_id: int,
    user_id: int,
    *,
    kind: str = "reminder",
    variant: str = "a",
    sent_at: datetime | None = None,
    clicked: bool = False,
) -> str:
    nudge_id = secrets.token_hex(16)
    async with ctx.sessionmaker() as session:
        session.add(
            Nudge(
                id=nudge_id,
                organisation_id=organisation_id,
                user_id=user_id,
                kind=kind,
                variant=variant,
                dedupe_key=f"{kind}:{nudge_id}",
                title="Time for something new?",
                body="Ten minutes is plenty.",
                status="sent" if sent_at else "pending",
                sent_at=sent_at,
                clicked_at=sent_at if clicked else None,
                created_at=sent_at or utcnow(),
            )
        )
        await session.commit()
    return nudge_id


async def get_nudge(ctx: AppContext, nudge_id: str) -> Nudge:
    async with ctx.sessionmaker() as session:
        return (await session.exec(select(Nudge).where(Nudge.id == nudge_id))).one()


async def test_click_is_recorded_once_without_signing_in(
    ctx: AppContext, world: World, client: AsyncTestClient[Litestar]
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    nudge_id = await add_nudge(ctx, world.a.id, sam.id, sent_at=utcnow() - timedelta(minutes=5))
    # the service worker has no CSRF token and no session: the random id is the credential
    first = await client.post(f"/api/v1/nudges/{nudge_id}/click")
    assert first.status_code == 204, first.text
    clicked_at = (await get_nudge(ctx, nudge_id)).clicked_at
    assert clicked_at is not None
    again = await client.post(f"/api/v1/nudges/{nudge_id}/click")
    assert again.status_code == 204
    assert (await get_nudge(ctx, nudge_id)).clicked_at == clicked_at  # the first click counts


async def test_click_on_an_unknown_nudge_is_404_with_a_reason(
    client: AsyncTestClient[Litestar],
) -> None:
    for bad in (secrets.token_hex(16), "not-a-nudge", "x" * 300):
        response = await client.post(f"/api/v1/nudges/{bad}/click")
        assert response.status_code == 404
        assert "not found" in response.json()["detail"]


async def test_learning_within_24_hours_after_a_nudge_is_recorded(
    ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    now = utcnow()
    helped = await add_nudge(ctx, world.a.id, sam.id, sent_at=now - timedelta(hours=3))
    too_early = await add_nudge(
        ctx, world.a.id, sam.id, kind="badge_earned", sent_at=now - timedelta(hours=30)
    )
    learned_at = now - timedelta(hours=1)
    async with ctx.sessionmaker() as session:
        await record_events(
            session,
            world.a.id,
            [
                IncomingEvent(
                    key="pwa:nudged-1",
                    user_id=sam.id,
                    kind="informal",
                    source="pwa",
                    occurred_at=learned_at,
                    minutes=10,
                    title="Read about feedback",
                )
            ],
            now=now,
        )
        # the learner's state changed: the scheduler looks at them (ingestion does this too)
        await _due(session, sam.id, now)

    await run_tick(ctx, now)

    assert (await get_nudge(ctx, helped)).learned_at == learned_at
    assert (await get_nudge(ctx, too_early)).learned_at is None  # 29 hours later: not its effect


async def _due(session: Any, user_id: int, now: datetime) -> None:
    """Make the learner due for the nudge scheduler's next tick, and commit."""
    state = (await session.exec(select(LearnerState).where(LearnerState.user_id == user_id))).one()
    state.next_nudge_at = now
    session.add(state)
    await session.commit()


async def test_learning_whose_statement_was_voided_is_no_effect_of_a_nudge(
    ctx: AppContext, world: World, client: AsyncTestClient[Litestar]
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    now = utcnow()
    nudge = await add_nudge(ctx, world.a.id, sam.id, sent_at=now - timedelta(hours=3))
    completed = {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://lms.acme.example/courses/feedback"},
        "timestamp": (now - timedelta(hours=1)).isoformat(),
    }
    voiding = {  # the LMS sent it by mistake
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:lms@acme.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": completed["id"]},
    }
    headers = {"Authorization": f"Bearer {world.a.api_key}", "X-Experience-API-Version": "1.0.3"}
    for body in (completed, voiding):
        assert (await client.post("/xapi/statements", json=body, headers=headers)).is_success
    async with ctx.sessionmaker() as session:  # the scheduler looks at Sam now
        await _due(session, sam.id, now)

    await run_tick(ctx, now)

    assert (await get_nudge(ctx, nudge)).learned_at is None


async def test_insights_per_kind_and_variant_for_ld_of_the_organisation_only(
    ctx: AppContext, world: World, app: Litestar
) -> None:
    a_people = [world.a.users[r].id for r in ("employee", "manager", "ld_admin")]
    sent = utcnow() - timedelta(days=2)
    for i, user_id in enumerate(a_people):
        assert user_id
        await add_nudge(ctx, world.a.id, user_id, variant="a", sent_at=sent, clicked=i == 0)
        await add_nudge(ctx, world.a.id, user_id, variant="b", sent_at=sent)
    await add_nudge(ctx, world.a.id, a_people[0] or 0, variant="b")  # still pending
    b_sam = world.b.users["employee"].id
    assert b_sam
    for _ in range(4):
        await add_nudge(ctx, world.b.id, b_sam, kind="kudos_received", sent_at=sent, clicked=True)
    async with ctx.sessionmaker() as session:  # org A's three people are a group (the floor)
        org_a = await session.get(Organisation, world.a.id)
        assert org_a is not None
        org_a.settings = {**org_a.settings, "min_group_size": 3}
        session.add(org_a)
        await session.commit()

    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        response = await ld.get("/api/v1/insights/nudges", params={"since": "2026-01-01"})
        assert response.status_code == 200, response.text
        rows = {(r["kind"], r["variant"]): r for r in response.json()["rows"]}
        assert set(rows) == {("reminder", "a"), ("reminder", "b")}  # nothing of org B
        assert (rows[("reminder", "a")]["sent"], rows[("reminder", "a")]["clicked"]) == (3, 1)
        assert rows[("reminder", "a")]["click_rate"] == round(1 / 3, 4)
        assert (rows[("reminder", "b")]["created"], rows[("reminder", "b")]["sent"]) == (4, 3)
        later = await ld.get(
            "/api/v1/insights/nudges",
            params={"since": (utcnow() + timedelta(days=1)).date().isoformat()},
        )
        assert later.json()["rows"] == []
        bad = await ld.get("/api/v1/insights/nudges", params={"since": "yesterday"})
        assert bad.status_code == 400 and "since" in bad.text

    async with signed_in_client(app, world.email("a", "employee")) as employee:
        assert (await employee.get("/api/v1/insights/nudges")).status_code == 403
    async with AsyncTestClient(app=app) as anonymous:
        assert (await anonymous.get("/api/v1/insights/nudges")).status_code == 401


async def test_tick_prefers_the_text_variant_that_gets_people_learning(
    ctx: AppContext, world: World
) -> None:
    """Thompson sampling on measured outcomes: the variant after which people learn wins."""
    sam = world.a.users["employee"]
    assert sam.id
    now = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)  # a Tuesday, 19:00 in Amsterdam
    measured = now - timedelta(days=30)
    async with ctx.sessionmaker() as session:
        for i in range(60):
            variant = "b" if i % 2 else "a"
            session.add(
                Nudge(
                    id=secrets.token_hex(16),
                    organisation_id=world.a.id,
                    user_id=sam.id,
                    kind="reminder",
                    variant=variant,
                    dedupe_key=f"old:{i}",
                    title="t",
                    body="b",
                    status="sent",
                    sent_at=measured,
                    learned_at=measured + timedelta(hours=2) if variant == "b" else None,
                    created_at=measured,
                )
            )
        people = [
            User(
                organisation_id=world.a.id,
                email=f"v{i}@acme.example",
                display_name=f"V{i}",
                reminder_time=time(19, 0),
                nudge_kinds_off=["budget"],
            )
            for i in range(30)
        ]
        session.add_all(people)
        await session.flush()
        for person in people:
            assert person.id
            session.add(
                LearnerState(user_id=person.id, organisation_id=world.a.id, next_nudge_at=now)
            )
        await session.commit()

    assert await run_tick(ctx, now, rng=random.Random(5)) == 30

    async with ctx.sessionmaker() as session:
        chosen = Counter(
            (
                await session.exec(
                    select(Nudge.variant).where(Nudge.kind == "reminder", Nudge.created_at == now)
                )
            ).all()
        )
    assert chosen == {"b": 30}  # 30 of 30 learned after b, none after a
