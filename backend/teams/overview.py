"""A team at a glance for its manager (and L&D): aggregates only, never one person's log.

Every figure is about the team's counted members as ``backend.insights.privacy.group_for``
defines them, and only when the team reaches the organisation's privacy floor (it raises
``GroupTooSmall`` otherwise). A competency row is shown only when enough distinct learners
are in it (``visible``). The queries read the base tables for this one team: learning events
by ``user_id = ANY(members)`` and a time range, which ``ix_learning_event_user_occurred``
answers without touching the rest of the organisation.
"""

from datetime import date, timedelta
from typing import Any

from litestar.exceptions import NotFoundException
from pydantic import BaseModel
from sqlalchemy import Date, Select, cast, distinct, func, literal, union_all
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from backend.challenges.schemas import ChallengePublic
from backend.challenges.services import list_challenges
from backend.db.models import (
    Challenge,
    Competency,
    CourseCompetency,
    LearnerState,
    LearningEvent,
    Team,
    User,
)
from backend.db.types import utcnow
from backend.insights.privacy import Group, at_floor, floor_of, group_for, team_sizes, visible
from backend.learning.rules import org_rules
from backend.teams.services import teams_i_lead
from backend.tenancy import OrgScope
from gamification import local_day
from gamification.periods import local_day_start

WEEKS = 12
# finished challenges stay on the team view this long (to be closed with a celebration)
FINISHED_SHOWN_DAYS = 60
# streak lengths as buckets: (key, lowest, highest or None)
STREAK_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("none", 0, 0),
    ("1-2", 1, 2),
    ("3-6", 3, 6),
    ("7-13", 7, 13),
    ("14+", 14, None),
)


class WeekPoint(BaseModel):
    week: date
    """The Monday of the week (the organisation's calendar)."""
    active: int
    """Members who learned at least once that week."""
    active_share: float
    minutes: int | None
    """None when fewer members than the floor learned: it would be their own minutes."""


class StreakBucket(BaseModel):
    key: str
    """none, 1-2, 3-6, 7-13 or 14+ (days or weeks, as the streak rule counts)."""
    learners: int


class CompetencyRow(BaseModel):
    competency_id: int
    name: str
    learners: int
    """Distinct members who learned in it in the last 12 weeks."""
    formal_learners: int | None
    """Through courses linked to it; None when fewer than the floor (not shown)."""
    informal_learners: int | None
    """Through learning moments naming it; None when fewer than the floor."""


class TeamOverview(BaseModel):
    team_id: int
    team_name: str
    members: int
    """The team's counted members (managers are not counted)."""
    floor: int
    today: date
    week_start: date
    active_this_week: int
    active_share: float
    minutes_this_week: int | None
    """None when fewer members than the floor learned this week."""
    goal_reached: int
    """Members whose minutes this week reached their own weekly goal."""
    goal_share: float
    weeks: list[WeekPoint]
    """The last 12 weeks, oldest first, this week last (so far)."""
    streak_mode: str
    streaks: list[StreakBucket]
    challenges: list[ChallengePublic]
    """Running, upcoming and lately finished team challenges, with team aggregates."""
    competencies: list[CompetencyRow]
    competencies_below_floor: int
    """Competencies learned in by fewer members than the floor (left out)."""


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def _member_ids(scope: OrgScope, group: Group) -> list[int]:
    query = select(User.id).where(scope.owns(User), group.where(col(User.id)))
    return sorted(uid for uid in (await scope.session.exec(query)).all() if uid is not None)


def _in_window(members: list[int], since: date, timezone: str) -> list:  # type: ignore[type-arg]
    """Events of ``members`` from the local day ``since`` on: a range on occurred_at first
    (a day early: the index), the local day exactly."""
    event = LearningEvent
    return [
        col(event.user_id).in_(members),
        col(event.occurred_at) >= local_day_start(since, timezone) - timedelta(days=1),
        col(event.local_date) >= since,
        col(event.voided).is_(False),  # voided statements earn nothing (learning.voiding)
    ]


async def _weeks(
    scope: OrgScope, members: list[int], first_monday: date, timezone: str
) -> dict[date, tuple[int, int]]:
    """Monday -> (active members, minutes) over the weeks since ``first_monday``."""
    event = LearningEvent
    week = cast(func.date_trunc("week", col(event.local_date)), Date).label("week")
    query = (
        select(week, func.count(distinct(col(event.user_id))), func.sum(col(event.minutes)))
        .where(col(event.organisation_id) == scope.organisation_id)
        .where(*_in_window(members, first_monday, timezone))
        .group_by(week)
    )
    rows = (await scope.session.exec(query)).all()
    return {day: (int(active), int(minutes or 0)) for day, active, minutes in rows}


async def _minutes_this_week(
    scope: OrgScope, members: list[int], monday: date, timezone: str
) -> dict[int, int]:
    event = LearningEvent
    query = (
        select(col(event.user_id), func.sum(col(event.minutes)))
        .where(col(event.organisation_id) == scope.organisation_id)
        .where(*_in_window(members, monday, timezone))
        .group_by(col(event.user_id))
    )
    return {uid: int(m or 0) for uid, m in (await scope.session.exec(query)).all()}


def _streak_alive(state: LearnerState, today: date, weekly: bool) -> int:
    """The stored streak, or 0 when it has lapsed since (the state row changes only with
    learning): daily, more idle days than freezes to bridge them; weekly, no learning since
    the Monday of last week."""
    last = state.last_active_date
    if last is None or state.current_streak <= 0:
        return 0
    if weekly:
        alive = last >= today - timedelta(days=today.weekday() + 7)
    else:
        alive = (today - last).days <= 1 + state.freezes_banked
    return state.current_streak if alive else 0


async def _states(scope: OrgScope, members: list[int]) -> list[LearnerState]:
    return await scope.all(scope.select(LearnerState).where(col(LearnerState.user_id).in_(members)))


async def _competencies(
    scope: OrgScope, group: Group, members: list[int], since: date, timezone: str
) -> tuple[list[CompetencyRow], int]:
    event = LearningEvent
    window = _in_window(members, since, timezone)
    formal: Select[Any, Any, bool] = (
        sa_select(
            col(event.user_id).label("user_id"),
            col(CourseCompetency.competency_id).label("competency_id"),
            literal(True).label("formal"),
        )
        .join(
            CourseCompetency,
            (col(CourseCompetency.course_id) == col(event.course_id))
            & (col(CourseCompetency.organisation_id) == col(event.organisation_id)),
        )
        .where(col(event.organisation_id) == scope.organisation_id, *window)
    )
    informal: Select[Any, Any, bool] = sa_select(
        col(event.user_id).label("user_id"),
        col(event.competency_id).label("competency_id"),
        literal(False).label("formal"),
    ).where(
        col(event.organisation_id) == scope.organisation_id,
        col(event.course_id).is_(None),
        col(event.competency_id).is_not(None),
        *window,
    )
    learned = union_all(formal, informal).subquery()
    query = (
        sa_select(
            learned.c.competency_id,
            col(Competency.name),
            func.count(distinct(learned.c.user_id)),
            func.count(distinct(learned.c.user_id)).filter(learned.c.formal),
            func.count(distinct(learned.c.user_id)).filter(~learned.c.formal),
        )
        .join(Competency, col(Competency.id) == learned.c.competency_id)
        .where(col(Competency.organisation_id) == scope.organisation_id)
        .group_by(learned.c.competency_id, col(Competency.name))
    )
    conn = await scope.session.connection()
    rows = (await conn.execute(query)).all()
    shown: list[CompetencyRow] = []
    hidden = 0
    for competency_id, name, learners, formal_n, informal_n in rows:
        if not visible(int(learners), group):
            hidden += 1
            continue
        shown.append(
            CompetencyRow(
                competency_id=competency_id,
                name=name,
                learners=int(learners),
                formal_learners=int(formal_n) if visible(int(formal_n), group) else None,
                informal_learners=int(informal_n) if visible(int(informal_n), group) else None,
            )
        )
    shown.sort(key=lambda r: (-r.learners, r.name.casefold()))
    return shown, hidden


async def team_challenges(scope: OrgScope, team_id: int, today: date) -> list[ChallengePublic]:
    """The team's running and upcoming challenges and those finished lately (newest first
    after the running ones), as the challenge API shows them (team aggregates only)."""
    current = await list_challenges(scope, ["active", "upcoming"], team_id=team_id)
    finished = await list_challenges(scope, ["finished"], team_id=team_id)
    recent = [c for c in finished if (today - c.ends_on).days <= FINISHED_SHOWN_DAYS]
    return current + sorted(recent, key=lambda c: (c.ends_on, c.id), reverse=True)


async def team_overview(scope: OrgScope, team_id: int) -> TeamOverview:
    """The team view's figures (raises ``GroupTooSmall`` below the privacy floor)."""
    group = await group_for(scope, team_id=team_id)
    team = await scope.get(Team, team_id, what="team")
    organisation = await scope.organisation()
    timezone = organisation.default_timezone
    today = local_day(utcnow(), timezone)
    monday = today - timedelta(days=today.weekday())
    first_monday = monday - timedelta(weeks=WEEKS - 1)
    members = await _member_ids(scope, group)
    size = len(members)

    by_week = await _weeks(scope, members, first_monday, timezone) if members else {}
    weeks = []
    for i in range(WEEKS):
        start = first_monday + timedelta(weeks=i)
        active, minutes = by_week.get(start, (0, 0))
        shown = minutes if visible(active, group) else None  # a sum needs the floor's learners
        weeks.append(
            WeekPoint(week=start, active=active, active_share=_share(active, size), minutes=shown)
        )
    this_week = await _minutes_this_week(scope, members, monday, timezone) if members else {}
    states = await _states(scope, members) if members else []
    goals = {s.user_id: s.weekly_goal_minutes for s in states}
    reached = sum(
        1
        for uid in members
        if goals.get(uid, 60) > 0 and this_week.get(uid, 0) >= goals.get(uid, 60)
    )
    rules = org_rules(organisation)
    weekly = rules.streak.mode.value == "weekly"
    lengths = [_streak_alive(s, today, weekly) for s in states]
    lengths += [0] * (size - len(lengths))  # a member who never learned has no state yet
    streaks = [
        StreakBucket(
            key=key,
            learners=sum(1 for n in lengths if n >= low and (high is None or n <= high)),
        )
        for key, low, high in STREAK_BUCKETS
    ]
    competencies, hidden = (
        await _competencies(scope, group, members, first_monday, timezone) if members else ([], 0)
    )
    active_now = weeks[-1].active
    return TeamOverview(
        team_id=team_id,
        team_name=team.name,
        members=size,
        floor=group.floor,
        today=today,
        week_start=monday,
        active_this_week=active_now,
        active_share=_share(active_now, size),
        minutes_this_week=weeks[-1].minutes,
        goal_reached=reached,
        goal_share=_share(reached, size),
        weeks=weeks,
        streak_mode=rules.streak.mode.value,
        streaks=streaks,
        challenges=await team_challenges(scope, team_id, today),
        competencies=competencies,
        competencies_below_floor=hidden,
    )


async def default_team(scope: OrgScope, led: list[tuple[int, str]]) -> int | None:
    """Of the teams the caller leads (by name), the first with figures to show (at the
    privacy floor), else the first; None when they lead none."""
    if not led:
        return None
    sizes = await team_sizes(scope.session, scope.organisation_id, [tid for tid, _ in led])
    floor = floor_of(await scope.organisation())
    return next((tid for tid, _ in led if at_floor(sizes.get(tid, 0), floor)), led[0][0])


async def chosen_team(scope: OrgScope, wanted: int | None) -> int:
    """The team asked for, or the caller's default team (404 when they lead none); whether
    they may see the asked-for one is ``group_for``'s to say."""
    if wanted is not None:
        return wanted
    found = await default_team(scope, await teams_i_lead(scope))
    if found is None:
        raise NotFoundException("you lead no team (managers see the teams they manage)")
    return found


async def open_challenge(scope: OrgScope, challenge_id: int) -> Challenge:
    """A team challenge the caller may see on the team view (its team's floor holds)."""
    row = await scope.get(Challenge, challenge_id, what="challenge")
    if row.kind != "team" or row.team_id is None:
        raise NotFoundException(f"challenge {challenge_id} is not a team challenge")
    await group_for(scope, team_id=row.team_id)
    return row
