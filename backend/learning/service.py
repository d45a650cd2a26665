"""Recording learning: the one way events enter the system.

Every source (xAPI, the signed LMS webhook, the native events API, the PWA) normalises to
:class:`IncomingEvent`s and calls :func:`record_events`, which in one transaction:

1. locks the learners' state rows,
2. sorts out duplicates: a known idempotency key with the same content changes nothing,
   with different content it is a conflict,
3. inserts the new events, runs them through ``gamification.apply`` in time order,
4. writes the XP ledger, badge awards, learner state and team-challenge progress.
"""

import hashlib
import json
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, cast

import asyncpg
import msgspec
from sqlalchemy import JSON, Date, Integer, String, Table, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlalchemy.util import greenlet_spawn
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import (
    Challenge,
    LearnerState,
    Organisation,
    TeamChallengeDay,
    TeamMembership,
    User,
)
from backend.db.types import utcnow
from backend.learning.connections import CONNECTION_ERRORS, pooled_connection
from backend.learning.history import (
    CourseFacts,
    course_facts,
    needs_stored_history,
    to_fact,
    with_all_tallies,
)
from backend.learning.ingest_cache import IngestionCache, cache_for
from backend.learning.rules import badges_from_documents, rules_from_settings
from gamification import (
    BadgeDefinition,
    ChallengeDefinition,
    LearningFact,
    OrgRules,
    TeamChallenge,
    local_day,
    team_challenge_progress,
)
from gamification import LearnerState as EngineState
from gamification.engine import apply_many

EventStatus = Literal["created", "duplicate", "conflict"]


@dataclass(slots=True)  # not frozen: one per event, and a frozen dataclass is slower to build
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


class StaleLookup(Exception):
    """The organisation's rules, badges, challenges, courses or learners changed since the
    caller read them (its ``config_version`` moved on); nothing was written: read afresh
    and try again."""


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


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


async def lock_learner_states(
    session: AsyncSession, organisation_id: int, user_ids: list[int]
) -> dict[int, LearnerState]:
    """The learners' state rows, created when missing, locked until commit (sorted: no deadlocks)."""
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


# a late event may still count for a challenge that ended a few days ago
CHALLENGE_GRACE_DAYS = 14


@dataclass(frozen=True)
class OrgContext:
    """An organisation's rules, active badges and recent challenges, read once per request."""

    default_timezone: str
    rules: OrgRules
    badges: list[BadgeDefinition]
    individual_challenges: list[ChallengeDefinition]
    team_challenge_team_ids: frozenset[int]  # teams with a team challenge that may still count


# One round trip for the organisation row, its active badges (in id order) and the challenges
# that ended at most ~15 days ago (the exact bound needs the organisation's timezone: in Python).
_ORG_CONTEXT = (
    text("""
SELECT o.default_timezone, o.settings,
  (SELECT coalesce(json_agg(json_build_array(b.id, b.code, b.name, b.criterion, b.tiers)
                            ORDER BY b.id), '[]'::json)
     FROM badge_definition b WHERE b.organisation_id = :org AND b.is_active) AS badges,
  (SELECT coalesce(json_agg(json_build_array(c.id, c.kind, c.team_id, c.ends_on, c.definition)
                            ORDER BY c.id), '[]'::json)
     FROM challenge c WHERE c.organisation_id = :org AND c.ends_on >= :since) AS challenges
FROM organisation o WHERE o.id = :org
""")
    .bindparams(bindparam("org", type_=Integer()), bindparam("since", type_=Date()))
    .columns(default_timezone=String(), settings=JSON(), badges=JSON(), challenges=JSON())
)


def challenge_window_start(now: datetime) -> date:
    """Challenges ending before this UTC date can no longer count (every timezone's today is
    within a day of UTC's); the exact bound is applied in :func:`org_context_from_rows`."""
    return now.date() - timedelta(days=CHALLENGE_GRACE_DAYS + 1)


def org_context_from_rows(
    organisation_id: int,
    now: datetime,
    default_timezone: str,
    settings: dict[str, Any] | None,
    badge_rows: Sequence[Sequence[Any]] | None,
    challenge_rows: Sequence[Sequence[Any]] | None,
) -> OrgContext:
    """The :class:`OrgContext` from the organisation's row, its active badge rows
    ``(id, code, name, criterion, tiers)`` and its recent challenge rows
    ``(id, kind, team_id, ends_on, definition)``."""
    badges = badges_from_documents(
        organisation_id,
        [
            {"code": code, "name": name, "criterion": criterion, "tiers": tiers}
            for _id, code, name, criterion, tiers in sorted(badge_rows or [], key=lambda b: b[0])
        ],
    )
    today = local_day(now, default_timezone)
    oldest_end = date.fromordinal(today.toordinal() - CHALLENGE_GRACE_DAYS)
    individual: list[ChallengeDefinition] = []
    team_ids: set[int] = set()
    for _id, kind, team_id, ends_on, definition in sorted(challenge_rows or [], key=lambda c: c[0]):
        if date.fromisoformat(ends_on) < oldest_end:
            continue
        if kind == "individual":
            individual.append(ChallengeDefinition.from_dict(definition))
        elif kind == "team" and team_id is not None:
            team_ids.add(team_id)
    return OrgContext(
        default_timezone=default_timezone,
        rules=rules_from_settings(settings),
        badges=badges,
        individual_challenges=individual,
        team_challenge_team_ids=frozenset(team_ids),
    )


async def _org_context(session: AsyncSession, organisation_id: int, now: datetime) -> OrgContext:
    conn = await session.connection()
    row = (
        await conn.execute(
            _ORG_CONTEXT, {"org": organisation_id, "since": challenge_window_start(now)}
        )
    ).one()
    default_timezone, settings, badge_rows, challenge_rows = row
    return org_context_from_rows(
        organisation_id, now, default_timezone, settings, badge_rows, challenge_rows
    )


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


async def _timezones(
    session: AsyncSession, organisation_id: int, user_ids: list[int]
) -> dict[int, str]:
    rows = (
        await session.exec(
            select(User.id, User.timezone).where(
                User.organisation_id == organisation_id, col(User.id).in_(user_ids)
            )
        )
    ).all()
    return {uid: tz for uid, tz in rows if uid is not None}


async def driver_connection(session: AsyncSession, *, begin: bool) -> Any:
    """The session's asyncpg connection, for the hot path's hand-written statements.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs; with
    ``begin`` the transaction is opened now (statements then run inside the session's
    transaction, and ``session.commit()`` commits them); without, statements run in autocommit
    until the session's first own statement.
    """
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapter: Any = fairy.dbapi_connection
    if begin and adapter._transaction is None:
        await adapter._start_transaction()
    return fairy.driver_connection


_AUTOCOMMIT = "learnloop.autocommit_connection"


@asynccontextmanager
async def ingestion_session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for one ingestion request. Its statements outside any
    transaction (the lookup, the optimistic write) run on a connection taken straight from
    the engine's pool, skipping the ORM session's connection machinery; it goes back to the
    pool when the block ends."""
    async with maker() as session:
        session.info[_AUTOCOMMIT] = None
        try:
            yield session
        finally:
            await _release_autocommit(session)
            session.info.pop(_AUTOCOMMIT, None)


async def _release_autocommit(session: AsyncSession) -> None:
    # back to the pool before the session takes its own: one connection per request at a time
    fairy = session.info.get(_AUTOCOMMIT)
    if fairy is not None:
        session.info[_AUTOCOMMIT] = None
        await greenlet_spawn(fairy.close)  # a NullPool closes it: that is I/O


async def autocommit_connection(session: AsyncSession) -> Any:
    """An asyncpg connection outside the session's transaction (see
    :func:`ingestion_session`); the session's own connection for any other session."""
    if _AUTOCOMMIT not in session.info or session.in_transaction():
        return await driver_connection(session, begin=False)
    fairy = session.info[_AUTOCOMMIT]
    if fairy is None:
        engine: Any = session.bind
        fairy = session.info[_AUTOCOMMIT] = await engine.raw_connection()
    return fairy.driver_connection


@dataclass(frozen=True)
class StateSnapshot:
    """A learner's state row as read without a lock: ``version`` (0 when there is no row yet)
    and the engine's document (None: a fresh learner), or the state already decoded."""

    version: int
    document: dict[str, Any] | None
    state: EngineState | None = None


@dataclass
class _Writes:
    """The rows one ingestion writes, computed by the engine before anything is written."""

    ledger: list[tuple[int, str, int, str, date]] = field(default_factory=list)  # key, not id
    awards: list[tuple[int, str, str, list[str], str]] = field(default_factory=list)
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    activity: dict[int, list[LearningFact]] = field(default_factory=dict)
    engine_states: dict[int, EngineState] = field(default_factory=dict)


def _in_request_order(
    results: Mapping[str, EventResult], events: Sequence[IncomingEvent]
) -> list[EventResult]:
    order = {e.key: i for i, e in enumerate(events)}
    return sorted(results.values(), key=lambda r: order.get(r.key, 0))


async def record_events(
    session: AsyncSession,
    organisation: Organisation | int,
    events: Sequence[IncomingEvent],
    *,
    now: datetime | None = None,
    atomic: bool = False,
    commit: bool = True,
    timezones: Mapping[int, str] | None = None,
    courses: Mapping[int, CourseFacts] | None = None,
    context: OrgContext | None = None,
    snapshots: Mapping[int, StateSnapshot] | None = None,
    config_version: int | None = None,
) -> list[EventResult]:
    """Record ``events`` (their learners already checked to belong to ``organisation``).

    Commits on success (unless ``commit`` is false: the caller owns the transaction). With
    ``atomic`` a conflicting duplicate raises :class:`ConflictingEvents` and nothing is
    written; otherwise it is reported per item. ``timezones`` (learner id -> timezone),
    ``courses`` (course id -> facts) and the organisation's ``context`` (rules, badges,
    challenges) may be passed by a caller that already read them; whatever is missing is read
    here. ``snapshots`` are the learners' state rows as the caller read them.
    ``config_version`` is the organisation's when the caller read ``context``, ``timezones``
    and ``courses``: if it moved on, :class:`StaleLookup` is raised and nothing
    is written.

    With ``snapshots`` of every learner and nothing else in the session's
    transaction, the events are first tried optimistically: one statement writes everything
    if no learner's state changed since the snapshot and every event key is new, else it
    fails as a whole and the locking path below runs. Otherwise the writes are hand-written statements on the session's asyncpg connection,
    in the session's transaction: one statement locks the learners' state rows (sorted by user
    id) and inserts the new events, one writes the XP ledger, badge awards and states.
    """
    org_id = organisation if isinstance(organisation, int) else organisation.id
    assert org_id is not None
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
    if session.new or session.dirty or session.deleted:
        # e.g. challenges the caller just added: the reads below see them
        await session.flush()
    # reads that need no lock first, so the learners' rows are locked as briefly as possible
    zones: Mapping[int, str] = timezones or {}
    if any(uid not in zones for uid in user_ids):
        zones = await _timezones(session, org_id, user_ids)
    course_ids = {e.course_id for e in fresh.values() if e.course_id is not None}
    facts: Mapping[int, CourseFacts] = courses if courses is not None else {}
    if any(cid not in facts for cid in course_ids):
        facts = {**facts, **await course_facts(session, org_id, course_ids - set(facts))}
    if context is None:
        context = await _org_context(session, org_id, now)
    local_dates = {e.key: local_day(e.occurred_at, zones[e.user_id]) for e in fresh.values()}
    if (
        commit
        and not conflicts
        and not _recently_contended(user_ids)
        and snapshots is not None
        and all(uid in snapshots for uid in user_ids)
        and not context.team_challenge_team_ids
    ):
        done = False
        # not when the caller's transaction holds other work: lock instead
        if not (session.in_transaction() and await _adapter_in_transaction(session)):
            done = await _optimistic_write(
                await autocommit_connection(session), cache_for(session.bind), org_id, context,
                fresh, snapshots, zones, local_dates, facts, now, results, config_version,
            )  # fmt: skip
        await _release_autocommit(session)
        if done:
            return _in_request_order(results, events)
    pg = await driver_connection(session, begin=True)

    # insert first: a key that is already stored is skipped and then told apart below
    # (same content: duplicate; different: conflict)
    cache_for(session.bind).forget_states(user_ids)  # their versions move on here
    documents, event_ids, current = await _pg_lock_and_insert(
        pg, org_id, user_ids, list(fresh.values()), local_dates, now, config_version
    )
    if config_version is not None and current != config_version:
        await session.rollback()
        cache_for(session.bind).forget_org(org_id)
        raise StaleLookup(f"organisation {org_id} changed since it was read")
    stored = [key for key in fresh if key not in event_ids]
    if stored:
        known = await pg.fetch(_PG_KNOWN_EVENTS, org_id, stored)
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
        states = await with_all_tallies(
            session,
            org_id,
            {uid: EngineState.from_dict(doc or {}) for uid, doc in documents.items()},
            badges=context.badges,
            challenges=context.individual_challenges,
            leave_out=set(fresh),
        )
        writes = _apply_new_events(
            org_id, context, list(fresh.values()), states, zones, local_dates, event_ids,
            facts, now, results,
        )  # fmt: skip
        await _pg_write(pg, org_id, writes, event_ids, now)
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
    return _in_request_order(results, events)


_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


def _ints(values: Iterable[int]) -> str:
    """Integers as one comma-joined text (``string_to_array($n, ',')::int[]`` in SQL)."""
    return ",".join(map(str, values))


def _words(values: Iterable[str]) -> str:
    """Words without commas (event kinds and sources, XP reasons, hex digests) as one
    comma-joined text (``string_to_array($n, ',')`` in SQL)."""
    return ",".join(values)


# The learning_event rows of the PostgreSQL statements: each parameter as it is read, in the
# order :func:`_event_columns` passes them (integers and words comma-joined, the rest arrays).
_EVENT_PARAMETERS = (
    "string_to_array(${}, ',')::int[]",  # user
    "${}::text[]",  # idempotency key
    "string_to_array(${}, ',')",  # kind
    "string_to_array(${}, ',')",  # source
    "string_to_array(${}, ',')::int[]",  # course, 0 for none
    "string_to_array(${}, ',')::int[]",  # competency, 0 for none
    "${}::text[]",  # activity
    "${}::text[]",  # title
    "string_to_array(${}, ',')::int[]",  # minutes
    "${}::timestamptz[]",  # occurred
    "${}::date[]",  # local date
    "string_to_array(${}, ',')",  # payload hash
    "${}::text[]",  # payload
)


def _event_insert(first: int) -> str:
    """``INSERT INTO learning_event ... FROM unnest(...) AS v(...)`` for the columns of
    :func:`_event_columns` as parameters ``$first`` on (the caller adds its WHERE)."""
    parameters = ", ".join(p.format(first + i) for i, p in enumerate(_EVENT_PARAMETERS))
    return f"""INSERT INTO learning_event (organisation_id, user_id, idempotency_key, kind, source,
    course_id, competency_id, activity_id, title, minutes, occurred_at, local_date,
    payload_hash, payload, created_at)
  SELECT $1, v.u, v.k, v.kind, v.source, nullif(v.course, 0), nullif(v.competency, 0),
    v.activity, v.title, v.minutes, v.occurred, v.local_date, v.hash, v.payload::json, $2
  FROM unnest({parameters})
       AS v(u, k, kind, source, course, competency, activity, title, minutes, occurred,
            local_date, hash, payload)"""


def _event_columns(events: Sequence[IncomingEvent], local_dates: Mapping[str, date]) -> list[Any]:
    """The learning_event columns in the order the PostgreSQL statements take
    (:data:`_EVENT_PARAMETERS`): integers and words comma-joined (no course or competency:
    0), the rest as arrays."""
    return [
        _ints([e.user_id for e in events]),
        [e.key for e in events],
        _words([e.kind for e in events]),
        _words([e.source for e in events]),
        _ints([e.course_id or 0 for e in events]),
        _ints([e.competency_id or 0 for e in events]),
        [e.activity_id for e in events],
        [e.title[:300] for e in events],
        _ints([e.minutes for e in events]),
        [e.occurred_at for e in events],
        [local_dates[e.key] for e in events],
        _words([e.content_hash() for e in events]),
        [_json_encode(e.payload).decode() for e in events],
    ]


# The optimistic write: everything in one statement, outside any transaction. The learners'
# state rows are upserted in user id order and only where the version is still the one read
# (a missing row counts as version 0, like a row that was created but never written); the
# events are inserted after every state row is locked; the ledger joins the inserted events
# for their ids. Unless every state row and every event was written, the first SELECT divides
# by zero and the whole statement is undone (the caller then takes the locking path); so it
# does when the organisation's config version is no longer the one the caller read.
# Integer columns and the words of the event and ledger columns travel as comma-joined text
# (``_ints``, ``_words``): asyncpg checks every element of an array parameter on its way.
_PG_OPTIMISTIC = f"""
WITH st AS (
  INSERT INTO learner_state AS s (user_id, organisation_id, data, xp_total, level,
    current_streak, longest_streak, freezes_banked, weekly_goal_minutes, last_active_date,
    version, updated_at, next_nudge_at)
  SELECT v.u, $1, v.data::json, v.xp_total, v.level, v.current_streak, v.longest_streak,
    v.freezes_banked, v.weekly_goal_minutes, v.last_active_date, v.version, $2, $2
  FROM unnest(string_to_array($3, ',')::int[], $4::text[], string_to_array($5, ',')::int[],
              string_to_array($6, ',')::int[], string_to_array($7, ',')::int[],
              string_to_array($8, ',')::int[], string_to_array($9, ',')::int[],
              string_to_array($10, ',')::int[], $11::date[], string_to_array($12, ',')::int[])
       AS v(u, data, xp_total, level, current_streak, longest_streak, freezes_banked,
            weekly_goal_minutes, last_active_date, version)
  ORDER BY v.u
  ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, xp_total = excluded.xp_total,
    level = excluded.level, current_streak = excluded.current_streak,
    longest_streak = excluded.longest_streak, freezes_banked = excluded.freezes_banked,
    weekly_goal_minutes = excluded.weekly_goal_minutes,
    last_active_date = excluded.last_active_date, version = excluded.version,
    updated_at = excluded.updated_at,
    next_nudge_at = LEAST(coalesce(s.next_nudge_at, excluded.next_nudge_at), excluded.next_nudge_at)
  WHERE s.organisation_id = $1 AND s.version = excluded.version - 1
  RETURNING s.user_id
), ev AS (
  {_event_insert(13)}
  WHERE (SELECT count(*) FROM st) = cardinality(string_to_array($3, ','))
  ON CONFLICT (organisation_id, idempotency_key) DO NOTHING
  RETURNING id, idempotency_key
), ledger AS (
  INSERT INTO xp_ledger (organisation_id, user_id, event_id, amount, reason, local_date,
    created_at)
  SELECT $1, v.u, ev.id, v.amount, v.reason, v.d, $2
  FROM unnest(string_to_array($26, ',')::int[], $27::text[], string_to_array($28, ',')::int[],
              string_to_array($29, ','), $30::date[])
       AS v(u, k, amount, reason, d)
  JOIN ev ON ev.idempotency_key = v.k
), awards AS (
  INSERT INTO badge_award (organisation_id, user_id, badge_code, tier, evidence, public_id,
    awarded_at)
  SELECT $1, v.u, v.code, v.tier, v.evidence::json, v.public_id, $2
  FROM unnest($31::int[], $32::text[], $33::text[], $34::text[], $35::text[])
       AS v(u, code, tier, evidence, public_id)
  WHERE (SELECT count(*) FROM ev) = cardinality($14::text[])
  ON CONFLICT (user_id, badge_code, tier) DO NOTHING
)
SELECT 1 / ((SELECT count(*) FROM st) = cardinality(string_to_array($3, ','))
            AND (SELECT count(*) FROM ev) = cardinality($14::text[])
            AND ($36::bigint IS NULL
                 OR (SELECT config_version FROM organisation WHERE id = $1) = $36))::int,
       NULL::bigint, NULL
UNION ALL SELECT 0, id, idempotency_key FROM ev
"""


# learners whose optimistic write lost a race lately: their next events go straight to the
# lock (a learner whose events arrive in parallel would otherwise compute every event twice)
_contended_at: dict[int, float] = {}
CONTENDED_SECONDS = 2.0


def _recently_contended(user_ids: Sequence[int]) -> bool:
    if not _contended_at:
        return False
    now = time.monotonic()
    if len(_contended_at) > 10_000:
        for uid in [u for u, at in _contended_at.items() if now - at > CONTENDED_SECONDS]:
            del _contended_at[uid]
    return any(
        now - _contended_at.get(uid, -CONTENDED_SECONDS) < CONTENDED_SECONDS for uid in user_ids
    )


async def _optimistic_write(
    pg: Any,
    cache: IngestionCache,
    org_id: int,
    context: OrgContext,
    fresh: dict[str, IncomingEvent],
    snapshots: Mapping[int, StateSnapshot],
    zones: Mapping[int, str],
    local_dates: dict[str, date],
    courses: Mapping[int, CourseFacts],
    now: datetime,
    results: dict[str, EventResult],
    config_version: int | None,
) -> bool:
    """Record new events in one statement if nothing changed since ``snapshots`` (and the
    organisation is still at ``config_version``); False (and nothing written) when a
    learner's state moved on, an event key was already stored or the organisation changed.
    On success the learners' new states are kept in ``cache``."""
    events = list(fresh.values())
    user_ids = sorted({e.user_id for e in events})
    engine_states = {
        uid: snapshots[uid].state or EngineState.from_dict(snapshots[uid].document or {})
        for uid in user_ids
    }
    badges, challenges = context.badges, context.individual_challenges
    if any(needs_stored_history(s, badges, challenges) for s in engine_states.values()):
        return False  # their history is read under the lock
    mine: dict[str, EventResult] = {}
    writes = _apply_new_events(
        org_id, context, events, engine_states, zones, local_dates, {}, courses, now, mine
    )
    if any(r.status != "created" for r in mine.values()):
        return False  # the snapshot already had one of these facts: sort it out under the lock
    states = [(uid, writes.states[uid]) for uid in user_ids]
    ledger, awards = writes.ledger, writes.awards
    try:
        rows = await pg.fetch(
            _PG_OPTIMISTIC,
            org_id,
            now,
            _ints([uid for uid, _ in states]),
            [_json_encode(c["data"]).decode() for _, c in states],
            _ints([c["xp_total"] for _, c in states]),
            _ints([c["level"] for _, c in states]),
            _ints([c["current_streak"] for _, c in states]),
            _ints([c["longest_streak"] for _, c in states]),
            _ints([c["freezes_banked"] for _, c in states]),
            _ints([c["weekly_goal_minutes"] for _, c in states]),
            [c["last_active_date"] for _, c in states],
            _ints([snapshots[uid].version + 1 for uid, _ in states]),
            *_event_columns(events, local_dates),
            _ints([r[0] for r in ledger]),
            [r[1] for r in ledger],
            _ints([r[2] for r in ledger]),
            _words([r[3] for r in ledger]),
            [r[4] for r in ledger],
            [a[0] for a in awards],
            [a[1] for a in awards],
            [a[2] for a in awards],
            [_json_encode(a[3]).decode() for a in awards],
            [a[4] for a in awards],
            config_version,
        )
    except asyncpg.DivisionByZeroError:
        _contended_at.update(dict.fromkeys(user_ids, time.monotonic()))
        cache.forget_states(user_ids)
        return False
    for _ok, event_id, key in rows:
        if key is not None:
            mine[key].event_id = event_id
    results.update(mine)
    for uid in user_ids:
        cache.remember_state(org_id, uid, snapshots[uid].version + 1, writes.engine_states[uid])
    return True


async def record_from_memory(
    engine: Any,
    organisation_id: int,
    events: Sequence[IncomingEvent],
    *,
    context: OrgContext,
    timezones: Mapping[int, str],
    courses: Mapping[int, CourseFacts],
    snapshots: Mapping[int, StateSnapshot],
    config_version: int,
    now: datetime,
) -> list[EventResult] | None:
    """Record ``events`` with one statement on a pooled connection, from what the ingestion
    cache holds (``backend.learning.ingest_cache``): no ORM session, no reads. None when
    that is not enough (a duplicate key, a learner whose state or history is not at hand,
    a contended learner, team challenges to update, the organisation changed): nothing
    was written then, and :func:`record_events` does it the full way."""
    fresh: dict[str, IncomingEvent] = {}
    for event in events:
        if event.key in fresh:
            return None  # duplicates inside one batch: sorted out the full way
        fresh[event.key] = event
    user_ids = sorted({e.user_id for e in fresh.values()})
    if (
        not user_ids
        or context.team_challenge_team_ids
        or _recently_contended(user_ids)
        or any(uid not in snapshots or uid not in timezones for uid in user_ids)
        or any(e.course_id is not None and e.course_id not in courses for e in fresh.values())
    ):
        return None
    local_dates = {e.key: local_day(e.occurred_at, timezones[e.user_id]) for e in fresh.values()}
    results: dict[str, EventResult] = {}
    try:
        async with pooled_connection(engine) as pg:
            done = await _optimistic_write(
                pg, cache_for(engine), organisation_id, context, fresh, snapshots, timezones,
                local_dates, courses, now, results, config_version,
            )  # fmt: skip
    except CONNECTION_ERRORS:
        # e.g. a connection the server closed: the full way retries (keys make that safe)
        done = False
    if not done:
        return None
    return _in_request_order(results, events)


async def _adapter_in_transaction(session: AsyncSession) -> bool:
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapter: Any = fairy.dbapi_connection
    return adapter._transaction is not None


# --- PostgreSQL: hand-written statements on the asyncpg connection (prepared once per
# connection by asyncpg); every statement filters by the organisation.

# Lock the learners' state rows (created when missing; sorted, so lockers cannot deadlock) and
# insert the events whose key is new, in one statement. The events' insert reads the lock's
# count first, so every row lock is held before any event key is claimed: a concurrent request
# with the same key then waits on the learner's row, never in the other order (no deadlock).
_PG_LOCK_AND_INSERT = f"""
WITH st AS (
  INSERT INTO learner_state AS s (user_id, organisation_id, xp_total, level, current_streak,
    longest_streak, freezes_banked, weekly_goal_minutes, data, version, updated_at)
  SELECT u, $1, 0, 1, 0, 0, 0, 60, '{{}}'::json, 0, $2 FROM unnest($3::int[]) AS u ORDER BY u
  ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id WHERE s.organisation_id = $1
  RETURNING s.user_id, s.data::text AS data
), ev AS (
  {_event_insert(4)}
  WHERE (SELECT count(*) FROM st) > 0
    AND ($17::bigint IS NULL OR (SELECT config_version FROM organisation WHERE id = $1) = $17)
  ON CONFLICT (organisation_id, idempotency_key) DO NOTHING
  RETURNING id, idempotency_key
)
SELECT user_id::bigint AS id, NULL::text AS key, data FROM st
UNION ALL SELECT id, idempotency_key, NULL FROM ev
UNION ALL SELECT config_version, '#config', NULL FROM organisation WHERE id = $1
"""

_PG_KNOWN_EVENTS = """
SELECT idempotency_key, payload_hash, user_id, id FROM learning_event
WHERE organisation_id = $1 AND idempotency_key = ANY($2::text[])
"""

# The engine's results in one statement: XP ledger, badge awards (a tier already awarded is
# left alone) and the learners' states; ``next_nudge_at`` no later than now tells the nudge
# scheduler (a learner already due keeps the value, so the index entry stays: a HOT update).
_PG_WRITE = """
WITH ledger AS (
  INSERT INTO xp_ledger (organisation_id, user_id, event_id, amount, reason, local_date,
    created_at)
  SELECT $1, v.u, v.e, v.amount, v.reason, v.d, $2
  FROM unnest($3::int[], $4::bigint[], $5::int[], $6::text[], $7::date[])
       AS v(u, e, amount, reason, d)
), awards AS (
  INSERT INTO badge_award (organisation_id, user_id, badge_code, tier, evidence, public_id,
    awarded_at)
  SELECT $1, v.u, v.code, v.tier, v.evidence::json, v.public_id, $2
  FROM unnest($8::int[], $9::text[], $10::text[], $11::text[], $12::text[])
       AS v(u, code, tier, evidence, public_id)
  ON CONFLICT (user_id, badge_code, tier) DO NOTHING
)
UPDATE learner_state AS s SET data = v.data::json, xp_total = v.xp_total, level = v.level,
  current_streak = v.current_streak, longest_streak = v.longest_streak,
  freezes_banked = v.freezes_banked, weekly_goal_minutes = v.weekly_goal_minutes,
  last_active_date = v.last_active_date, updated_at = $2,
  next_nudge_at = LEAST(coalesce(s.next_nudge_at, $2), $2),
  version = s.version + 1
FROM unnest($13::int[], $14::text[], $15::int[], $16::int[], $17::int[], $18::int[], $19::int[],
            $20::int[], $21::date[])
     AS v(u, data, xp_total, level, current_streak, longest_streak, freezes_banked,
          weekly_goal_minutes, last_active_date)
WHERE s.user_id = v.u AND s.organisation_id = $1
"""


async def _pg_lock_and_insert(
    pg: Any,
    org_id: int,
    user_ids: list[int],
    events: list[IncomingEvent],
    local_dates: dict[str, date],
    now: datetime,
    config_version: int | None,
) -> tuple[dict[int, dict[str, Any]], dict[str, int], int]:
    """The learners' locked state documents, the ids of the events that were new, and the
    organisation's config version (no event is inserted if it is not ``config_version``)."""
    rows = await pg.fetch(
        _PG_LOCK_AND_INSERT,
        org_id,
        now,
        user_ids,
        *_event_columns(events, local_dates),
        config_version,
    )
    documents: dict[int, dict[str, Any]] = {}
    event_ids: dict[str, int] = {}
    current = 0
    for row_id, key, data in rows:
        if key is None:
            documents[row_id] = _json_decode(data) if data else {}
        elif key == "#config":
            current = row_id
        else:
            event_ids[key] = row_id
    return documents, event_ids, current


async def _pg_write(
    pg: Any, org_id: int, writes: _Writes, event_ids: Mapping[str, int], now: datetime
) -> None:
    ledger, awards, states = writes.ledger, writes.awards, list(writes.states.items())
    await pg.execute(
        _PG_WRITE,
        org_id,
        now,
        [r[0] for r in ledger],
        [event_ids.get(r[1]) for r in ledger],
        [r[2] for r in ledger],
        [r[3] for r in ledger],
        [r[4] for r in ledger],
        [a[0] for a in awards],
        [a[1] for a in awards],
        [a[2] for a in awards],
        [_json_encode(a[3]).decode() for a in awards],
        [a[4] for a in awards],
        [uid for uid, _ in states],
        [_json_encode(c["data"]).decode() for _, c in states],
        [c["xp_total"] for _, c in states],
        [c["level"] for _, c in states],
        [c["current_streak"] for _, c in states],
        [c["longest_streak"] for _, c in states],
        [c["freezes_banked"] for _, c in states],
        [c["weekly_goal_minutes"] for _, c in states],
        [c["last_active_date"] for _, c in states],
    )


def _event_fact(event: IncomingEvent, local_date: date, course: CourseFacts | None) -> LearningFact:
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
    org_id: int,
    context: OrgContext,
    events: list[IncomingEvent],
    states: Mapping[int, EngineState],
    timezones: Mapping[int, str],
    local_dates: dict[str, date],
    event_ids: dict[str, int],
    courses: Mapping[int, CourseFacts],
    now: datetime,
    results: dict[str, EventResult],
) -> _Writes:
    """Run the new events through the engine, per learner in time order (no I/O)."""
    rules = context.rules
    badges = context.badges
    challenges = context.individual_challenges
    writes = _Writes()
    by_user: dict[int, list[IncomingEvent]] = defaultdict(list)
    for event in events:
        by_user[event.user_id].append(event)
    for user_id, user_events in by_user.items():
        state = states.get(user_id) or EngineState()
        tz = timezones[user_id]
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
