"""The scheduler tick: due learners only, each nudge once."""

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, text
from sqlmodel import col, select

from backend.auth.passwords import hash_password
from backend.context import AppContext
from backend.db.models import (
    BadgeAward,
    BadgeDefinition,
    Challenge,
    Course,
    Kudos,
    LearnerState,
    Nudge,
    Organisation,
    User,
)
from backend.learning.model import IncomingEvent
from backend.learning.service import record_events
from backend.nudges.scheduler import run_tick, wake_learners
from gamification import TeamChallenge, TeamTargetKind
from gamification.nudge_texts import render
from tests.factories import PASSWORD, World

# Tuesday 1 December 2026, 19:00 in Amsterdam (CET)
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
NOW_LOCAL_DAY = date(2026, 12, 1)


async def set_user(ctx: AppContext, user_id: int, **fields: Any) -> None:
    async with ctx.sessionmaker() as session:
        user = (await session.exec(select(User).where(User.id == user_id))).one()
        for name, value in fields.items():
            setattr(user, name, value)
        session.add(user)
        await session.commit()


async def set_next(ctx: AppContext, user_id: int, at: datetime | None) -> None:
    async with ctx.sessionmaker() as session:
        state = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == user_id))
        ).one()
        state.next_nudge_at = at
        session.add(state)
        await session.commit()


async def next_of(ctx: AppContext, user_id: int) -> datetime | None:
    async with ctx.sessionmaker() as session:
        state = (
            await session.exec(select(LearnerState).where(LearnerState.user_id == user_id))
        ).one()
        return state.next_nudge_at


async def nudges_of(ctx: AppContext, user_id: int | None = None) -> list[Nudge]:
    async with ctx.sessionmaker() as session:
        query = select(Nudge).order_by(col(Nudge.created_at), col(Nudge.dedupe_key))
        if user_id is not None:
            query = query.where(Nudge.user_id == user_id)
        return list((await session.exec(query)).all())


async def nudgeable_any_time(
    ctx: AppContext, organisation_id: int, user_id: int, **settings: Any
) -> None:
    """No quiet hours (the organisation's or the learner's) and weekends allowed, so a tick
    at the real now may send; ``settings`` change the organisation's too."""
    async with ctx.sessionmaker() as session:
        org = (
            await session.exec(select(Organisation).where(Organisation.id == organisation_id))
        ).one()
        org.settings = {
            **(org.settings or {}),
            "quiet_hours_start": 0,
            "quiet_hours_end": 0,
            "nudges_on_weekends": True,
            **settings,
        }
        session.add(org)
        await session.commit()
    await set_user(ctx, user_id, quiet_hours_start=time(0), quiet_hours_end=time(0))


def learning(
    email: str, kind: str, when: datetime | None = None, minutes: int = 5
) -> dict[str, Any]:
    """An event for the events API (``POST /api/v1/events``)."""
    return {
        "id": uuid.uuid4().hex,
        "learner": {"email": email},
        "kind": kind,
        "occurred_at": (when or datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "minutes": minutes,
    }


async def record(app: Litestar, world: World, events: list[dict[str, Any]]) -> None:
    """Record ``events`` of organisation A through the events API, as an LMS does."""
    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/api/v1/events", json=events, headers={"Authorization": f"Bearer {world.a.api_key}"}
        )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["created"] * len(events)


def a_week_of_days(zone: str = "Europe/Amsterdam") -> list[datetime]:
    """One moment on each of the last seven local days, today's a minute ago."""
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(zone)).date()
    earlier = [
        datetime.combine(today - timedelta(days=d), time(12), tzinfo=ZoneInfo(zone))
        for d in range(6, 0, -1)
    ]
    return [*earlier, now - timedelta(minutes=1)]


async def test_tick_creates_nudges_for_due_learners_only_and_moves_next_nudge_at(
    ctx: AppContext, world: World
) -> None:
    sam, mia, lou = (world.a.users[r] for r in ("employee", "manager", "ld_admin"))
    assert sam.id and mia.id and lou.id
    for user_id in (sam.id, mia.id, lou.id):
        await set_user(ctx, user_id, reminder_time=time(19, 0), locale="en")
    await set_next(ctx, sam.id, NOW - timedelta(minutes=1))
    await set_next(ctx, mia.id, NOW + timedelta(hours=1))  # not due yet
    # lou: never scheduled (NULL) -> not picked

    created = await run_tick(ctx, NOW, rng=random.Random(1))

    assert created == 1
    [nudge] = await nudges_of(ctx)
    assert nudge.user_id == sam.id and nudge.organisation_id == world.a.id
    assert nudge.kind == "reminder" and nudge.dedupe_key == "reminder:2026-12-01"
    assert nudge.status == "pending" and nudge.due_at == NOW
    assert (nudge.locale, nudge.url, len(nudge.id)) == ("en", "/log", 32)
    text = render("reminder", nudge.variant, "en", {})
    assert (nudge.title, nudge.body) == (text.title, text.body)
    # December's budget reminder waits an hour (one push at a time)
    assert await next_of(ctx, sam.id) == NOW + timedelta(hours=1)
    assert await next_of(ctx, mia.id) == NOW + timedelta(hours=1)
    assert await next_of(ctx, lou.id) is None

    assert await run_tick(ctx, NOW + timedelta(hours=1)) == 2  # sam's budget, mia's reminder
    budget = (await nudges_of(ctx, sam.id))[-1]
    assert (budget.kind, budget.dedupe_key) == ("budget_reminder", "budget:2026-12")
    # the whole budget, €1,000, and the one month left of the budget year, in English
    left = {"budget_cents": 100_000, "months_left": 1}
    text = render("budget_reminder", budget.variant, "en", left)
    assert (budget.title, budget.body) == (text.title, text.body)
    assert "€1,000" in text.title + text.body and "1 month" in text.body
    # then tomorrow 19:00 in Amsterdam
    assert await next_of(ctx, sam.id) == datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


async def test_running_the_tick_twice_creates_nothing_new(ctx: AppContext, world: World) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    await set_user(ctx, sam.id, reminder_time=time(19, 0))
    await set_next(ctx, sam.id, NOW)
    assert await run_tick(ctx, NOW) == 1
    assert await run_tick(ctx, NOW) == 0
    # even when something makes the learner due again, the same nudge is not repeated
    await set_next(ctx, sam.id, NOW)
    assert await run_tick(ctx, NOW + timedelta(minutes=5)) == 0
    assert [n.dedupe_key for n in await nudges_of(ctx, sam.id)] == ["reminder:2026-12-01"]


async def test_opted_out_and_inactive_learners_get_nothing(ctx: AppContext, world: World) -> None:
    sam, mia = world.a.users["employee"], world.a.users["manager"]
    assert sam.id and mia.id
    await set_user(ctx, sam.id, reminder_time=time(19, 0), nudge_kinds_off=["reminder", "budget"])
    await set_user(ctx, mia.id, reminder_time=time(19, 0), is_active=False)
    for user_id in (sam.id, mia.id):
        await set_next(ctx, user_id, NOW)
    assert await run_tick(ctx, NOW) == 0
    assert await next_of(ctx, mia.id) is None  # nobody to nudge
    # sam switched off reminders and budget, not streak or goal nudges: tomorrow's 19:00
    assert await next_of(ctx, sam.id) == datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


async def test_event_nudges_in_the_learners_language_respecting_org_quiet_hours(
    ctx: AppContext, world: World
) -> None:
    sam, mia = world.a.users["employee"], world.a.users["manager"]
    assert sam.id and mia.id
    late = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam: quiet
    async with ctx.sessionmaker() as session:
        session.add(
            BadgeDefinition(
                organisation_id=world.a.id, code="explorer", name="Ontdekker", name_en="Explorer"
            )
        )
        session.add(
            BadgeAward(
                organisation_id=world.a.id,
                user_id=sam.id,
                badge_code="explorer",
                tier="bronze",
                public_id=uuid.uuid4().hex,
                awarded_at=late,
            )
        )
        session.add(
            Kudos(
                organisation_id=world.a.id, from_user_id=mia.id, to_user_id=sam.id, created_at=late
            )
        )
        await session.commit()
    await set_user(ctx, sam.id, locale="nl", reminder_time=time(19, 0))
    await wake_learners_now(ctx, world.a.id, [sam.id], late)

    assert await run_tick(ctx, late) == 0
    morning = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)  # 08:00 local: the quiet hours end
    assert await next_of(ctx, sam.id) == morning

    assert await run_tick(ctx, morning) == 1
    [first] = await nudges_of(ctx, sam.id)
    assert first.kind == "kudos_received" and "Mia Acme" in first.title + first.body
    assert await next_of(ctx, sam.id) == morning + timedelta(hours=1)  # spaced out
    assert await run_tick(ctx, morning + timedelta(hours=1)) == 1
    second = (await nudges_of(ctx, sam.id))[-1]
    assert second.kind == "badge_earned" and second.dedupe_key == "badge:explorer:bronze"
    assert "Ontdekker" in second.title + second.body  # Dutch learner, Dutch badge name


async def wake_learners_now(
    ctx: AppContext, organisation_id: int, user_ids: list[int], at: datetime
) -> None:
    async with ctx.sessionmaker() as session:
        await wake_learners(session, organisation_id, user_ids, at)
        await session.commit()


async def test_new_hire_gets_the_welcome_before_the_start_date(
    ctx: AppContext, world: World
) -> None:
    async with ctx.sessionmaker() as session:
        hire = User(
            organisation_id=world.a.id,
            email="new@acme.example",
            display_name="Noor",
            password_hash=hash_password(PASSWORD, ctx.settings.password_cost),
            locale="en",
            start_date=NOW_LOCAL_DAY + timedelta(days=6),
            reminder_time=time(19, 0),
        )
        session.add(hire)
        await session.commit()
        assert hire.id
        # creating a learner has them looked at right away (their state row is created)
        await wake_learners(session, world.a.id, [hire.id], NOW - timedelta(hours=9))
        await session.commit()
    assert await run_tick(ctx, NOW - timedelta(hours=9)) == 1
    [welcome] = await nudges_of(ctx, hire.id)
    assert welcome.kind == "welcome" and "Acme" in welcome.title + welcome.body
    # until the start date: no daily reminders, no second welcome (even weeks later)
    async with ctx.sessionmaker() as session:
        welcome.created_at = welcome.due_at = NOW - timedelta(days=20)
        session.add(welcome)
        await session.commit()
    await set_next(ctx, hire.id, NOW)
    assert await run_tick(ctx, NOW) == 0


async def test_org_caps_are_configurable(ctx: AppContext, world: World) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == world.a.id))).one()
        org.settings = {**(org.settings or {}), "nudges_per_week": 0}
        session.add(org)
        await session.commit()
    await set_user(ctx, sam.id, reminder_time=time(19, 0))
    await set_next(ctx, sam.id, NOW)
    assert await run_tick(ctx, NOW) == 0


async def test_two_concurrent_ticks_create_each_nudge_once(ctx: AppContext, world: World) -> None:
    pw = hash_password(PASSWORD, ctx.settings.password_cost)
    async with ctx.sessionmaker() as session:
        people = [
            User(
                organisation_id=world.a.id,
                email=f"p{i}@acme.example",
                display_name=f"P{i}",
                password_hash=pw,
                reminder_time=time(19, 0),
            )
            for i in range(240)
        ]
        session.add_all(people)
        await session.flush()
        for person in people:
            assert person.id
            session.add(
                LearnerState(user_id=person.id, organisation_id=world.a.id, next_nudge_at=NOW)
            )
        await session.commit()
    other = AppContext.from_settings(ctx.settings, null_pool=True)
    try:
        created = await asyncio.gather(
            run_tick(ctx, NOW, batch_size=20), run_tick(other, NOW, batch_size=20)
        )
    finally:
        await other.engine.dispose()
    assert sum(created) == 240
    async with ctx.sessionmaker() as session:
        count = (await session.exec(select(func.count()).select_from(Nudge))).one()
        due = (
            await session.exec(
                select(func.count())
                .select_from(LearnerState)
                .where(col(LearnerState.next_nudge_at) <= NOW)
            )
        ).one()
    assert count == 240 and due == 0
    assert all(created), "both schedulers took part (SKIP LOCKED, not one waiting)"


async def test_team_milestone_new_hot_course_and_testimonial_ask(
    ctx: AppContext, world: World
) -> None:
    """What happened around a learner reaches them, one push at a time, in their language."""
    sam, mia = world.a.users["employee"], world.a.users["manager"]
    assert sam.id and mia.id
    morning = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Amsterdam
    await set_user(ctx, sam.id, locale="en", nudge_kinds_off=["reminder", "budget", "goal"])
    async with ctx.sessionmaker() as session:
        await record_events(
            session,
            world.a.id,
            [
                IncomingEvent(
                    key="xapi:done-1",
                    user_id=sam.id,
                    kind="completion",
                    source="xapi",
                    occurred_at=morning - timedelta(hours=30),
                    course_id=world.a.course_id,
                )
            ],
            now=morning - timedelta(hours=30),
        )
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == world.a.id))).one()
        org.settings = {**(org.settings or {}), "nudges_per_week": 20}
        session.add(org)
        starts, ends = NOW_LOCAL_DAY - timedelta(days=1), NOW_LOCAL_DAY + timedelta(days=10)
        challenge = Challenge(
            organisation_id=world.a.id,
            kind="team",
            title="Support learns together",
            starts_on=starts,
            ends_on=ends,
            team_id=world.a.team_id,
            sponsor_id=mia.id,
            pledge="pizza for the team",
            progress=0.6,  # half way: the team's 50% milestone
            created_at=morning - timedelta(days=2),
        )
        session.add(challenge)
        await session.flush()
        challenge.definition = TeamChallenge(
            challenge_id=str(challenge.id),
            sponsor_user_id=mia.id,
            pledge=challenge.pledge,
            starts_on=starts,
            ends_on=ends,
            target_kind=TeamTargetKind.TEAM_MINUTES,
            target_minutes=100,
        ).to_dict()
        session.add(
            Course(
                organisation_id=world.a.id,
                title="Prompting for support",
                hot_skill=True,
                created_at=morning - timedelta(hours=20),
            )
        )
        await session.commit()
    await wake_learners_now(ctx, world.a.id, [sam.id], morning)

    moment = morning
    for _ in range(6):
        await run_tick(ctx, moment)
        moment = await next_of(ctx, sam.id) or moment
        if moment > morning + timedelta(hours=8):
            break
    by_kind = {n.kind: n for n in await nudges_of(ctx, sam.id)}
    assert set(by_kind) == {
        "team_milestone",
        "challenge_launched",
        "new_course",
        "testimonial_request",
    }
    milestone = by_kind["team_milestone"]
    assert "50%" in milestone.title and "pizza for the team" in milestone.body
    assert "Mia Acme" in milestone.body and milestone.url == "/team"
    assert "Prompting for support" in by_kind["new_course"].title + by_kind["new_course"].body
    ask = by_kind["testimonial_request"]
    assert ask.url == f"/catalogue/{world.a.course_id}"
    assert "Feedback geven" in ask.title + ask.body
    # spaced an hour apart, never two at once
    times = sorted(n.due_at for n in by_kind.values())
    assert all(b - a >= timedelta(hours=1) for a, b in pairwise(times))


async def test_a_level_reached_through_the_events_api_is_celebrated_once(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    await nudgeable_any_time(ctx, world.a.id, sam.id)
    await set_user(ctx, sam.id, locale="en")
    await record(app, world, [learning(sam.email, "completion", minutes=120)])  # 110 XP

    now = datetime.now(UTC)
    assert await run_tick(ctx, now) == 1

    [nudge] = await nudges_of(ctx, sam.id)
    assert (nudge.kind, nudge.dedupe_key, nudge.locale, nudge.url) == (
        "level_up",
        "level:2",
        "en",
        "/progress",
    )
    text = render("level_up", nudge.variant, "en", {"level": 2})
    assert (nudge.title, nudge.body) == (text.title, text.body)
    # more learning on the same level, more ticks: still the one celebration
    await record(app, world, [learning(sam.email, "experience")])
    await run_tick(ctx, now + timedelta(hours=2))
    await run_tick(ctx, now + timedelta(hours=4))
    levels = [n.dedupe_key for n in await nudges_of(ctx, sam.id) if n.kind == "level_up"]
    assert levels == ["level:2"]


async def test_a_level_reached_days_ago_is_not_celebrated_when_the_learner_comes_back(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    await nudgeable_any_time(ctx, world.a.id, sam.id, yearly_budget_cents=0)
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    await record(app, world, [learning(sam.email, "completion", when=ten_days_ago, minutes=120)])
    # it was recorded ten days ago, before anything celebrated levels
    async with ctx.engine.begin() as conn:
        await conn.execute(
            text("UPDATE xp_ledger SET created_at = :at WHERE user_id = :user"),
            {"at": ten_days_ago, "user": sam.id},
        )

    await record(app, world, [learning(sam.email, "experience")])  # 20 XP more, still level 2

    assert await run_tick(ctx, datetime.now(UTC)) == 0
    assert await nudges_of(ctx, sam.id) == []


async def test_a_week_of_daily_learning_is_celebrated_as_a_streak_milestone_once(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    assert sam.id
    await nudgeable_any_time(ctx, world.a.id, sam.id, streak_mode="daily", yearly_budget_cents=0)
    await set_user(ctx, sam.id, locale="nl")
    await record(app, world, [learning(sam.email, "informal", when) for when in a_week_of_days()])

    now = datetime.now(UTC)
    assert await run_tick(ctx, now) == 1

    [nudge] = await nudges_of(ctx, sam.id)
    assert (nudge.kind, nudge.dedupe_key, nudge.locale) == (
        "streak_milestone",
        "streak:daily:7",
        "nl",
    )
    text = render("streak_milestone", nudge.variant, "nl", {"streak": 7, "streak_mode": "daily"})
    assert (nudge.title, nudge.body) == (text.title, text.body)
    assert "7 dagen" in nudge.title
    await set_next(ctx, sam.id, now)
    assert await run_tick(ctx, now + timedelta(hours=2)) == 0
