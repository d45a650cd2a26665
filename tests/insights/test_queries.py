"""The insights' figures on a small world, exact; the rollups behind them kept right by every
writer; the privacy floor on breakdown rows; nothing of another organisation."""

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlmodel import select

from backend.auth.principal import Principal
from backend.catalogue.services import merge_competencies
from backend.context import AppContext
from backend.db.models import (
    Challenge,
    Competency,
    Course,
    CourseCompetency,
    LearnerState,
    LearnerWeek,
    LearningEvent,
    Nudge,
    Organisation,
    Team,
    TeamMembership,
    User,
)
from backend.insights import queries, snapshots
from backend.insights.privacy import Group, group_for
from backend.insights.series import Period, Series
from backend.tenancy import OrgScope
from gamification import EventKind
from gamification.challenges import ChallengeDefinition
from tests.factories import World, signed_in_client

W1, W2 = date(2026, 11, 23), date(2026, 11, 30)  # two Mondays; W2 runs into December
PERIOD = Period(date(2026, 11, 23), date(2026, 12, 6))


@dataclass
class Data:
    """Org A's team "Data" (L1-L4, floor 3) and the ids the tests need."""

    team_id: int
    learners: list[int]
    courses: dict[str, int]
    competencies: dict[str, int]


async def _set_floor(ctx: AppContext, organisation_id: int, floor: int) -> None:
    async with ctx.sessionmaker() as session:
        org = await session.get(Organisation, organisation_id)
        assert org is not None
        org.settings = {**org.settings, "min_group_size": floor}
        session.add(org)
        await session.commit()


def _event(
    org: int,
    user: int,
    kind: str,
    day: date,
    minutes: int,
    *,
    course: int | None = None,
    competency: int | None = None,
) -> LearningEvent:
    return LearningEvent(
        organisation_id=org,
        user_id=user,
        idempotency_key=f"test:{uuid.uuid4()}",
        kind=kind,
        source="import",
        course_id=course,
        competency_id=competency,
        minutes=minutes,
        occurred_at=datetime.combine(day, time(10), tzinfo=UTC),
        local_date=day,
    )


async def _data(ctx: AppContext, world: World) -> Data:
    """Team Data: L1, L2 in job family Data, L3 in Finance, L4 without; course SQL (Data;
    Communicatie + Analytics) and Budgeting (Finance; Financiën); the events of two weeks."""
    org = world.a.id
    await _set_floor(ctx, org, 3)
    async with ctx.sessionmaker() as session:
        team = Team(organisation_id=org, name="Data")
        people = [
            User(
                organisation_id=org,
                email=f"l{n}@acme.example",
                display_name=f"L{n}",
                job_family=family,
            )
            for n, family in ((1, "Data"), (2, "Data"), (3, "Finance"), (4, None))
        ]
        analytics, finance, excel = (
            Competency(organisation_id=org, name=name)
            for name in ("Analytics", "Financiën", "Excel")
        )
        sql = Course(organisation_id=org, title="SQL", job_family="Data")
        budgeting = Course(organisation_id=org, title="Budgeting", job_family="Finance")
        session.add_all([team, *people, analytics, finance, excel, sql, budgeting])
        await session.flush()
        assert team.id and sql.id and budgeting.id and analytics.id and finance.id and excel.id
        ids = [p.id for p in people]
        assert all(ids)
        l1, l2, l3, l4 = (int(i or 0) for i in ids)
        session.add_all(
            [
                CourseCompetency(
                    course_id=sql.id, competency_id=world.a.competency_id, organisation_id=org
                ),
                CourseCompetency(course_id=sql.id, competency_id=analytics.id, organisation_id=org),
                CourseCompetency(
                    course_id=budgeting.id, competency_id=finance.id, organisation_id=org
                ),
                *[
                    TeamMembership(team_id=team.id, user_id=u, organisation_id=org)
                    for u in (l1, l2, l3, l4)
                ],
                TeamMembership(
                    team_id=team.id,
                    user_id=world.a.users["manager"].id,
                    organisation_id=org,
                    is_manager=True,
                ),
            ]
        )
        await session.flush()
        sam = int(world.a.users["employee"].id or 0)
        # one multi-row INSERT: the trigger sees them all at once
        session.add_all(
            [
                _event(org, l1, "completion", date(2026, 11, 24), 60, course=sql.id),
                _event(org, l1, "informal", date(2026, 12, 1), 15, competency=analytics.id),
                _event(org, l1, "completion", date(2026, 11, 27), 10, course=budgeting.id),
                _event(org, l2, "completion", date(2026, 11, 25), 30, course=sql.id),
                _event(org, l2, "progress", date(2026, 11, 30), 20, course=budgeting.id),
                _event(org, l3, "completion", date(2026, 11, 26), 45, course=sql.id),
                _event(org, l3, "informal", date(2026, 12, 2), 10, competency=excel.id),
                _event(org, l4, "experience", date(2026, 12, 3), 25, course=budgeting.id),
                _event(org, l4, "testimonial", date(2026, 11, 24), 0, course=sql.id),
                _event(org, sam, "informal", date(2026, 11, 24), 5),
            ]
        )
        await session.commit()
        return Data(
            team_id=team.id,
            learners=[l1, l2, l3, l4],
            courses={"SQL": sql.id, "Budgeting": budgeting.id},
            competencies={"Analytics": analytics.id, "Financiën": finance.id, "Excel": excel.id},
        )


@asynccontextmanager
async def _scope(ctx: AppContext, world: World, org: str = "a") -> AsyncIterator[OrgScope]:
    which = getattr(world, org)
    admin = which.users["ld_admin"]
    principal = Principal(
        organisation_id=which.id,
        user_id=admin.id,
        roles=frozenset({"employee", "ld_admin"}),
        via="session",
    )
    async with ctx.sessionmaker() as session:
        yield OrgScope(session, principal)


async def _series(
    ctx: AppContext, world: World, query: Any, team_id: int | None, period: Period = PERIOD
) -> tuple[Series, Group]:
    async with _scope(ctx, world) as scope:
        group = await group_for(scope, team_id=team_id)
        return await query(scope, group, period), group


async def test_weekly_active_learners_and_their_share_of_the_team(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    series, group = await _series(ctx, world, queries.weekly_active_learners, data.team_id)
    assert group.size == 4  # the manager is not counted
    # W1: L4 only wrote a testimonial, which is not learning
    assert series.rows == [(W1, 3, 0.75), (W2, 4, 1.0)]
    whole, org_group = await _series(ctx, world, queries.weekly_active_learners, None)
    assert org_group.size == 7 and whole.rows == [
        (W1, 4, round(4 / 7, 4)),
        (W2, 4, round(4 / 7, 4)),
    ]


async def test_minutes_and_completions_over_time_formal_and_informal_under_the_floor(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    minutes, _ = await _series(ctx, world, queries.minutes_over_time, data.team_id)
    # W2: two learners in each kind of learning, fewer than the floor of 3
    assert minutes.rows == [(W1, 145, 0), (W2, None, None)]
    assert minutes.suppressed_rows == 1
    counts, _ = await _series(ctx, world, queries.completions_over_time, data.team_id)
    assert counts.rows == [(W1, 4, 0), (W2, 0, None)]
    assert counts.suppressed_rows == 1


async def test_learning_by_competency_leaves_out_what_fewer_than_the_floor_learned(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    series, _ = await _series(ctx, world, queries.learning_by_competency, data.team_id)
    # a course's minutes count for each of its competencies; Excel: L3 alone, left out
    assert series.rows == [
        ("Analytics", 3, 135, None),
        ("Communicatie", 3, 135, 0),
        ("Financiën", 3, 55, 0),
    ]
    assert series.suppressed_rows == 1


async def test_horizontal_vertical_and_unknown_course_minutes(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    series, _ = await _series(ctx, world, queries.horizontal_vertical, data.team_id)
    assert series.rows == [
        (queries.HORIZONTAL, 75, 3, round(75 / 190, 4)),  # L1 and L2 Budgeting, L3 SQL
        (queries.VERTICAL, None, None, None),  # L1 and L2 SQL: two learners
        (queries.FAMILY_UNKNOWN, None, None, None),  # L4 has no job family
    ]
    assert series.suppressed_rows == 2


async def test_leadership_summary_of_a_month_and_the_month_before(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    series, _ = await _series(ctx, world, queries.leadership_summary, data.team_id)
    # W2 starts in November: its Monday counts there, the rest in December
    assert series.rows == [
        (date(2026, 11, 1), 0.75, 55.0, 4, 0.0, 0.0),  # no budget request approved
        (date(2026, 12, 1), 0.75, 16.7, 0, None, 0.0),
    ]
    assert series.suppressed_rows == 1


async def test_streak_distribution_counts_only_streaks_still_running(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    today = datetime.now(UTC).date()
    streaks = {data.learners[0]: 3, data.learners[1]: 4, data.learners[2]: 3}
    async with ctx.sessionmaker() as session:
        for user_id, streak in streaks.items():
            session.add(
                LearnerState(
                    user_id=user_id,
                    organisation_id=world.a.id,
                    current_streak=streak,
                    last_active_date=today,
                )
            )
        # L4's streak of 12 lapsed long ago
        session.add(
            LearnerState(
                user_id=data.learners[3],
                organisation_id=world.a.id,
                current_streak=12,
                last_active_date=date(2026, 1, 5),
            )
        )
        lou = await session.get(LearnerState, world.a.users["ld_admin"].id)
        assert lou is not None
        lou.current_streak, lou.last_active_date = 25, today
        session.add(lou)
        await session.commit()
    series, _ = await _series(ctx, world, queries.streak_distribution, None)
    assert series.extra["unit"] == "weeks"  # the default streak mode
    share = round(3 / 7, 4)
    assert series.rows == [
        ("0", 3, share),  # Sam, Mia, L4
        ("1", 0, 0.0),
        ("2", 0, 0.0),
        ("3–4", 3, share),
        ("5–9", 0, 0.0),
        ("10–19", 0, 0.0),
        ("20–49", None, None),  # Lou alone
        ("50+", 0, 0.0),
    ]
    assert series.suppressed_rows == 1


async def _challenge(ctx: AppContext, organisation_id: int, title: str, target: int) -> None:
    definition = ChallengeDefinition(
        challenge_id=secrets.token_hex(4),
        title=title,
        starts_on=W1,
        ends_on=W1 + timedelta(days=6),
        event_kind=EventKind.COMPLETION,
        target_count=target,
    )
    async with ctx.sessionmaker() as session:
        session.add(
            Challenge(
                organisation_id=organisation_id,
                kind="individual",
                title=title,
                starts_on=definition.starts_on,
                ends_on=definition.ends_on,
                definition=definition.to_dict(),
            )
        )
        await session.commit()


async def test_challenge_participation_of_the_team(ctx: AppContext, world: World) -> None:
    data = await _data(ctx, world)
    await _challenge(ctx, world.a.id, "One course", 1)
    await _challenge(ctx, world.a.id, "Two courses", 2)
    await _challenge(ctx, world.b.id, "Globex's", 1)
    series, _ = await _series(ctx, world, queries.challenge_participation, data.team_id)
    end = W1 + timedelta(days=6)
    assert series.rows == [
        ("One course", W1, end, 3, 3, 0.75, 0.75),
        ("Two courses", W1, end, 3, None, 0.75, None),  # only L1 did two
    ]
    assert series.suppressed_rows == 1


async def _nudge(ctx: AppContext, user_id: int, variant: str, **kwargs: Any) -> None:
    sent = datetime(2026, 11, 25, 9, tzinfo=UTC)
    async with ctx.sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        session.add(
            Nudge(
                id=secrets.token_hex(16),
                organisation_id=user.organisation_id,
                user_id=user_id,
                kind="reminder",
                variant=variant,
                dedupe_key=kwargs.pop("dedupe_key", f"t:{uuid.uuid4()}"),
                title="t",
                body="b",
                status="sent",
                created_at=sent,
                sent_at=sent,
                **kwargs,
            )
        )
        await session.commit()


async def test_nudge_effectiveness_per_kind_and_variant(ctx: AppContext, world: World) -> None:
    data = await _data(ctx, world)
    l1, l2, l3, l4 = data.learners
    later = datetime(2026, 11, 25, 11, tzinfo=UTC)
    await _nudge(ctx, l1, "a", clicked_at=later)
    await _nudge(ctx, l2, "a", learned_at=later)
    await _nudge(ctx, l3, "a")
    await _nudge(ctx, l4, "b", clicked_at=later)  # variant b reached one learner
    await _nudge(ctx, l1, "a", dedupe_key="preview:1")  # L&D's preview measures nothing
    series, _ = await _series(ctx, world, queries.nudge_effectiveness, data.team_id)
    assert series.rows == [("reminder", "a", 3, 1, 1, 0.3333, 0.3333)]
    assert series.suppressed_rows == 1


async def _week_rows(ctx: AppContext, user_id: int) -> list[tuple[Any, ...]]:
    async with ctx.sessionmaker() as session:
        rows = (
            await session.exec(
                select(LearnerWeek)
                .where(LearnerWeek.user_id == user_id)
                .order_by(LearnerWeek.week_start)  # type: ignore[arg-type]
            )
        ).all()
        return [
            (
                r.week_start,
                r.active_events,
                r.formal_events,
                r.completions,
                r.moments,
                r.minutes_formal,
                r.minutes_informal,
            )
            for r in rows
        ]


async def _rollup_snapshot(ctx: AppContext) -> list[Any]:
    async with ctx.sessionmaker() as session:
        found = []
        for table in ("learner_week", "learner_month", "learner_competency_week"):
            conn = await session.connection()
            rows = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4"))
            found.append([tuple(r) for r in rows.all()])
        return found


async def test_every_writer_keeps_the_rollups_and_a_resent_event_counts_once(
    ctx: AppContext, world: World, client: AsyncTestClient[Litestar], app: Litestar
) -> None:
    sam = world.a.users["employee"]
    assert sam.id is not None
    now = datetime.now(UTC).replace(microsecond=0)
    statement = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/feedback"},
        "result": {"completion": True, "duration": "PT45M"},
        "timestamp": now.isoformat(),
    }
    event = {
        "id": "lms-1",
        "learner": {"email": "sam@example.com"},
        "kind": "progress",
        "minutes": 20,
        "occurred_at": now.isoformat(),
        "course": {"id": world.a.course_id},
    }
    moment = {"client_id": str(uuid.uuid4()), "what": "Pivot tables from Priya", "minutes": 15}
    xapi = {"Authorization": f"Bearer {world.a.api_key}", "X-Experience-API-Version": "1.0.3"}
    for _ in range(2):  # the second time every key is known: nothing changes
        assert (await client.post("/xapi/statements", json=statement, headers=xapi)).is_success
        response = await client.post(
            "/api/v1/events", json=event, headers={"Authorization": xapi["Authorization"]}
        )
        assert response.is_success, response.text
        async with signed_in_client(app, "sam@example.com") as me:
            assert (await me.post("/api/v1/me/moments", json=moment)).is_success
    async with ctx.sessionmaker() as session:
        day = (
            await session.exec(
                select(LearningEvent.local_date).where(LearningEvent.user_id == sam.id)
            )
        ).first()
    assert day is not None
    week = day - timedelta(days=day.weekday())
    # (week, active, formal, completions, moments, minutes formal, minutes informal)
    assert await _week_rows(ctx, sam.id) == [(week, 3, 2, 1, 1, 65, 15)]
    # the trigger's rows are what recomputing from the events gives
    kept = await _rollup_snapshot(ctx)
    async with ctx.sessionmaker() as session:
        conn = await session.connection()
        await conn.execute(text("SELECT learnloop_insights_rebuild(:org)"), {"org": world.a.id})
        await session.commit()
    assert await _rollup_snapshot(ctx) == kept
    assert kept[2]  # the course's competency has its row


async def test_no_figure_of_another_organisation(ctx: AppContext, world: World) -> None:
    await _data(ctx, world)
    await _set_floor(ctx, world.b.id, 3)
    b_sam = int(world.b.users["employee"].id or 0)
    async with ctx.sessionmaker() as session:
        session.add_all(
            [
                _event(world.b.id, b_sam, "completion", date(2026, 11, 24), 600),
                _event(world.b.id, b_sam, "informal", date(2026, 12, 1), 50),
            ]
        )
        await session.commit()
    a_minutes, _ = await _series(ctx, world, queries.minutes_over_time, None)
    assert a_minutes.rows[0][1] == 145  # org A's own: none of Globex's 600
    async with _scope(ctx, world, "b") as scope:
        group = await group_for(scope)
        series = await queries.weekly_active_learners(scope, group, PERIOD)
        assert series.rows == [(W1, 1, round(1 / 3, 4)), (W2, 1, round(1 / 3, 4))]
        with pytest.raises(AssertionError):  # a group of org A asked about with B's scope
            async with _scope(ctx, world, "a") as a_scope:
                a_group = await group_for(a_scope)
            await queries.weekly_active_learners(scope, a_group, PERIOD)


async def test_a_kept_organisation_wide_answer_is_used_only_for_its_floor(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Amsterdam")).date()
    period = snapshots.preset_periods(today)[1]  # the last 12 weeks
    async with ctx.sessionmaker() as session:
        assert await snapshots.refresh(session, world.a.id, today) > 0
    for name in ("weekly_active_learners", "minutes_over_time", "learning_by_competency"):
        # kept (a weekly one cut from the 52 weeks' answer) is what the query says live
        kept_now, _ = await _series(ctx, world, getattr(queries, name), None, period)
        live_now, _ = await _series(ctx, world, snapshots.KEPT[name], None, period)
        assert "as_of" in kept_now.extra
        assert (kept_now.rows, kept_now.suppressed_rows) == (
            live_now.rows,
            live_now.suppressed_rows,
        )
    async with ctx.sessionmaker() as session:  # learning after the worker kept the answer
        session.add(_event(world.a.id, data.learners[3], "informal", today, 5))
        await session.commit()
    kept, _ = await _series(ctx, world, queries.weekly_active_learners, None, period)
    assert "as_of" in kept.extra
    team, _ = await _series(ctx, world, queries.weekly_active_learners, data.team_id, period)
    assert "as_of" not in team.extra  # a team is always live
    assert team.rows[-1][1] == 1 and kept.rows[-1][1] == 0  # L4 today: not kept yet
    await _set_floor(ctx, world.a.id, 4)  # what the old floor showed may not be shown now
    live, _ = await _series(ctx, world, queries.weekly_active_learners, None, period)
    assert "as_of" not in live.extra and live.rows[-1][1] == 1


async def test_merging_competencies_moves_their_learning_in_the_map(
    ctx: AppContext, world: World
) -> None:
    data = await _data(ctx, world)
    excel, analytics = data.competencies["Excel"], data.competencies["Analytics"]
    async with _scope(ctx, world) as scope:
        await merge_competencies(scope, excel, analytics)
        await scope.session.commit()
    async with ctx.sessionmaker() as session:
        conn = await session.connection()
        rows = await conn.execute(
            text(
                "SELECT competency_id, sum(minutes_informal) FROM learner_competency_week"
                " WHERE user_id = :l3 GROUP BY competency_id ORDER BY competency_id"
            ),
            {"l3": data.learners[2]},
        )
        found = dict(rows.all())
    # L3's SQL course counts for Communicatie and Analytics; the Excel moment now for Analytics
    assert found == {world.a.competency_id: 0, analytics: 10}
