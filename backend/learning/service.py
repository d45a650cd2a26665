"""Recording learning: the one way events enter the system, :func:`record_events`.

Every source (xAPI statements, the signed LMS webhook, the events API, moments from the PWA
and the Log form, course testimonials, the demo seed) turns what it received into
:class:`IncomingEvent`s (``backend.learning.adapters``) for the learners and courses the
lookup found (``backend.learning.lookup``) and records them here, in one of two ways (the
SQL of both is ``backend.learning.store``):

- **optimistic**: the caller read every learner's state (the lookup's snapshots) and holds no
  transaction of its own: the engine runs on those states and one statement writes
  everything, if no state moved on, every key is new and the organisation did not change;
  otherwise nothing is written and the locked way runs;
- **locked**, in one transaction: the learners' state rows are locked (sorted by user id) and
  the new events inserted; a known key with the same content is a duplicate, with other
  content a conflict; the new events run through ``gamification.apply`` in time order; the
  XP ledger, badge awards, learner states and team-challenge progress are written.
"""

import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Challenge, LearnerState, TeamChallengeDay, TeamMembership
from backend.db.types import utcnow
from backend.kudos.service import thank_for_moment
from backend.learning import adapters, store, voiding
from backend.learning import lookup as ingestion_lookup
from backend.learning.connections import on_pooled_connection, session_connection
from backend.learning.history import needs_stored_history, to_fact, with_all_tallies
from backend.learning.ingest_cache import cache_for
from backend.learning.lookup import CHALLENGE_GRACE_DAYS, IngestionLookup, LearnerDirectory
from backend.learning.model import (
    ConflictingEvents,
    CourseInfo,
    EventResult,
    IncomingEvent,
    LookupKeys,
    OrgContext,
    StaleLookup,
    VoidedMeanwhile,
)
from backend.learning.schemas import MomentIn
from backend.lrs import statement_store
from backend.tenancy import OrgScope
from gamification import LearnerState as EngineState
from gamification import LearningFact, OrgRules, TeamChallenge, local_day, team_challenge_progress
from gamification.engine import apply_many

SessionMaker = async_sessionmaker[AsyncSession]


async def record_events(
    db: AsyncSession | SessionMaker,
    org_id: int,
    events: Sequence[IncomingEvent],
    *,
    lookup: IngestionLookup | None = None,
    now: datetime | None = None,
    atomic: bool = False,
    commit: bool = True,
    statements: statement_store.Batch | None = None,
) -> list[EventResult]:
    """Record ``events`` of the learners of organisation ``org_id``; a result per distinct
    key, in the order of ``events``.

    ``db`` is the app's sessionmaker for a caller without a transaction of its own (the
    optimistic write is tried, a session opened only to lock), or the caller's session: the
    events then join its transaction, which is committed unless ``commit`` is false.
    ``lookup`` is what the caller read for these events (``backend.learning.lookup``); without
    it, the events' learners and courses are read here. If the organisation changed since
    the caller's lookup was read, :class:`StaleLookup` is raised and nothing is written. With
    ``atomic`` a conflicting duplicate raises :class:`ConflictingEvents` and nothing is
    written; otherwise it is reported per event.

    ``statements`` are the xAPI statements the events came in (``atomic`` only): they are
    stored in the events' transaction, all or none (``batch.inserted`` then names the new
    ones); an id stored before with other content is a conflict (its key ``xapi:<id>``).
    """
    now = now or utcnow()
    fresh: dict[str, IncomingEvent] = {}
    conflicts: list[str] = []
    for event in events:  # duplicates inside one batch
        seen = fresh.get(event.key)
        if seen is None:
            fresh[event.key] = event
        elif seen.content_hash() != event.content_hash() or seen.user_id != event.user_id:
            conflicts.append(event.key)
    assert statements is None or atomic, "a request's statements are stored all or none"
    if isinstance(db, AsyncSession):
        if not fresh and statements is None:
            return []
        results = await _record_locked(
            db, org_id, fresh, conflicts, lookup, now, statements, atomic=atomic, commit=commit
        )
        return _in_request_order(results, events)
    engine = db.kw["bind"]
    if not fresh:
        if statements is not None:  # they earn nothing: stored on their own
            kept = await on_pooled_connection(
                engine, lambda pg: statement_store.store_on(pg, org_id, statements)
            )
            if kept.conflicts:
                raise ConflictingEvents([f"xapi:{sid}" for sid in kept.conflicts])
            if kept.unmarked:  # stored (and committed) unvoided: voided now
                await voiding.void_statements(db, org_id, kept.unmarked, now)
        return []
    if lookup is None:
        lookup = await ingestion_lookup.load(engine, org_id, _keys(fresh.values()), now)
    if (
        not conflicts
        and (statements is None or not statements.voids)
        and _may_write_optimistically(fresh, lookup)
    ):
        done = await _record_optimistically(engine, org_id, fresh, lookup, now, statements)
        if done is not None:
            return _in_request_order(done, events)
    async with db() as session:
        results = await _record_locked(
            session, org_id, fresh, conflicts, lookup, now, statements, atomic=atomic, commit=True
        )
    return _in_request_order(results, events)


async def record_moment(scope: OrgScope, moment: MomentIn, now: datetime) -> EventResult:
    """Record the caller's learning moment and thank the colleague it names (once per
    moment): the one way the PWA's JSON route and the Log form log one.
    :class:`~backend.learning.adapters.RefusedMoment` for a moment in the future or too old,
    :class:`ConflictingEvents` when its client id was used for another moment; either way
    nothing is written."""
    user_id = scope.principal.user_id
    assert user_id is not None, "guarded: only people log moments"
    event = adapters.moment_event(user_id, moment, now)
    [result] = await record_events(
        scope.session, scope.organisation_id, [event], now=now, atomic=True
    )
    await thank_for_moment(scope, moment.colleague_id, result.event_id, now)
    return result


def _keys(events: Iterable[IncomingEvent]) -> LookupKeys:
    """The lookup of events whose learners and courses are known by id."""
    events = list(events)
    return LookupKeys(
        ids=sorted({e.user_id for e in events}),
        course_ids=sorted({e.course_id for e in events if e.course_id is not None}),
    )


def _in_request_order(
    results: Mapping[str, EventResult], events: Sequence[IncomingEvent]
) -> list[EventResult]:
    order = {e.key: i for i, e in enumerate(events)}
    return sorted(results.values(), key=lambda r: order.get(r.key, 0))


def _local_dates(fresh: Mapping[str, IncomingEvent], learners: LearnerDirectory) -> dict[str, date]:
    """Each event's day in its learner's timezone (:class:`UnknownReference` for a learner
    the lookup did not find: not an active learner of the organisation)."""
    return {e.key: local_day(e.occurred_at, learners.timezone(e.user_id)) for e in fresh.values()}


# learners whose optimistic write lost a race lately: their next events go straight to the
# lock (a learner whose events arrive in parallel would otherwise compute every event twice)
_contended_at: dict[int, float] = {}
CONTENDED_SECONDS = 2.0


def _recently_contended(user_ids: Iterable[int]) -> bool:
    if not _contended_at:
        return False
    now = time.monotonic()
    if len(_contended_at) > 10_000:
        for uid in [u for u, at in _contended_at.items() if now - at > CONTENDED_SECONDS]:
            del _contended_at[uid]
    return any(
        now - _contended_at.get(uid, -CONTENDED_SECONDS) < CONTENDED_SECONDS for uid in user_ids
    )


def _may_write_optimistically(fresh: Mapping[str, IncomingEvent], lookup: IngestionLookup) -> bool:
    """Whether the optimistic write can do it all: every learner's state was read, none
    lost a race lately and no team challenge needs its progress recomputed under a lock."""
    snapshots = lookup.snapshots
    user_ids = {e.user_id for e in fresh.values()}
    return (
        snapshots is not None
        and not lookup.context.team_challenge_team_ids
        and all(uid in snapshots for uid in user_ids)
        and not _recently_contended(user_ids)
    )


async def _record_optimistically(
    engine: Any,
    org_id: int,
    fresh: Mapping[str, IncomingEvent],
    lookup: IngestionLookup,
    now: datetime,
    statements: statement_store.Batch | None,
) -> dict[str, EventResult] | None:
    """The events (and their xAPI ``statements``) recorded with one statement on a pooled
    connection, from the lookup's
    snapshots; None (nothing written) when a learner's history must be read, one of the
    events is already in a snapshot, or the statement found a state, key or the organisation
    changed. The learners' new states are kept in the ingestion cache."""
    assert lookup.snapshots is not None
    events = list(fresh.values())
    user_ids = sorted({e.user_id for e in events})
    snapshots = {uid: lookup.snapshots[uid] for uid in user_ids}
    states = {
        uid: snapshot.state or EngineState.from_dict(snapshot.document or {})
        for uid, snapshot in snapshots.items()
    }
    context = lookup.context
    if any(
        needs_stored_history(s, context.badges, context.individual_challenges)
        for s in states.values()
    ):
        return None  # their history is read under the lock
    local_dates = _local_dates(fresh, lookup.learners)
    results: dict[str, EventResult] = {}
    writes = _apply_new_events(
        context, events, states, lookup.learners, local_dates, {}, lookup.courses.by_id, now,
        results,
    )  # fmt: skip
    if any(r.status != "created" for r in results.values()):
        return None  # a snapshot already had one of these facts: sorted out under the lock
    versions = {uid: snapshot.version + 1 for uid, snapshot in snapshots.items()}
    cache = cache_for(engine)
    event_ids = await on_pooled_connection(
        engine,
        lambda pg: store.write_optimistically(
            pg,
            org_id,
            events,
            local_dates,
            writes,
            versions,
            now,
            lookup.config_version,
            statements,
        ),
    )
    if event_ids is None:
        _contended_at.update(dict.fromkeys(user_ids, time.monotonic()))
        cache.forget_states(user_ids)
        return None
    for key, result in results.items():
        result.event_id = event_ids.get(key)
    for uid in user_ids:
        cache.remember_state(org_id, uid, versions[uid], writes.engine_states[uid])
    return results


async def _record_locked(
    session: AsyncSession,
    org_id: int,
    fresh: dict[str, IncomingEvent],
    conflicts: list[str],
    lookup: IngestionLookup | None,
    now: datetime,
    statements: statement_store.Batch | None,
    *,
    atomic: bool,
    commit: bool,
) -> dict[str, EventResult]:
    """The events (and their xAPI ``statements``) recorded in ``session``'s transaction, the
    learners' state rows locked."""
    if session.new or session.dirty or session.deleted:
        # e.g. challenges the caller just added: the reads below see them
        await session.flush()
    pg = await session_connection(session)
    # read in this transaction, it is as current as the lock below: no version to check
    expected_version = None if lookup is None else lookup.config_version
    if lookup is None:
        lookup = await ingestion_lookup.read(pg, None, org_id, _keys(fresh.values()), now)
    voided: list[str] = []
    if statements is not None:  # a statement voided before it arrived earns nothing
        voided = await voiding.voided_on_arrival(pg, org_id, list(fresh), statements.voids)
        for key in voided:
            del fresh[key]
    local_dates = _local_dates(fresh, lookup.learners)
    user_ids = sorted({e.user_id for e in fresh.values()})
    cache = cache_for(session.bind)
    cache.forget_states(user_ids)  # their versions move on here
    # insert first: a key that is already stored is skipped and then told apart below
    # (same content: duplicate; different: conflict)
    documents, event_ids, current = await store.lock_and_insert(
        pg, org_id, user_ids, list(fresh.values()), local_dates, now, expected_version
    )
    if expected_version is not None and current != expected_version:
        await session.rollback()
        cache.forget_org(org_id)
        raise StaleLookup(f"organisation {org_id} changed since it was read")
    if statements is not None:  # after the learners' rows, as the optimistic write does
        kept = await statement_store.store_on(pg, org_id, statements)
        if kept.conflicts:
            await session.rollback()
            raise ConflictingEvents([f"xapi:{sid}" for sid in kept.conflicts])
        # a voiding stored after voided_on_arrival looked: the retry sees it there
        late = [sid for sid in kept.voided if voiding.KEY_PREFIX + sid in fresh]
        if late or kept.unmarked:
            await session.rollback()
            raise VoidedMeanwhile(f"voided while being stored: {sorted({*late, *kept.unmarked})}")
    results = {key: EventResult(key, "voided") for key in voided}
    stored = [key for key in fresh if key not in event_ids]
    if stored:
        for key, payload_hash, user_id, event_id in await store.known_events(pg, org_id, stored):
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

    context = lookup.context
    if fresh:
        states = await with_all_tallies(
            session,
            org_id,
            {uid: EngineState.from_dict(doc or {}) for uid, doc in documents.items()},
            badges=context.badges,
            challenges=context.individual_challenges,
            leave_out=set(fresh),
        )
        writes = _apply_new_events(
            context, list(fresh.values()), states, lookup.learners, local_dates, event_ids,
            lookup.courses.by_id, now, results,
        )  # fmt: skip
        await store.write(pg, org_id, writes, event_ids, now)
        # a caller that holds these rows as ORM objects must not keep reading the old state
        for user_id in writes.states:
            row = session.identity_map.get(identity_key(LearnerState, user_id))
            if row is not None:
                await session.refresh(row)
        if context.team_challenge_team_ids:
            today = local_day(now, context.default_timezone)
            await _update_team_challenges(
                session, org_id, context.team_challenge_team_ids, writes.activity, now, today
            )
    if commit:
        await session.commit()
    else:
        await session.flush()
    return results


def _event_fact(event: IncomingEvent, local_date: date, course: CourseInfo | None) -> LearningFact:
    return to_fact(
        event.key,
        event.kind,
        event.occurred_at,
        local_date,
        event.minutes,
        event.course_id,
        event.competency_id,
        course,
        event.text,
    )


def _apply_new_events(
    context: OrgContext,
    events: list[IncomingEvent],
    states: Mapping[int, EngineState],
    learners: LearnerDirectory,
    local_dates: dict[str, date],
    event_ids: Mapping[str, int],
    courses: Mapping[int, CourseInfo],
    now: datetime,
    results: dict[str, EventResult],
) -> store.Writes:
    """Run the new events through the engine, per learner in time order (no I/O)."""
    rules = context.rules
    badges = context.badges
    challenges = context.individual_challenges
    writes = store.Writes()
    by_user: dict[int, list[IncomingEvent]] = defaultdict(list)
    for event in events:
        by_user[event.user_id].append(event)
    for user_id, user_events in by_user.items():
        state = states.get(user_id) or EngineState()
        tz = learners.timezone(user_id)
        new_facts: list[LearningFact] = []
        ordered = sorted(user_events, key=lambda e: (e.occurred_at, e.key))
        user_facts = [
            _event_fact(event, local_dates[event.key], courses.get(event.course_id or 0))
            for event in ordered
        ]
        outcomes = apply_many(state, user_facts, rules, badges, now, tz, challenges=challenges)
        for event, fact, outcome in zip(ordered, user_facts, outcomes, strict=True):
            result = results.setdefault(
                event.key, EventResult(event.key, "created", event_ids.get(event.key))
            )
            if outcome.duplicate:
                result.status = "duplicate"
                continue
            state = outcome.state
            new_facts.append(fact)
            for entry in outcome.ledger:
                result.xp += entry.amount
                writes.ledger.append(
                    (user_id, event.key, entry.amount, entry.reason.value[:40], entry.local_date)
                )
            for award in outcome.awards:
                result.badges.append(f"{award.code}:{award.tier}")
                writes.awards.append(
                    (
                        user_id,
                        award.code,
                        award.tier,
                        list(award.evidence),
                        secrets.token_urlsafe(16),
                    )
                )
        writes.states[user_id] = state_columns(state, rules)
        writes.activity[user_id] = new_facts
        writes.engine_states[user_id] = state
    return writes


def state_columns(state: EngineState, rules: OrgRules) -> dict[str, Any]:
    """The engine's document and the hot fields the Today page reads (without ``version``)."""
    return {
        "data": state.to_dict(),
        "xp_total": state.xp_total,
        "level": rules.levels.level_for_xp(state.xp_total),
        "current_streak": state.streak.current,
        "longest_streak": state.streak.longest,
        "freezes_banked": state.streak.freezes_banked,
        "weekly_goal_minutes": state.weekly_goal_minutes,
        "last_active_date": state.last_active_date,
    }


def sync_state_columns(row: LearnerState, state: EngineState, rules: OrgRules) -> None:
    """Copy the engine's document and its hot fields onto the row the Today page reads."""
    for name, value in state_columns(state, rules).items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    row.version += 1


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


async def lock_learner_states(
    session: AsyncSession, organisation_id: int, user_ids: list[int]
) -> dict[int, LearnerState]:
    """The learners' state rows as ORM objects, created when missing, locked until commit
    (sorted: no deadlocks); for services that change a state outside ingestion."""
    # executemany with one cached statement: a multi-row VALUES is recompiled every time
    stmt = postgresql.insert(_table(LearnerState)).on_conflict_do_nothing(
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
        .with_for_update()
    )
    return {row.user_id: row for row in (await session.exec(query)).all()}


async def _update_team_challenges(
    session: AsyncSession,
    org_id: int,
    team_ids: frozenset[int],
    activity: dict[int, list[LearningFact]],
    now: datetime,
    today: date,
) -> None:
    """Add the new activity to the learners' team challenges and recompute their progress.

    ``team_ids``: the teams with a team challenge that may still count (nothing to do without).
    """
    active_facts = {
        uid: [f for f in facts if f.counts_as_activity] for uid, facts in activity.items()
    }
    user_ids = [uid for uid, facts in active_facts.items() if facts]
    if not user_ids:
        return
    team_rows = (
        await session.exec(
            select(TeamMembership.team_id, TeamMembership.user_id).where(
                TeamMembership.organisation_id == org_id,
                col(TeamMembership.user_id).in_(user_ids),
                col(TeamMembership.team_id).in_(team_ids),
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
            col(Challenge.ends_on) >= date.fromordinal(today.toordinal() - CHALLENGE_GRACE_DAYS),
        )
        .order_by(col(Challenge.id))
        .with_for_update()
    )
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
        stmt = postgresql.insert(_table(TeamChallengeDay)).values(
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


def team_minutes_by_member(
    members: Iterable[int], days: Iterable[TeamChallengeDay]
) -> dict[int, dict[date, int]]:
    """The engine's input for a team challenge: every counted member, with minutes per day."""
    minutes: dict[int, dict[date, int]] = {uid: {} for uid in members}
    for day in days:
        if day.user_id in minutes:
            minutes[day.user_id][day.local_date] = day.minutes
    return minutes


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
    days = (
        await session.exec(
            select(TeamChallengeDay).where(TeamChallengeDay.challenge_id == challenge.id)
        )
    ).all()
    progress = team_challenge_progress(definition, team_minutes_by_member(members, days), today)
    challenge.progress = progress.progress
    if progress.completed and challenge.completed_at is None:
        challenge.completed_at = now
    session.add(challenge)
