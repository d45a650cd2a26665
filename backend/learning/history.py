"""A learner's history as engine facts, read from ``learning_event``.

The engine's state is bounded: it keeps tallies per rule, not the facts. When a learner who
already has facts meets a rule with no tally yet (a badge or challenge created since their
last event, a dated goal just set, an edited rule), the engine needs their history once to
start that tally (``gamification.engine.backfill``). The history is the organisation's
stored events of that learner; courses are read as the catalogue has them now.
"""

import json
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime

from sqlalchemy import select as sa_select
from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Course, CourseCompetency, LearningEvent
from backend.learning import store
from backend.learning.model import CourseInfo, season_days
from gamification import (
    BadgeDefinition,
    ChallengeDefinition,
    EventKind,
    LearningFact,
    fingerprint_text,
)
from gamification import LearnerState as EngineState
from gamification.engine import backfill, missing_tallies


async def _courses(
    session: AsyncSession, organisation_id: int, course_ids: Collection[int]
) -> dict[int, CourseInfo]:
    """The organisation's ``course_ids`` as the engine sees them (as the catalogue has them now)."""
    if not course_ids:
        return {}
    courses = (
        await session.exec(
            select(Course.id, Course.title, Course.duration_minutes, Course.hot_skill).where(
                Course.organisation_id == organisation_id, col(Course.id).in_(course_ids)
            )
        )
    ).all()
    links = (
        await session.exec(
            select(CourseCompetency.course_id, CourseCompetency.competency_id).where(
                CourseCompetency.organisation_id == organisation_id,
                col(CourseCompetency.course_id).in_(course_ids),
            )
        )
    ).all()
    competencies: dict[int, set[int]] = defaultdict(set)
    for course_id, competency_id in links:
        competencies[course_id].add(competency_id)
    conn = await session.connection()
    seasons: dict[int, str] = dict(
        (
            await conn.execute(
                text(
                    "SELECT c.id, "
                    + store.HOT_SEASONS_SQL.format(course="c.id", org=":org")
                    + "::text FROM course c WHERE c.organisation_id = :org AND c.id = ANY(:ids)"
                ),
                {"org": organisation_id, "ids": list(course_ids)},
            )
        ).all()
    )
    return {
        course_id: CourseInfo(
            course_id,
            title,
            duration,
            hot_skill,
            frozenset(competencies.get(course_id, set())),
            season_days(json.loads(seasons.get(course_id) or "[]")),
        )
        for course_id, title, duration, hot_skill in courses
        if course_id is not None
    }


def to_fact(
    key: str,
    kind: str,
    occurred_at: datetime,
    local_date: date,
    minutes: int,
    course_id: int | None,
    competency_id: int | None,
    course: CourseInfo | None,
    text: str | None = None,
) -> LearningFact:
    """The engine's fact for an event, with its course's duration, competencies (plus the
    event's own competency) and whether the course is hot on the event's local day."""
    competencies = course.competencies if course else frozenset()
    if competency_id is not None:
        competencies = competencies | {competency_id}
    return LearningFact(
        key=key,
        kind=EventKind(kind),
        occurred_at=occurred_at,
        local_date=local_date,
        minutes=minutes,
        course_id=course_id,
        course_duration_minutes=course.duration_minutes if course else None,
        competency_ids=competencies,
        hot_skill=course.hot_on(local_date) if course else False,
        text_fingerprint=fingerprint_text(text) if text else None,
    )


async def learner_histories(
    session: AsyncSession,
    organisation_id: int,
    user_ids: Collection[int],
    *,
    leave_out: Collection[str] = (),
) -> dict[int, list[LearningFact]]:
    """Every stored event of these learners as facts, in time order, without the keys in
    ``leave_out`` (events being applied right now) and without voided events."""
    if not user_ids:
        return {}
    table = LearningEvent.__table__.c  # type: ignore[attr-defined]
    conn = await session.connection()  # a plain Core query: eight columns, no models
    rows = (
        await conn.execute(
            sa_select(
                table.user_id,
                table.idempotency_key,
                table.kind,
                table.occurred_at,
                table.local_date,
                table.minutes,
                table.course_id,
                table.competency_id,
            )
            .where(
                table.organisation_id == organisation_id,
                table.user_id.in_(list(user_ids)),
                table.voided.is_(False),  # voided statements earn nothing (learning.voiding)
            )
            .order_by(table.occurred_at, table.id)
        )
    ).all()
    skip = set(leave_out)
    courses = await _courses(session, organisation_id, {r[6] for r in rows if r[6] is not None})
    histories: dict[int, list[LearningFact]] = {uid: [] for uid in user_ids}
    for user_id, key, kind, occurred_at, local_date, minutes, course_id, competency_id in rows:
        if key in skip:
            continue
        course = courses.get(course_id) if course_id is not None else None
        histories[user_id].append(
            to_fact(key, kind, occurred_at, local_date, minutes, course_id, competency_id, course)
        )
    return histories


def needs_stored_history(
    state: EngineState,
    badges: Sequence[BadgeDefinition],
    challenges: Sequence[ChallengeDefinition],
) -> bool:
    """Whether ``state`` lacks a tally these rules need and must read the learner's stored
    events for it (a converted v1 document carries its own history)."""
    return not state.history and bool(missing_tallies(state, badges, challenges))


async def with_all_tallies(
    session: AsyncSession,
    organisation_id: int,
    states: Mapping[int, EngineState],
    *,
    badges: Sequence[BadgeDefinition] = (),
    challenges: Sequence[ChallengeDefinition] = (),
    leave_out: Collection[str] = (),
) -> dict[int, EngineState]:
    """The learners' ``states`` with a tally for every rule given and every dated goal:
    as they are, or counted from their history where one is missing (one query for all
    of them; ``leave_out`` the keys of events being applied right now). Nothing is stored."""
    needing = [uid for uid, s in states.items() if needs_stored_history(s, badges, challenges)]
    stored = (
        await learner_histories(session, organisation_id, needing, leave_out=leave_out)
        if needing
        else {}
    )
    return {
        uid: backfill(state, state.history or stored[uid], badges, challenges)
        if state.history or uid in stored
        else state
        for uid, state in states.items()
    }


async def with_tallies(
    session: AsyncSession,
    organisation_id: int,
    user_id: int,
    state: EngineState,
    *,
    badges: Sequence[BadgeDefinition] = (),
    challenges: Sequence[ChallengeDefinition] = (),
) -> EngineState:
    """One learner's ``state`` through :func:`with_all_tallies` (for pages that show
    progress)."""
    filled = await with_all_tallies(
        session, organisation_id, {user_id: state}, badges=badges, challenges=challenges
    )
    return filled[user_id]
