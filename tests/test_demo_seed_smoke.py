"""Smoke test of the demo organisation seed."""

import re
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from backend.auth.passwords import TEST_HASH_COST, verify_password
from backend.context import AppContext
from backend.db.models import (
    Competency,
    Course,
    CourseCompetency,
    JobFamilyCompetency,
    Kudos,
    LearnerState,
    LearningEvent,
    Organisation,
    RecommendationShown,
    Team,
    TeamMembership,
    User,
    XpLedgerEntry,
)
from backend.demo.seed import DEMO_SLUG, DemoResult, demo_exists, seed_demo

WEDNESDAY = date(2025, 3, 12)


@pytest.fixture
def demo_ctx(ctx: AppContext) -> AppContext:
    """The shared fixture: the run's migrated database, emptied (tests/conftest.py)."""
    return ctx


async def _rows(ctx: AppContext, model: type, org_id: int) -> list:
    async with ctx.sessionmaker() as session:
        return list(
            (await session.exec(select(model).where(model.organisation_id == org_id))).all()
        )


async def _table_sizes(ctx: AppContext) -> dict[str, int]:
    """Row counts over whole tables, so leftovers of a deleted organisation would show."""
    models = [
        Organisation,
        User,
        Team,
        TeamMembership,
        Competency,
        Course,
        CourseCompetency,
        LearningEvent,
        LearnerState,
        XpLedgerEntry,
    ]
    async with ctx.sessionmaker() as session:
        return {
            m.__tablename__: int((await session.exec(select(func.count()).select_from(m))).one())
            for m in models
        }


async def _history(ctx: AppContext, org_id: int) -> list[tuple]:
    """Who learned what when, independent of database ids."""
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(User.email, LearningEvent.idempotency_key, LearningEvent.title)
            .join(User, col(User.id) == col(LearningEvent.user_id))
            .where(LearningEvent.organisation_id == org_id)
            .add_columns(LearningEvent.occurred_at, LearningEvent.minutes)
        )
        return sorted(tuple(row) for row in rows.all())


def _login(result: DemoResult, role: str):
    return next(login for login in result.logins if login.role == role)


async def test_seed_builds_a_realistic_dutch_organisation(demo_ctx: AppContext) -> None:
    assert not await demo_exists(demo_ctx)
    started = time.perf_counter()
    result = await seed_demo(demo_ctx, today=WEDNESDAY)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"seeding took {elapsed:.1f}s"
    assert await demo_exists(demo_ctx)
    org_id = result.organisation_id

    async with demo_ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.slug == DEMO_SLUG))).one()
    assert org.id == org_id and org.name == result.organisation_name
    assert org.default_timezone == "Europe/Amsterdam" and org.default_locale == "nl"
    assert org.settings["streak_mode"] == "weekly" and org.settings["streak_days_per_week"] == 3

    users = await _rows(demo_ctx, User, org_id)
    assert 55 <= len(users) <= 65
    emails = [u.email for u in users]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+@[a-z0-9.-]+\.nl", e) for e in emails), emails
    assert sum(u.locale == "en" for u in users) >= 2
    assert sum(1 for u in users if u.start_date and u.start_date > WEDNESDAY) == 2
    assert all(u.password_hash == users[0].password_hash for u in users)
    assert sum("ld_admin" in u.roles for u in users) == 1
    managers = {u.id for u in users if "manager" in u.roles}

    teams = await _rows(demo_ctx, Team, org_id)
    memberships = await _rows(demo_ctx, TeamMembership, org_id)
    assert len(teams) == 6
    team_managers = defaultdict(set)
    for m in memberships:
        if m.is_manager:
            team_managers[m.team_id].add(m.user_id)
    assert all(len(team_managers[t.id]) == 1 for t in teams)
    assert set().union(*team_managers.values()) == managers
    assert len({m.user_id for m in memberships}) == len(memberships)  # one team each

    courses = await _rows(demo_ctx, Course, org_id)
    links = await _rows(demo_ctx, CourseCompetency, org_id)
    competencies = await _rows(demo_ctx, Competency, org_id)
    assert 35 <= len(courses) <= 45
    assert len(competencies) == 8 and all(c.description for c in competencies)
    assert {link.competency_id for link in links} == {c.id for c in competencies}
    per_course = Counter(link.course_id for link in links)
    assert all(1 <= per_course[c.id] <= 2 for c in courses)
    assert 3 <= sum(c.hot_skill for c in courses) <= 10
    assert sum(c.cost_cents == 0 for c in courses) >= len(courses) // 3
    assert all(10 <= c.duration_minutes <= 960 and c.url.startswith("https://") for c in courses)
    assert len({c.format for c in courses}) >= 6
    # every job family people are in has competencies L&D expects of it (recommendations)
    expected = await _rows(demo_ctx, JobFamilyCompetency, org_id)
    assert {u.job_family for u in users} == {e.job_family for e in expected}
    assert all(2 <= n <= 4 for n in Counter(e.job_family for e in expected).values()), Counter(
        e.job_family for e in expected
    )

    # eight weeks of recommendations, some followed, for the insight on starting them
    shown = await _rows(demo_ctx, RecommendationShown, org_id)
    assert len(shown) >= 100 and len({r.reason for r in shown}) >= 5
    assert all(WEDNESDAY - timedelta(weeks=9) <= r.shown_at.date() <= WEDNESDAY for r in shown)

    events = await _rows(demo_ctx, LearningEvent, org_id)
    assert all(e.source == "demo" and e.occurred_at.tzinfo is not None for e in events)
    assert all(WEDNESDAY - timedelta(weeks=12) <= e.local_date <= WEDNESDAY for e in events)
    assert Counter(e.kind for e in events).keys() == {"completion", "informal"}
    active = {e.user_id for e in events}
    assert 0.55 <= len(active) / len(users) <= 0.85

    assert result.counts["users"] == len(users)
    assert result.counts["learning_events"] == len(events)
    assert result.counts["courses"] == len(courses)


@pytest.mark.parametrize(
    "today",
    [date(2025, 3, 10), WEDNESDAY, date(2025, 3, 16)],
    ids=["monday", "wednesday", "sunday"],
)
async def test_demo_logins_work_and_the_employee_has_a_live_streak(
    demo_ctx: AppContext, today: date
) -> None:
    result = await seed_demo(demo_ctx, today=today)
    assert {login.role for login in result.logins} == {"employee", "manager", "ld_admin"}
    async with demo_ctx.sessionmaker() as session:
        by_email = {
            u.email: u
            for u in (
                await session.exec(
                    select(User).where(User.organisation_id == result.organisation_id)
                )
            ).all()
        }
    for login in result.logins:
        user = by_email[login.email]
        assert login.role in user.roles and user.display_name == login.display_name
        assert verify_password(user.password_hash, login.password, TEST_HASH_COST)

    employee = by_email[_login(result, "employee").email]
    monday = today - timedelta(days=today.weekday())
    async with demo_ctx.sessionmaker() as session:
        this_week = (
            await session.exec(
                select(LearningEvent).where(
                    LearningEvent.user_id == employee.id, col(LearningEvent.local_date) >= monday
                )
            )
        ).all()
        state = await session.get(LearnerState, employee.id)
    assert this_week, "the demo employee should have learned something this week"
    assert state is not None and state.current_streak >= 1
    assert state.last_active_date == today

    # the manager's team includes the demo employee
    memberships = await _rows(demo_ctx, TeamMembership, result.organisation_id)
    manager = by_email[_login(result, "manager").email]
    team_of = {m.user_id: m.team_id for m in memberships}
    assert team_of[manager.id] == team_of[employee.id]
    assert any(m.user_id == manager.id and m.is_manager for m in memberships)

    # the employee's Team page has thanks from teammates to show
    kudos = await _rows(demo_ctx, Kudos, result.organisation_id)
    assert len(kudos) == 3 and all(k.to_user_id == employee.id for k in kudos)
    assert all(team_of[k.from_user_id] == team_of[employee.id] for k in kudos)


async def test_learner_xp_equals_their_ledger(demo_ctx: AppContext) -> None:
    result = await seed_demo(demo_ctx, today=WEDNESDAY)
    org_id = result.organisation_id
    users = await _rows(demo_ctx, User, org_id)
    states = {s.user_id: s for s in await _rows(demo_ctx, LearnerState, org_id)}
    ledger = await _rows(demo_ctx, XpLedgerEntry, org_id)
    events = await _rows(demo_ctx, LearningEvent, org_id)

    assert states.keys() == {u.id for u in users}
    xp = Counter()
    for entry in ledger:
        xp[entry.user_id] += entry.amount
    assert all(state.xp_total == xp[user_id] for user_id, state in states.items())
    assert {entry.event_id for entry in ledger} == {e.id for e in events}
    assert any(state.level > 1 for state in states.values())
    assert any(state.current_streak >= 2 for state in states.values())
    inactive = [s for s in states.values() if s.xp_total == 0]
    assert inactive and all(s.last_active_date is None and s.level == 1 for s in inactive)


async def test_seeding_again_changes_nothing_and_reset_recreates(demo_ctx: AppContext) -> None:
    first = await seed_demo(demo_ctx, today=WEDNESDAY)
    sizes = await _table_sizes(demo_ctx)
    history = await _history(demo_ctx, first.organisation_id)

    again = await seed_demo(demo_ctx)  # default today; an existing demo is left alone
    assert again.organisation_id == first.organisation_id
    assert again.counts == first.counts and again.logins == first.logins
    assert await _table_sizes(demo_ctx) == sizes

    # an admin's own change to the demo survives a plain re-seed ...
    async with demo_ctx.sessionmaker() as session, session.begin():
        session.add(
            User(
                organisation_id=first.organisation_id,
                email="nieuwe.collega@polderhaven.nl",
                display_name="Nieuwe Collega",
            )
        )
    kept = await seed_demo(demo_ctx, today=WEDNESDAY)
    assert not kept.created and kept.counts["users"] == first.counts["users"] + 1

    # ... and reset throws the whole organisation away and builds it again
    reset = await seed_demo(demo_ctx, today=WEDNESDAY, reset=True)
    assert reset.created
    assert reset.counts == first.counts
    assert await _table_sizes(demo_ctx) == sizes  # nothing of the old organisation is left
    assert await _history(demo_ctx, reset.organisation_id) == history  # same seed, same story


async def test_seed_for_the_real_today_puts_no_event_in_the_future(demo_ctx: AppContext) -> None:
    result = await seed_demo(demo_ctx)
    events = await _rows(demo_ctx, LearningEvent, result.organisation_id)
    assert max(e.occurred_at for e in events) <= datetime.now(UTC)
