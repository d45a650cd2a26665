"""A learner's own progress: goals, planned pauses, history, XP chart and weekly leaderboards.

Every change to the engine document goes one way: lock the state row, change the document
with the engine, copy it onto the row (``sync_state_columns``), commit. Reads never lock.
Dates are the learner's local days (their timezone), as everywhere in the engine.
"""

import base64
import binascii
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from litestar.exceptions import ClientException, NotFoundException, PermissionDeniedException
from sqlalchemy import and_, func, or_
from sqlalchemy.orm import load_only
from sqlmodel import col, select

from backend.db.models import (
    Competency,
    Course,
    LearnerState,
    LearningEvent,
    Role,
    Team,
    TeamMembership,
    User,
    XpLedgerEntry,
)
from backend.db.types import utcnow
from backend.learning.connections import on_pooled_connection
from backend.learning.history import learner_histories, with_tallies
from backend.learning.read_cache import OrgParts, read_cache_for
from backend.learning.rules import org_rules
from backend.learning.service import lock_learner_states, sync_state_columns
from backend.progress.schemas import (
    MAX_PAUSE_DAYS,
    DatedGoalChange,
    DatedGoalIn,
    DatedGoalKindName,
    DatedGoalOut,
    FinishedGoalOut,
    GoalCourseOut,
    GoalCourseRef,
    GoalsOut,
    HistoryItem,
    HistoryPage,
    LeaderboardOut,
    LeaderboardPlace,
    LevelPosition,
    MyPlace,
    PauseIn,
    PauseOut,
    WeeklyGoalOut,
    WeekXp,
    XpChartOut,
)
from backend.tenancy import OrgScope
from gamification import (
    DatedGoal,
    DatedGoalKind,
    DateRange,
    LeaderboardRow,
    OrgRules,
    local_day,
    rank_for,
    refresh,
    weekly_leaderboard,
)
from gamification import LearnerState as EngineState
from gamification.engine import add_dated_goal as engine_add_dated_goal
from gamification.engine import edit_dated_goal as engine_edit_dated_goal
from gamification.engine import finish_dated_goal as engine_finish_dated_goal
from gamification.engine import plan_pause as engine_plan_pause
from gamification.engine import remove_dated_goal as engine_remove_dated_goal
from gamification.engine import set_weekly_goal as engine_set_weekly_goal
from gamification.goals import FinishedGoal, weekly_goal_progress
from gamification.periods import iso_week_label, local_day_start, week_start

MAX_DATED_GOALS = 20
MAX_OPEN_PAUSES = 12  # pauses not yet over; keeps the state document small
MAX_GOAL_HORIZON = timedelta(days=2 * 365)
MAX_PAUSE_HORIZON = timedelta(days=365)

_KIND_NAMES: dict[DatedGoalKind, DatedGoalKindName] = {
    DatedGoalKind.COURSE_COMPLETION: "finish_course",
    DatedGoalKind.COMPETENCY_EVENTS: "competency_events",
    DatedGoalKind.COURSES: "courses",
}


def bad_field(field: str, message: str) -> ClientException:
    """A 400 whose message and ``extra`` name the offending field."""
    return ClientException(f"{field}: {message}", extra={"field": field})


# ---------------------------------------------------------------------------------------------
# loading and saving the learner's engine document


async def _me(org: OrgScope) -> User:
    return await org.get(User, org.principal.user_id, what="user")


async def _read_state(org: OrgScope, user_id: int) -> EngineState:
    row = await org.find(LearnerState, user_id)
    return EngineState.from_dict(row.data if row else {})


@dataclass
class _MyState:
    """The caller's state row, locked until commit, with everything needed to change it."""

    user: User
    rules: OrgRules
    row: LearnerState
    state: EngineState

    async def save(self, org: OrgScope, state: EngineState) -> None:
        sync_state_columns(self.row, state, self.rules)
        org.session.add(self.row)
        await org.session.commit()
        self.state = state


async def _lock_my_state(org: OrgScope) -> _MyState:
    user = await _me(org)
    assert user.id is not None
    rules = org_rules(await org.organisation())
    rows = await lock_learner_states(org.session, org.organisation_id, [user.id])
    row = rows[user.id]
    return _MyState(user, rules, row, EngineState.from_dict(row.data or {}))


# ---------------------------------------------------------------------------------------------
# goals


async def _goal_names(
    org: OrgScope, goals: Iterable[DatedGoal]
) -> tuple[dict[int, str], dict[int, str]]:
    course_ids: set[int] = set()
    competency_ids: set[int] = set()
    for g in goals:
        course_ids.update(g.course_ids)
        if g.course_id is not None:
            course_ids.add(g.course_id)
        if g.competency_id is not None:
            competency_ids.add(g.competency_id)
    courses: dict[int, str] = {}
    competencies: dict[int, str] = {}
    if course_ids:
        found = await org.session.exec(
            select(col(Course.id), Course.title).where(
                org.owns(Course), col(Course.id).in_(course_ids)
            )
        )
        courses = {cid: title for cid, title in found.all() if cid is not None}
    if competency_ids:
        found = await org.session.exec(
            select(col(Competency.id), Competency.name).where(
                org.owns(Competency), col(Competency.id).in_(competency_ids)
            )
        )
        competencies = {cid: name for cid, name in found.all() if cid is not None}
    return courses, competencies


def _goal_labels(
    goal: DatedGoal, courses: dict[int, str], competencies: dict[int, str]
) -> dict[str, Any]:
    """The fields naming what a goal is about (shared by open and finished goals)."""
    return {
        "id": goal.goal_id,
        "kind": _KIND_NAMES[goal.kind],
        "course_id": goal.course_id,
        "course_title": courses.get(goal.course_id) if goal.course_id is not None else None,
        "competency_id": goal.competency_id,
        "competency_name": (
            competencies.get(goal.competency_id) if goal.competency_id is not None else None
        ),
        "set_on": goal.set_on,
        "due_on": goal.due_on,
    }


def _dated_goal_out(
    goal: DatedGoal,
    state: EngineState,
    today: date,
    courses: dict[int, str],
    competencies: dict[int, str],
) -> DatedGoalOut:
    progress = state.dated_goal_progress(goal, today)
    tally = state.goal_tallies.get(goal.tally_key)
    finished = {c for c, _day in tally.course_days} if tally else set()
    return DatedGoalOut(
        **_goal_labels(goal, courses, competencies),
        courses=[
            GoalCourseOut(id=c, title=courses.get(c), finished=c in finished)
            for c in goal.course_ids
        ],
        done=progress.done,
        target=progress.target,
        fraction=progress.fraction,
        pace=progress.pace.value,
        reached_on=progress.reached_on,
    )


def _finished_goal_out(
    finished: FinishedGoal, courses: dict[int, str], competencies: dict[int, str]
) -> FinishedGoalOut:
    goal = finished.goal
    return FinishedGoalOut(
        **_goal_labels(goal, courses, competencies),
        courses=[GoalCourseRef(id=c, title=courses.get(c)) for c in goal.course_ids],
        finished_on=finished.finished_on,
        done=finished.done,
        target=goal.target_count,
        outcome="reached" if finished.reached_on else "given_up",
        reached_on=finished.reached_on,
    )


def learning_since(user: User) -> datetime:
    """When the learner could start learning here: their account's creation, or their first
    working day if that is later (the weekly goal's pace is measured from then)."""
    return learning_since_of(user.created_at, user.start_date, user.timezone)


def learning_since_of(created_at: datetime, start_date: date | None, timezone: str) -> datetime:
    """:func:`learning_since` from the user row's columns (for reads that select them)."""
    if start_date is None:
        return created_at
    return max(created_at, local_day_start(start_date, timezone))


async def goals_view(
    org: OrgScope,
    user_id: int,
    timezone: str,
    since: datetime,
    state: EngineState,
    now: datetime,
) -> GoalsOut:
    """The learner's goals at ``now`` from their engine document ``state`` (``since``: their
    :func:`learning_since`)."""
    state = await with_tallies(org.session, org.organisation_id, user_id, state)
    weekly = weekly_goal_progress(
        state.minutes_by_day(), state.weekly_goal_minutes, now, timezone, since
    )
    today = local_day(now, timezone)
    finished = state.finished_goals[::-1]
    courses, competencies = await _goal_names(
        org, (*state.dated_goals, *(f.goal for f in finished))
    )
    dated = sorted(state.dated_goals, key=lambda g: (g.due_on, g.set_on, g.goal_id))
    return GoalsOut(
        weekly=WeeklyGoalOut(
            week=weekly.week_label,
            week_starts_on=weekly.week_start,
            target_minutes=weekly.target_minutes,
            minutes=weekly.minutes,
            fraction=weekly.fraction,
            elapsed_fraction=weekly.elapsed_fraction,
            pace=weekly.pace.value,
        ),
        dated=[_dated_goal_out(g, state, today, courses, competencies) for g in dated],
        finished=[_finished_goal_out(f, courses, competencies) for f in finished],
    )


async def my_goals(org: OrgScope, now: datetime | None = None) -> GoalsOut:
    now = now or utcnow()
    user = await _me(org)
    assert user.id is not None
    state = await _read_state(org, user.id)
    return await goals_view(org, user.id, user.timezone, learning_since(user), state, now)


async def set_weekly_goal(org: OrgScope, minutes: int, now: datetime | None = None) -> GoalsOut:
    now = now or utcnow()
    mine = await _lock_my_state(org)
    await mine.save(org, engine_set_weekly_goal(mine.state, minutes))
    user_id = mine.user.id
    assert user_id is not None
    since = learning_since(mine.user)
    return await goals_view(org, user_id, mine.user.timezone, since, mine.state, now)


def _check_due_on(due_on: date, today: date) -> None:
    if due_on < today:
        raise bad_field("due_on", f"must be today ({today}) or later")
    if due_on > today + MAX_GOAL_HORIZON:
        raise bad_field("due_on", "must be within two years")


async def _check_courses(org: OrgScope, course_ids: list[int]) -> tuple[int, ...]:
    """The courses, each in the caller's catalogue (a 404 names the first that is not)."""
    found = await org.session.exec(
        select(col(Course.id)).where(
            org.owns(Course), col(Course.id).in_(course_ids), col(Course.archived_at).is_(None)
        )
    )
    known = set(found.all())
    missing = next((c for c in course_ids if c not in known), None)
    if missing is not None:
        raise NotFoundException(f"course {missing} not found", extra={"field": "course_ids"})
    return tuple(course_ids)


async def _history_if_needed(org: OrgScope, mine: _MyState) -> list[Any] | None:
    """The learner's facts, when the engine needs them to count a new or changed goal."""
    if not mine.state.fact_count or mine.state.history:
        return None
    user_id = mine.user.id
    assert user_id is not None
    return list((await learner_histories(org.session, org.organisation_id, [user_id]))[user_id])


async def add_dated_goal(
    org: OrgScope,
    data: DatedGoalIn,
    now: datetime | None = None,
) -> DatedGoalOut:
    now = now or utcnow()
    user = await _me(org)
    today = local_day(now, user.timezone)
    _check_due_on(data.due_on, today)
    goal_id = secrets.token_hex(6)
    if data.kind == "finish_course":
        assert data.course_id is not None
        await org.get(Course, data.course_id, what="course")
        goal = DatedGoal(
            goal_id=goal_id,
            kind=DatedGoalKind.COURSE_COMPLETION,
            set_on=today,
            due_on=data.due_on,
            course_id=data.course_id,
        )
    elif data.kind == "courses":
        assert data.course_ids is not None
        course_ids = await _check_courses(org, data.course_ids)
        goal = DatedGoal(
            goal_id=goal_id,
            kind=DatedGoalKind.COURSES,
            set_on=today,
            due_on=data.due_on,
            course_ids=course_ids,
            target_count=len(course_ids),
        )
    else:
        assert data.competency_id is not None and data.count is not None
        await org.get(Competency, data.competency_id, what="competency")
        goal = DatedGoal(
            goal_id=goal_id,
            kind=DatedGoalKind.COMPETENCY_EVENTS,
            set_on=today,
            due_on=data.due_on,
            competency_id=data.competency_id,
            target_count=data.count,
        )
    mine = await _lock_my_state(org)
    if len(mine.state.dated_goals) >= MAX_DATED_GOALS:
        await org.session.rollback()
        raise ClientException(
            f"you already have {MAX_DATED_GOALS} dated goals; finish one first", status_code=409
        )
    history = await _history_if_needed(org, mine)
    await mine.save(org, engine_add_dated_goal(mine.state, goal, history))
    courses, competencies = await _goal_names(org, (goal,))
    return _dated_goal_out(goal, mine.state, today, courses, competencies)


def _open_goal(mine: _MyState, goal_id: str, today: date) -> DatedGoal:
    """One of the caller's open goals that can still change (a 404 or 409 otherwise)."""
    goal = next((g for g in mine.state.dated_goals if g.goal_id == goal_id), None)
    if goal is None:
        raise NotFoundException(f"goal {goal_id} not found")
    reached = mine.state.dated_goal_progress(goal, today).reached_on is not None
    if reached or f"dated:{goal_id}" in mine.state.rewarded_goals:
        raise ClientException("this goal is reached: finish it and set a new one", status_code=409)
    return goal


async def change_dated_goal(
    org: OrgScope, goal_id: str, data: DatedGoalChange, now: datetime | None = None
) -> DatedGoalOut:
    """Move an open goal's due date, or change its count or its courses; it is counted
    again over its whole window."""
    now = now or utcnow()
    user = await _me(org)
    today = local_day(now, user.timezone)
    if data.due_on is None and data.count is None and data.course_ids is None:
        raise bad_field("due_on", "say what changes: due_on, count or course_ids")
    if data.due_on is not None:
        _check_due_on(data.due_on, today)
    course_ids = await _check_courses(org, data.course_ids) if data.course_ids else None
    mine = await _lock_my_state(org)
    try:
        goal = _open_goal(mine, goal_id, today)
        if data.count is not None and goal.kind is not DatedGoalKind.COMPETENCY_EVENTS:
            raise bad_field("count", f"not used by a {_KIND_NAMES[goal.kind]} goal")
        if course_ids is not None and goal.kind is not DatedGoalKind.COURSES:
            raise bad_field("course_ids", f"not used by a {_KIND_NAMES[goal.kind]} goal")
    except ClientException:
        await org.session.rollback()
        raise
    changed = replace(goal, due_on=data.due_on or goal.due_on)
    if data.count is not None:
        changed = replace(changed, target_count=data.count)
    if course_ids is not None:
        changed = replace(changed, course_ids=course_ids, target_count=len(course_ids))
    history = await _history_if_needed(org, mine)
    await mine.save(org, engine_edit_dated_goal(mine.state, changed, history))
    courses, competencies = await _goal_names(org, (changed,))
    return _dated_goal_out(changed, mine.state, today, courses, competencies)


async def finish_dated_goal(
    org: OrgScope, goal_id: str, now: datetime | None = None
) -> FinishedGoalOut:
    """Close one of my goals, reached or given up: it moves to the finished ones."""
    now = now or utcnow()
    mine = await _lock_my_state(org)
    today = local_day(now, mine.user.timezone)
    if all(g.goal_id != goal_id for g in mine.state.dated_goals):
        await org.session.rollback()
        raise NotFoundException(f"goal {goal_id} not found")
    state = await with_tallies(org.session, org.organisation_id, mine.row.user_id, mine.state)
    await mine.save(org, engine_finish_dated_goal(state, goal_id, today))
    finished = mine.state.finished_goals[-1]
    courses, competencies = await _goal_names(org, (finished.goal,))
    return _finished_goal_out(finished, courses, competencies)


async def remove_dated_goal(org: OrgScope, goal_id: str) -> None:
    mine = await _lock_my_state(org)
    if all(g.goal_id != goal_id for g in mine.state.dated_goals):
        await org.session.rollback()
        raise NotFoundException(f"goal {goal_id} not found")
    # goals already paid stay in rewarded_goals (ids are never reused)
    await mine.save(org, engine_remove_dated_goal(mine.state, goal_id))


# ---------------------------------------------------------------------------------------------
# planned pauses


def _pause_out(pause: DateRange, today: date) -> PauseOut:
    status = "upcoming" if pause.start > today else "past" if pause.end < today else "active"
    return PauseOut(
        start_date=pause.start,
        end_date=pause.end,
        days=(pause.end - pause.start).days + 1,
        status=status,
    )


async def my_pauses(org: OrgScope, now: datetime | None = None) -> list[PauseOut]:
    now = now or utcnow()
    user = await _me(org)
    assert user.id is not None
    state = await _read_state(org, user.id)
    today = local_day(now, user.timezone)
    return [_pause_out(p, today) for p in sorted(state.pauses, key=lambda p: p.start)]


def _check_new_pause(data: PauseIn, today: date) -> DateRange:
    if data.start_date < today:
        raise bad_field("start_date", f"a pause cannot start in the past (today is {today})")
    if data.start_date > today + MAX_PAUSE_HORIZON:
        raise bad_field("start_date", "a pause can be planned at most a year ahead")
    if data.end_date < data.start_date:
        raise bad_field("end_date", "must be on or after start_date")
    days = (data.end_date - data.start_date).days + 1
    if days > MAX_PAUSE_DAYS:
        raise bad_field("end_date", f"a pause lasts at most {MAX_PAUSE_DAYS} days, not {days}")
    return DateRange(data.start_date, data.end_date)


async def plan_pause(org: OrgScope, data: PauseIn, now: datetime | None = None) -> PauseOut:
    now = now or utcnow()
    user = await _me(org)
    today = local_day(now, user.timezone)
    pause = _check_new_pause(data, today)
    mine = await _lock_my_state(org)
    clash = next(
        (p for p in mine.state.pauses if p.start <= pause.end and pause.start <= p.end), None
    )
    if clash is not None:
        await org.session.rollback()
        raise ClientException(
            f"overlaps your pause from {clash.start} to {clash.end}",
            status_code=409,
            extra={"field": "start_date"},
        )
    if sum(1 for p in mine.state.pauses if p.end >= today) >= MAX_OPEN_PAUSES:
        await org.session.rollback()
        raise ClientException(
            f"at most {MAX_OPEN_PAUSES} pauses can be planned ahead", status_code=409
        )
    await mine.save(org, engine_plan_pause(mine.state, pause, mine.rules, now, user.timezone))
    return _pause_out(pause, today)


async def cancel_pause(org: OrgScope, start_date: date, now: datetime | None = None) -> None:
    now = now or utcnow()
    mine = await _lock_my_state(org)
    today = local_day(now, mine.user.timezone)
    pause = next((p for p in mine.state.pauses if p.start == start_date), None)
    if pause is None:
        await org.session.rollback()
        raise NotFoundException(f"no pause starts on {start_date}")
    if pause.start < today:
        # removing days already lived through would break a streak after the fact
        await org.session.rollback()
        raise ClientException("a pause that has already started cannot be removed", status_code=409)
    state = replace(mine.state, pauses=tuple(p for p in mine.state.pauses if p != pause))
    await mine.save(org, refresh(state, mine.rules, now, mine.user.timezone))


# ---------------------------------------------------------------------------------------------
# history and XP chart


def encode_cursor(occurred_at: datetime, event_id: int) -> str:
    raw = f"{occurred_at.isoformat()}|{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of :func:`encode_cursor`; anything else is a 400 naming ``before``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, event_id = raw.split("|")
        parsed, ident = datetime.fromisoformat(moment), int(event_id)
        if parsed.utcoffset() is None or not 0 < ident < 2**63:
            raise ValueError(raw)
        occurred_at = parsed.astimezone(UTC)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad_field("before", "not a cursor from a previous page (next_before)") from exc
    return occurred_at, ident


_HISTORY_COLUMNS: tuple[Any, ...] = (
    col(LearningEvent.title),
    col(LearningEvent.kind),
    col(LearningEvent.minutes),
    col(LearningEvent.local_date),
    col(LearningEvent.occurred_at),
    col(LearningEvent.source),
    col(LearningEvent.course_id),
)


async def my_history(org: OrgScope, limit: int, before: str | None) -> HistoryPage:
    user_id = org.principal.user_id
    # newest first by when it happened; the id breaks ties so pages never repeat or skip
    stmt = (
        org.select(LearningEvent)
        .options(load_only(*_HISTORY_COLUMNS))  # not the stored payloads
        .where(col(LearningEvent.user_id) == user_id, col(LearningEvent.voided).is_(False))
        .order_by(col(LearningEvent.occurred_at).desc(), col(LearningEvent.id).desc())
        .limit(limit + 1)
    )
    if before:
        occurred_at, event_id = decode_cursor(before)
        stmt = stmt.where(
            or_(
                col(LearningEvent.occurred_at) < occurred_at,
                and_(
                    col(LearningEvent.occurred_at) == occurred_at,
                    col(LearningEvent.id) < event_id,
                ),
            )
        )
    events = await org.all(stmt)
    page, more = events[:limit], len(events) > limit
    ids = [e.id for e in page if e.id is not None]
    xp: dict[int, int] = {}
    if ids:
        found = await org.session.exec(
            select(XpLedgerEntry.event_id, func.sum(XpLedgerEntry.amount))
            .where(
                org.owns(XpLedgerEntry),
                col(XpLedgerEntry.user_id) == user_id,
                col(XpLedgerEntry.event_id).in_(ids),
            )
            .group_by(col(XpLedgerEntry.event_id))
        )
        xp = {event_id: int(total) for event_id, total in found.all() if event_id is not None}
    last = page[-1] if page else None
    return HistoryPage(
        items=[
            HistoryItem(
                id=e.id or 0,
                title=e.title,
                kind=e.kind,
                minutes=e.minutes,
                local_date=e.local_date,
                occurred_at=e.occurred_at,
                source=e.source,
                course_id=e.course_id,
                xp=xp.get(e.id or 0, 0),
            )
            for e in page
        ],
        next_before=encode_cursor(last.occurred_at, last.id or 0) if more and last else None,
    )


# $1 organisation, $2 learner, $3/$4 a day before the first and after the last week asked
# for (in UTC days: the learner's own weeks are cut from them once their timezone is known)
XP_CHART_SQL = """
SELECT o.config_version, u.timezone,
       (SELECT s.data::text FROM learner_state s
         WHERE s.user_id = u.id AND s.organisation_id = o.id),
       ARRAY(SELECT ROW(x.local_date, sum(x.amount)::bigint) FROM xp_ledger x
              WHERE x.organisation_id = o.id AND x.user_id = u.id
                AND x.local_date >= $3 AND x.local_date < $4
              GROUP BY x.local_date),
       u.created_at, u.start_date
FROM organisation o JOIN user_account u ON u.organisation_id = o.id AND u.id = $2
WHERE o.id = $1
"""


@dataclass(frozen=True)
class XpChartRead:
    """The XP chart and what its statement read beside it: the learner's engine document
    (not refreshed), the organisation's rules, the learner's timezone and
    :func:`learning_since` (the Progress page needs no other read of them)."""

    chart: XpChartOut
    state: EngineState
    rules: OrgRules
    timezone: str
    since: datetime


async def my_xp_chart(org: OrgScope, weeks: int, now: datetime | None = None) -> XpChartOut:
    """The caller's XP per week of their last ``weeks`` and their place on the level curve."""
    return (await read_xp_chart(org, weeks, now)).chart


async def read_xp_chart(org: OrgScope, weeks: int, now: datetime | None = None) -> XpChartRead:
    """:func:`my_xp_chart` with the learner's rows it read: one statement, the organisation's
    rules from the per-process cache (``backend.learning.read_cache``)."""
    now = now or utcnow()
    user_id = org.principal.user_id
    utc_monday = week_start(now.date())
    engine = org.session.bind

    async def read(pg: Any) -> tuple[Any, OrgParts | None]:
        row = await pg.fetchrow(
            XP_CHART_SQL,
            org.organisation_id,
            user_id,
            utc_monday - timedelta(weeks=weeks - 1, days=7),
            utc_monday + timedelta(weeks=2),
        )
        if row is None:
            return None, None
        return row, await read_cache_for(engine).parts(pg, org.organisation_id, row[0], now.date())

    row, parts = await on_pooled_connection(engine, read)
    if row is None or parts is None:
        raise NotFoundException(f"user {user_id} not found")
    _, timezone, data, days, created_at, start_date = row
    rules = parts.rules(utcnow())
    this_monday = week_start(local_day(now, timezone))
    first_monday = this_monday - timedelta(weeks=weeks - 1)
    by_week: dict[date, int] = defaultdict(int)
    for day, total in days:
        if first_monday <= day < this_monday + timedelta(weeks=1):
            by_week[week_start(day)] += int(total)
    state = EngineState.from_dict(msgspec.json.decode(data) if data else {})
    level = rules.levels.progress(state.xp_total)
    chart = XpChartOut(
        weeks=[
            WeekXp(week=iso_week_label(monday), starts_on=monday, xp=by_week.get(monday, 0))
            for monday in (first_monday + timedelta(weeks=i) for i in range(weeks))
        ],
        level=LevelPosition(
            level=level.level,
            xp_total=state.xp_total,
            level_starts_at_xp=rules.levels.xp_for_level(level.level),
            next_level_at_xp=rules.levels.xp_for_level(level.level + 1),
            xp_into_level=level.xp_into_level,
            xp_to_next_level=level.xp_to_next_level,
            fraction=level.fraction,
        ),
    )
    since = learning_since_of(created_at, start_date, timezone)
    return XpChartRead(chart, state, rules, timezone, since)


# ---------------------------------------------------------------------------------------------
# weekly leaderboards


def week_monday(label: str | None, user: User, now: datetime) -> date:
    """The Monday of ISO week ``label`` (``2024-W13``), or of the caller's current week."""
    if label is None:
        return week_start(local_day(now, user.timezone))
    try:
        year, week = label.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError as exc:
        raise bad_field("week", f"{label!r} is not an ISO week such as 2024-W13") from exc
    if not 2000 <= monday.year <= 2999:
        raise bad_field("week", f"{label!r} is not a week of this millennium")
    return monday


async def _board(
    org: OrgScope,
    user: User,
    monday: date,
    limit: int,
    *,
    team_id: int | None = None,
    include_me: bool = True,
) -> LeaderboardOut:
    assert user.id is not None
    weekly = (
        select(
            col(XpLedgerEntry.user_id),
            func.sum(XpLedgerEntry.amount),
            # the moment the week's total was reached: earlier wins a tie
            func.max(XpLedgerEntry.created_at),
        )
        .join(User, col(User.id) == col(XpLedgerEntry.user_id))
        .where(
            org.owns(XpLedgerEntry),
            org.owns(User),
            col(User.is_active).is_(True),
            col(XpLedgerEntry.local_date) >= monday,
            col(XpLedgerEntry.local_date) < monday + timedelta(weeks=1),
            # nobody else's XP is even read unless they opted in
            or_(col(User.leaderboard_opt_in).is_(True), col(User.id) == user.id),
        )
        .group_by(col(XpLedgerEntry.user_id))
    )
    if team_id is not None:
        members = select(TeamMembership.user_id).where(
            org.owns(TeamMembership), col(TeamMembership.team_id) == team_id
        )
        weekly = weekly.where(col(XpLedgerEntry.user_id).in_(members))
    totals = {uid: (int(xp), at) for uid, xp, at in (await org.session.exec(weekly)).all()}
    people = (
        await org.session.exec(
            select(col(User.id), User.display_name, User.leaderboard_opt_in).where(
                org.owns(User), col(User.id).in_(list(totals))
            )
        )
    ).all()
    rows = [
        LeaderboardRow(uid, totals[uid][0], opted_in, name, reached_at=totals[uid][1])
        for uid, name, opted_in in people
        if uid is not None
    ]
    # a learner only shows up once they earned something this week
    shown = [r for r in rows if r.weekly_xp > 0]
    board = weekly_leaderboard(shown, limit=limit)
    me: MyPlace | None = None
    if include_me:
        own = next((r for r in rows if r.user_id == user.id), None)
        if own is None:
            own = LeaderboardRow(user.id, 0, user.leaderboard_opt_in, user.display_name)
        ranking = [r for r in shown if r.user_id != user.id] + [own]
        me = MyPlace(
            rank=rank_for(user.id, ranking) or 1,
            weekly_xp=own.weekly_xp,
            visible=own.opted_in and own.weekly_xp > 0,
        )
    return LeaderboardOut(
        week=iso_week_label(monday),
        starts_on=monday,
        ends_on=monday + timedelta(days=6),
        entries=[
            LeaderboardPlace(
                rank=e.rank,
                display_name=e.display_name,
                weekly_xp=e.weekly_xp,
                is_me=e.user_id == user.id,
            )
            for e in board
        ],
        me=me,
    )


async def organisation_leaderboard(
    org: OrgScope, week: str | None, limit: int, now: datetime | None = None
) -> LeaderboardOut:
    now = now or utcnow()
    user = await _me(org)
    return await _board(org, user, week_monday(week, user, now), limit)


async def team_leaderboard(
    org: OrgScope, team_id: int, week: str | None, limit: int, now: datetime | None = None
) -> LeaderboardOut:
    now = now or utcnow()
    user = await _me(org)
    await org.get(Team, team_id, what="team")
    membership = (
        await org.session.exec(
            org.select(TeamMembership).where(
                col(TeamMembership.team_id) == team_id, col(TeamMembership.user_id) == user.id
            )
        )
    ).first()
    if membership is None and not org.principal.has_role(Role.ld_admin):
        raise PermissionDeniedException(
            "only members of this team (or an L&D admin) can see its leaderboard"
        )
    monday = week_monday(week, user, now)
    return await _board(
        org, user, monday, limit, team_id=team_id, include_me=membership is not None
    )
