"""Recording learning: the one way events enter the system.

Every source (xAPI, the signed LMS webhook, the native events API, the PWA) normalises to
:class:`IncomingEvent`s and calls :func:`record_events`, which in one transaction:

1. locks the learners' state rows (``FOR UPDATE`` on PostgreSQL; SQLite holds its write lock),
2. sorts out duplicates: a known idempotency key with the same content changes nothing,
   with different content it is a conflict,
3. inserts the new events, runs them through ``gamification.apply`` in time order,
4. writes the XP ledger, badge awards, learner state and team-challenge progress.
"""

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import (
    BadgeAward,
    Challenge,
    Course,
    CourseCompetency,
    LearnerState,
    LearningEvent,
    Organisation,
    TeamChallengeDay,
    TeamMembership,
    User,
    XpLedgerEntry,
)
from backend.db.types import utcnow
from backend.learning.rules import org_badges, org_rules
from gamification import (
    ChallengeDefinition,
    EventKind,
    LearningFact,
    OrgRules,
    TeamChallenge,
    apply,
    fingerprint_text,
    local_day,
    team_challenge_progress,
)
from gamification import LearnerState as EngineState

EventStatus = Literal["created", "duplicate", "conflict"]


@dataclass(frozen=True)
class IncomingEvent:
    """A learning event from any source, with the learner already resolved."""

    key: str
    user_id: int
    kind: str
    source: str
    occurred_at: datetime
    minutes: int = 0
    course_id: int | None = None
    competency_id: int | None = None
    activity_id: str | None = None
    title: str = ""
    text: str | None = None  # informal log text: identical texts earn XP once per cooldown
    payload: dict[str, Any] = field(default_factory=dict)
    payload_hash: str = ""

    def content_hash(self) -> str:
        return self.payload_hash or content_fingerprint(self.payload)


@dataclass
class EventResult:
    key: str
    status: EventStatus
    event_id: int | None = None
    xp: int = 0
    badges: list[str] = field(default_factory=list)


class ConflictingEvents(Exception):
    """Some keys were seen before with different content; nothing was written."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__(f"already recorded with different content: {', '.join(keys)}")
        self.keys = list(keys)


def content_fingerprint(payload: Any) -> str:
    canonical = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _dialect_insert(session: AsyncSession, table: Any) -> Any:
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(table) if name == "postgresql" else sqlite.insert(table)


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def lock_learner_states(
    session: AsyncSession, organisation_id: int, user_ids: list[int]
) -> dict[int, LearnerState]:
    """The learners' state rows, created when missing, locked until commit (sorted: no deadlocks)."""
    # executemany with one cached statement: a multi-row VALUES is recompiled every time
    stmt = _dialect_insert(session, _table(LearnerState)).on_conflict_do_nothing(
        index_elements=["user_id"]
    )
    now = utcnow()
    await (await session.connection()).execute(
        stmt,
        [
            {"user_id": uid, "organisation_id": organisation_id, "data": {}, "updated_at": now}
            for uid in user_ids
        ],
    )
    query = (
        select(LearnerState)
        .where(
            LearnerState.organisation_id == organisation_id, col(LearnerState.user_id).in_(user_ids)
        )
        .order_by(col(LearnerState.user_id))
        .execution_options(populate_existing=True)
    )
    if _is_postgres(session):
        query = query.with_for_update()
    return {row.user_id: row for row in (await session.exec(query)).all()}


@dataclass(frozen=True)
class _CourseFacts:
    duration: int
    hot_skill: bool
    competencies: frozenset[int]


async def _course_facts(
    session: AsyncSession, organisation_id: int, course_ids: set[int]
) -> dict[int, _CourseFacts]:
    if not course_ids:
        return {}
    courses = (
        await session.exec(
            select(Course).where(
                Course.organisation_id == organisation_id, col(Course.id).in_(course_ids)
            )
        )
    ).all()
    links = (
        await session.exec(
            select(CourseCompetency).where(
                CourseCompetency.organisation_id == organisation_id,
                col(CourseCompetency.course_id).in_(course_ids),
            )
        )
    ).all()
    competencies: dict[int, set[int]] = defaultdict(set)
    for link in links:
        competencies[link.course_id].add(link.competency_id)
    return {
        c.id: _CourseFacts(
            c.duration_minutes, c.hot_skill, frozenset(competencies.get(c.id, set()))
        )
        for c in courses
        if c.id is not None
    }


def to_fact(event: IncomingEvent, local_date: date, course: _CourseFacts | None) -> LearningFact:
    competencies = set(course.competencies) if course else set()
    if event.competency_id is not None:
        competencies.add(event.competency_id)
    return LearningFact(
        key=event.key,
        kind=EventKind(event.kind),
        occurred_at=event.occurred_at,
        local_date=local_date,
        minutes=event.minutes,
        course_id=event.course_id,
        course_duration_minutes=course.duration if course else None,
        competency_ids=frozenset(competencies),
        hot_skill=course.hot_skill if course else False,
        text_fingerprint=fingerprint_text(event.text) if event.text else None,
    )


async def _individual_challenges(
    session: AsyncSession, organisation_id: int, today: date
) -> list[ChallengeDefinition]:
    rows = (
        await session.exec(
            select(Challenge).where(
                Challenge.organisation_id == organisation_id,
                Challenge.kind == "individual",
                # a late event may still count for a challenge that ended a few days ago
                col(Challenge.ends_on) >= date.fromordinal(today.toordinal() - 14),
            )
        )
    ).all()
    return [ChallengeDefinition.from_dict(r.definition) for r in rows]


def sync_state_columns(row: LearnerState, state: EngineState, rules: OrgRules) -> None:
    """Copy the engine's document and its hot fields onto the row the Today page reads."""
    row.data = state.to_dict()
    row.xp_total = state.xp_total
    row.level = rules.levels.level_for_xp(state.xp_total)
    row.current_streak = state.streak.current
    row.longest_streak = state.streak.longest
    row.freezes_banked = state.streak.freezes_banked
    row.weekly_goal_minutes = state.weekly_goal_minutes
    days = [f.local_date for f in state.facts if f.counts_as_activity]
    row.last_active_date = max(days) if days else None
    row.version += 1
    row.updated_at = utcnow()


async def record_events(
    session: AsyncSession,
    organisation: Organisation,
    events: Sequence[IncomingEvent],
    *,
    now: datetime | None = None,
    atomic: bool = False,
    commit: bool = True,
) -> list[EventResult]:
    """Record ``events`` (their learners already checked to belong to ``organisation``).

    Commits on success (unless ``commit`` is false: the caller owns the transaction). With ``atomic`` a conflicting duplicate raises
    :class:`ConflictingEvents` and nothing is written; otherwise it is reported per item.
    """
    assert organisation.id is not None
    org_id = organisation.id
    now = now or utcnow()
    results: dict[str, EventResult] = {}
    fresh: dict[str, IncomingEvent] = {}
    conflicts: list[str] = []
    for event in events:  # duplicates inside one batch
        seen = fresh.get(event.key)
        if seen is None:
            fresh[event.key] = event
        elif seen.content_hash() != event.content_hash() or seen.user_id != event.user_id:
            conflicts.append(event.key)

    user_ids = sorted({e.user_id for e in fresh.values()})
    if not user_ids:
        return []
    states = await lock_learner_states(session, org_id, user_ids)

    known = (
        await session.exec(
            select(
                LearningEvent.idempotency_key,
                LearningEvent.payload_hash,
                LearningEvent.user_id,
                LearningEvent.id,
            ).where(
                LearningEvent.organisation_id == org_id,
                col(LearningEvent.idempotency_key).in_(list(fresh)),
            )
        )
    ).all()
    for key, payload_hash, user_id, event_id in known:
        event = fresh.pop(key)
        if payload_hash == event.content_hash() and user_id == event.user_id:
            results[key] = EventResult(key, "duplicate", event_id)
        else:
            conflicts.append(key)
    if conflicts:
        if atomic:
            await session.rollback()
            raise ConflictingEvents(sorted(set(conflicts)))
        for key in conflicts:
            results[key] = EventResult(key, "conflict")

    if fresh:
        await _apply_new_events(session, organisation, list(fresh.values()), states, now, results)
    if commit:
        await session.commit()
    else:
        await session.flush()
    order = {e.key: i for i, e in enumerate(events)}
    return sorted(results.values(), key=lambda r: order.get(r.key, 0))


async def _apply_new_events(
    session: AsyncSession,
    organisation: Organisation,
    events: list[IncomingEvent],
    states: dict[int, LearnerState],
    now: datetime,
    results: dict[str, EventResult],
) -> None:
    assert organisation.id is not None
    org_id = organisation.id
    timezones = dict(
        (
            await session.exec(
                select(User.id, User.timezone).where(
                    User.organisation_id == org_id, col(User.id).in_({e.user_id for e in events})
                )
            )
        ).all()
    )
    local_dates = {e.key: local_day(e.occurred_at, timezones[e.user_id]) for e in events}
    rows = [
        {
            "organisation_id": org_id,
            "user_id": e.user_id,
            "idempotency_key": e.key,
            "kind": e.kind,
            "source": e.source,
            "course_id": e.course_id,
            "competency_id": e.competency_id,
            "activity_id": e.activity_id,
            "title": e.title[:300],
            "minutes": e.minutes,
            "occurred_at": e.occurred_at,
            "local_date": local_dates[e.key],
            "payload_hash": e.content_hash(),
            "payload": e.payload,
            "created_at": now,
        }
        for e in events
    ]
    inserted = await (await session.connection()).execute(
        insert(LearningEvent).returning(
            col(LearningEvent.id), col(LearningEvent.idempotency_key), sort_by_parameter_order=True
        ),
        rows,
    )
    event_ids: dict[str, int] = {
        key: event_id for event_id, key in inserted.all() if event_id is not None
    }

    rules = org_rules(organisation)
    badges = await org_badges(session, org_id)
    today = local_day(now, organisation.default_timezone)
    challenges = await _individual_challenges(session, org_id, today)
    courses = await _course_facts(
        session, org_id, {e.course_id for e in events if e.course_id is not None}
    )

    ledger_rows: list[dict[str, Any]] = []
    award_rows: list[dict[str, Any]] = []
    by_user: dict[int, list[IncomingEvent]] = defaultdict(list)
    for event in events:
        by_user[event.user_id].append(event)
    activity: dict[int, list[LearningFact]] = {}
    for user_id, user_events in by_user.items():
        row = states[user_id]
        state = EngineState.from_dict(row.data or {})
        tz = timezones[user_id]
        new_facts: list[LearningFact] = []
        for event in sorted(user_events, key=lambda e: (e.occurred_at, e.key)):
            fact = to_fact(event, local_dates[event.key], courses.get(event.course_id or 0))
            outcome = apply(state, fact, rules, badges, now, tz, challenges=challenges)
            state = outcome.state
            result = results.setdefault(
                event.key, EventResult(event.key, "created", event_ids.get(event.key))
            )
            if outcome.duplicate:
                result.status = "duplicate"
                continue
            new_facts.append(fact)
            for entry in outcome.ledger:
                result.xp += entry.amount
                ledger_rows.append(
                    {
                        "organisation_id": org_id,
                        "user_id": user_id,
                        "event_id": event_ids.get(event.key),
                        "amount": entry.amount,
                        "reason": entry.reason.value[:40],
                        "local_date": entry.local_date,
                        "created_at": now,
                    }
                )
            for award in outcome.awards:
                result.badges.append(f"{award.code}:{award.tier}")
                award_rows.append(
                    {
                        "organisation_id": org_id,
                        "user_id": user_id,
                        "badge_code": award.code,
                        "tier": award.tier,
                        "evidence": list(award.evidence),
                        "public_id": secrets.token_urlsafe(16),
                        "awarded_at": now,
                    }
                )
        sync_state_columns(row, state, rules)
        session.add(row)
        activity[user_id] = new_facts

    if ledger_rows:
        await (await session.connection()).execute(insert(XpLedgerEntry), ledger_rows)
    if award_rows:
        stmt = _dialect_insert(session, _table(BadgeAward))
        await (await session.connection()).execute(
            stmt.on_conflict_do_nothing(index_elements=["user_id", "badge_code", "tier"]),
            award_rows,
        )
    await session.flush()
    await _update_team_challenges(session, org_id, activity, now, today)


async def _update_team_challenges(
    session: AsyncSession,
    org_id: int,
    activity: dict[int, list[LearningFact]],
    now: datetime,
    today: date,
) -> None:
    """Add the new activity to the learners' team challenges and recompute their progress."""
    active_facts = {
        uid: [f for f in facts if f.counts_as_activity] for uid, facts in activity.items()
    }
    user_ids = [uid for uid, facts in active_facts.items() if facts]
    if not user_ids:
        return
    team_rows = (
        await session.exec(
            select(TeamMembership.team_id, TeamMembership.user_id).where(
                TeamMembership.organisation_id == org_id, col(TeamMembership.user_id).in_(user_ids)
            )
        )
    ).all()
    teams_of: dict[int, set[int]] = defaultdict(set)
    for team_id, user_id in team_rows:
        teams_of[user_id].add(team_id)
    if not teams_of:
        return
    query = (
        select(Challenge)
        .where(
            Challenge.organisation_id == org_id,
            Challenge.kind == "team",
            col(Challenge.team_id).in_({t for ts in teams_of.values() for t in ts}),
            # late events may still count for a challenge that ended a few days ago
            col(Challenge.ends_on) >= date.fromordinal(today.toordinal() - 14),
        )
        .order_by(col(Challenge.id))
    )
    if _is_postgres(session):
        query = query.with_for_update()
    challenges = (await session.exec(query)).all()
    for challenge in challenges:
        definition = TeamChallenge.from_dict(challenge.definition)
        day_minutes: dict[tuple[int, date], int] = defaultdict(int)
        for user_id, facts in active_facts.items():
            if challenge.team_id not in teams_of.get(user_id, set()):
                continue
            for fact in facts:
                if definition.starts_on <= fact.local_date <= definition.ends_on:
                    day_minutes[(user_id, fact.local_date)] += fact.minutes
        if not day_minutes:
            continue
        stmt = _dialect_insert(session, _table(TeamChallengeDay)).values(
            [
                {
                    "challenge_id": challenge.id,
                    "user_id": uid,
                    "local_date": day,
                    "organisation_id": org_id,
                    "minutes": m,
                }
                for (uid, day), m in day_minutes.items()
            ]
        )
        await session.exec(
            stmt.on_conflict_do_update(
                index_elements=["challenge_id", "user_id", "local_date"],
                set_={"minutes": _table(TeamChallengeDay).c.minutes + stmt.excluded.minutes},
            )
        )
        await recompute_team_challenge(session, challenge, today, now)


async def recompute_team_challenge(
    session: AsyncSession, challenge: Challenge, today: date, now: datetime
) -> None:
    """Progress of a team challenge from its members' recorded days (the engine decides)."""
    definition = TeamChallenge.from_dict(challenge.definition)
    members = (
        await session.exec(
            select(TeamMembership.user_id).where(
                TeamMembership.team_id == challenge.team_id,
                col(TeamMembership.is_manager).is_(False),
            )
        )
    ).all()
    minutes_by_member: dict[int, dict[date, int]] = {uid: {} for uid in members}
    days = (
        await session.exec(
            select(TeamChallengeDay).where(TeamChallengeDay.challenge_id == challenge.id)
        )
    ).all()
    for day in days:
        if day.user_id in minutes_by_member:
            minutes_by_member[day.user_id][day.local_date] = day.minutes
    # members ahead of the organisation's timezone may already be on a later local day
    as_of = max([today, *(d.local_date for d in days)])
    progress = team_challenge_progress(definition, minutes_by_member, as_of)
    challenge.progress = progress.progress
    if progress.completed and challenge.completed_at is None:
        challenge.completed_at = now
    session.add(challenge)
