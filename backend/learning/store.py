"""The SQL of recording learning: every statement ingestion runs, on an asyncpg connection.

Hand-written for PostgreSQL (asyncpg prepares each once per connection); every statement
filters by the organisation. Integer columns and the words of the event and ledger columns
travel as comma-joined text (:func:`_ints`, :func:`_words`): asyncpg checks every element
of an array parameter on its way, a string once.
"""

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec

from backend.learning.model import IncomingEvent, LookupKeys
from backend.lrs import statement_store
from gamification import LearnerState as EngineState
from gamification import LearningFact

_json_encode = msgspec.json.Encoder().encode


@dataclass
class Writes:
    """The rows one ingestion writes, computed by the engine before anything is written."""

    ledger: list[tuple[int, str, int, str, date]] = field(default_factory=list)  # key, not id
    awards: list[tuple[int, str, str, list[str], str]] = field(default_factory=list)
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    activity: dict[int, list[LearningFact]] = field(default_factory=dict)
    engine_states: dict[int, EngineState] = field(default_factory=dict)


# One round trip for everything an ingestion request reads before it locks:
# the named active learners with their state rows, the named courses with their
# competencies, the named competencies, the organisation's settings, active badges and recent challenges (as JSON
# text, decoded by msgspec). Built per combination of lookups, so no branch scans for nothing.
_PG_LOOKUP_HEAD = """
SELECT o.config_version, o.default_timezone, o.settings::text,
  (SELECT coalesce(json_agg(json_build_array(b.id, b.code, b.name, b.criterion, b.tiers)
                            ORDER BY b.id), '[]'::json)
     FROM badge_definition b WHERE b.organisation_id = $1 AND b.is_active)::text,
  (SELECT coalesce(json_agg(json_build_array(c.id, c.kind, c.team_id, c.ends_on, c.definition)
                            ORDER BY c.id), '[]'::json)
     FROM challenge c WHERE c.organisation_id = $1 AND c.ends_on >= $2)::text,
"""
_PG_LEARNERS = """
  (SELECT coalesce(json_agg(json_build_array(u.id, u.email, u.external_id, u.timezone,
            coalesce(ls.version, 0), ls.data)), '[]')
     FROM ({branches}) AS u
     LEFT JOIN LATERAL (SELECT version, data FROM learner_state
                         WHERE user_id = u.id AND organisation_id = $1) AS ls ON {states}
  )::text,
"""
# The hot-skill seasons naming a course ``{course}`` or one of its competencies, as a JSON
# array of [starts_on, ends_on]; a course is hot on the days they cover (and always when
# its own flag is set). Archived courses are found too: statements about them still count.
HOT_SEASONS_SQL = """(SELECT coalesce(json_agg(json_build_array(s.starts_on, s.ends_on)
                                ORDER BY s.starts_on, s.id), '[]')
     FROM hot_skill_season s
    WHERE s.organisation_id = {org}
      AND ({course} = ANY(s.course_ids)
           OR EXISTS (SELECT 1 FROM course_competency sc
                       WHERE sc.course_id = {course} AND sc.organisation_id = {org}
                         AND sc.competency_id = ANY(s.competency_ids))))"""
_PG_COURSES = (
    """
  (SELECT coalesce(json_agg(json_build_array(c.id, c.title, c.duration_minutes, c.hot_skill,
            c.external_id, c.xapi_activity_id,
            (SELECT coalesce(json_agg(cc.competency_id), '[]') FROM course_competency cc
              WHERE cc.course_id = c.id AND cc.organisation_id = $1),
            """
    + HOT_SEASONS_SQL.format(course="c.id", org="$1")
    + """)), '[]')
     FROM ({branches}) AS c)::text,
"""
)
_PG_COMPETENCIES = """
  (SELECT coalesce(json_agg(id), '[]') FROM competency
    WHERE organisation_id = $1 AND ({condition}))::text
"""
_LEARNER_COLUMNS = "SELECT id, email, external_id, timezone FROM user_account"
_COURSE_COLUMNS = (
    "SELECT id, title, duration_minutes, hot_skill, external_id, xapi_activity_id FROM course"
)


@functools.cache
def _lookup_statement(
    everyone: bool,
    learner_filters: tuple[str, ...],
    course_filters: tuple[str, ...],
    competency_filters: tuple[str, ...],
) -> str:
    """The lookup statement; filters are ``column = ANY($n::type[])`` conditions."""
    if everyone:
        learners = f"{_LEARNER_COLUMNS} WHERE organisation_id = $1 AND is_active"
    else:
        learners = (
            "\n UNION ".join(
                f"{_LEARNER_COLUMNS} WHERE organisation_id = $1 AND is_active AND {f}"
                for f in learner_filters
            )
            or f"{_LEARNER_COLUMNS} WHERE false"
        )
    courses = (
        "\n UNION ".join(
            f"{_COURSE_COLUMNS} WHERE organisation_id = $1 AND {f}" for f in course_filters
        )
        or f"{_COURSE_COLUMNS} WHERE false"
    )
    competencies = " OR ".join(competency_filters) or "false"
    return (
        _PG_LOOKUP_HEAD
        + _PG_LEARNERS.format(branches=learners, states="false" if everyone else "true")
        + _PG_COURSES.format(branches=courses)
        + _PG_COMPETENCIES.format(condition=competencies)
        + "FROM organisation o WHERE o.id = $1"
    )


async def fetch_lookup(pg: Any, organisation_id: int, since: date, keys: LookupKeys) -> Any:
    """The lookup row: the organisation's config version, default timezone, settings, active
    badges and challenges ending on or after ``since``, then the learners (with their state
    rows unless ``keys.everyone``), the courses and the competency ids ``keys`` names, each
    as JSON text."""
    params: list[Any] = [organisation_id, since]

    def filters(pairs: list[tuple[str, str, Sequence[Any]]]) -> tuple[str, ...]:
        conditions = []
        for column, sql_type, values in pairs:
            if values:
                params.append(list(values))
                conditions.append(f"{column} = ANY(${len(params)}::{sql_type}[])")
        return tuple(conditions)

    learner_filters = (
        ()
        if keys.everyone
        else filters(
            [
                ("email", "text", [e.lower() for e in keys.emails]),
                ("external_id", "text", keys.external_ids),
                ("id", "int", keys.ids),
            ]
        )
    )
    course_filters = filters(
        [
            ("id", "int", keys.course_ids),
            ("external_id", "text", keys.course_external_ids),
            ("xapi_activity_id", "text", keys.activity_ids),
        ]
    )
    competency_filters = filters([("id", "int", keys.competency_ids)])
    statement = _lookup_statement(
        keys.everyone, learner_filters, course_filters, competency_filters
    )
    return await pg.fetchrow(statement, *params)


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


# The optimistic write: everything in one statement, outside any transaction, with the xAPI
# statements the events came in when there are (``backend.lrs.statement_store``). The learners'
# state rows are upserted in user id order and only where the version is still the one read
# (a missing row counts as version 0, like a row that was created but never written); the
# events are inserted after every state row is locked; the ledger joins the inserted events
# for their ids. Unless every state row, every event and every statement was written, the
# first SELECT divides by zero and the whole statement is undone (the caller then takes the
# locking path); so it does when the organisation's config version is no longer the one the
# caller read.
_PG_AWARDS = """, awards AS (
  INSERT INTO badge_award (organisation_id, user_id, badge_code, tier, evidence, public_id,
    awarded_at)
  SELECT $1, v.u, v.code, v.tier, v.evidence::json, v.public_id, $2
  FROM unnest($32::int[], $33::text[], $34::text[], $35::text[], $36::text[])
       AS v(u, code, tier, evidence, public_id)
  WHERE (SELECT count(*) FROM ev) = cardinality($14::text[])
  ON CONFLICT (user_id, badge_code, tier) DO NOTHING
)"""


_FIRST_STATEMENT_PARAMETER = {False: 32, True: 37}  # after the awards' when there are any


def _optimistic_statement(awards: bool, statements: bool) -> str:
    """The optimistic write, with the badge awards' insert only when there are awards (most
    events earn none: five array parameters fewer to encode) and the xAPI statements' (all
    new, or nothing is written) only when the events come with their statements."""
    first = _FIRST_STATEMENT_PARAMETER[awards]
    # after the events (its WHERE reads them): learners' rows, event keys, then statement ids
    # are locked in that order, as on the locked way, so the two cannot deadlock
    kept = (
        f""", xs AS (
  {statement_store.insert_sql(first, "(SELECT count(*) FROM ev) = cardinality($14::text[])")}
)"""
        if statements
        else ""
    )
    # ... and none of them voided before it arrived (backend.learning.voiding: the locked way
    # sets those aside), read after they are inserted and with a snapshot of its own: a
    # voiding stored since this statement began is seen too (migration 0037)
    all_kept = (
        f"""AND (SELECT count(*) FROM xs) = cardinality(${first}::uuid[])
            AND cardinality(xapi_statements_voided_now(
                  $1, ARRAY(SELECT statement_id FROM xs))) = 0"""
        if statements
        else ""
    )
    return f"""
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
){_PG_AWARDS if awards else ""}{kept}
SELECT 1 / ((SELECT count(*) FROM st) = cardinality(string_to_array($3, ','))
            AND (SELECT count(*) FROM ev) = cardinality($14::text[]) {all_kept}
            AND ($31::bigint IS NULL
                 OR (SELECT config_version FROM organisation WHERE id = $1) = $31))::int,
       NULL::bigint, NULL
UNION ALL SELECT 0, id, idempotency_key FROM ev
"""


_PG_OPTIMISTIC = {
    (awards, statements): _optimistic_statement(awards, statements)
    for awards in (False, True)
    for statements in (False, True)
}


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
  FROM unnest(string_to_array($3, ',')::int[], string_to_array($4, ',')::bigint[],
              string_to_array($5, ',')::int[], string_to_array($6, ','), $7::date[])
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
FROM unnest(string_to_array($13, ',')::int[], $14::text[], string_to_array($15, ',')::int[],
            string_to_array($16, ',')::int[], string_to_array($17, ',')::int[],
            string_to_array($18, ',')::int[], string_to_array($19, ',')::int[],
            string_to_array($20, ',')::int[], $21::date[])
     AS v(u, data, xp_total, level, current_streak, longest_streak, freezes_banked,
          weekly_goal_minutes, last_active_date)
WHERE s.user_id = v.u AND s.organisation_id = $1
"""


async def lock_and_insert(
    pg: Any,
    org_id: int,
    user_ids: list[int],
    events: list[IncomingEvent],
    local_dates: Mapping[str, date],
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


async def known_events(pg: Any, org_id: int, keys: list[str]) -> list[Any]:
    """``(key, payload hash, user id, event id)`` of the events already stored under ``keys``."""
    return list(await pg.fetch(_PG_KNOWN_EVENTS, org_id, keys))


def _state_columns(states: Sequence[tuple[int, Mapping[str, Any]]]) -> list[Any]:
    """The learner_state columns both writes take, in their order: user, data, xp_total,
    level, current_streak, longest_streak, freezes_banked, weekly_goal_minutes (integers
    comma-joined) and last_active_date."""
    return [
        _ints([uid for uid, _ in states]),
        [_json_encode(c["data"]).decode() for _, c in states],
        _ints([c["xp_total"] for _, c in states]),
        _ints([c["level"] for _, c in states]),
        _ints([c["current_streak"] for _, c in states]),
        _ints([c["longest_streak"] for _, c in states]),
        _ints([c["freezes_banked"] for _, c in states]),
        _ints([c["weekly_goal_minutes"] for _, c in states]),
        [c["last_active_date"] for _, c in states],
    ]


def _award_columns(awards: Sequence[tuple[int, str, str, list[str], str]]) -> list[Any]:
    """The badge_award columns both writes take: user, code, tier, evidence, public id."""
    return [
        [a[0] for a in awards],
        [a[1] for a in awards],
        [a[2] for a in awards],
        [_json_encode(a[3]).decode() for a in awards],
        [a[4] for a in awards],
    ]


async def write(
    pg: Any, org_id: int, writes: Writes, event_ids: Mapping[str, int], now: datetime
) -> None:
    """The engine's results, under the learners' row locks."""
    ledger = writes.ledger
    await pg.execute(
        _PG_WRITE,
        org_id,
        now,
        _ints([r[0] for r in ledger]),
        _ints([event_ids[r[1]] for r in ledger]),
        _ints([r[2] for r in ledger]),
        _words([r[3] for r in ledger]),
        [r[4] for r in ledger],
        *_award_columns(writes.awards),
        *_state_columns(list(writes.states.items())),
    )


async def write_optimistically(
    pg: Any,
    org_id: int,
    events: list[IncomingEvent],
    local_dates: Mapping[str, date],
    writes: Writes,
    versions: Mapping[int, int],
    now: datetime,
    config_version: int | None,
    statements: statement_store.Batch | None = None,
) -> dict[str, int] | None:
    """Everything in one statement, outside any transaction, if every learner's state row is
    still at ``versions[user] - 1``, every event key is new, so is every one of the xAPI
    ``statements`` the events came in, and the organisation is still at ``config_version``:
    the new events' ids by key. None (nothing written) otherwise."""
    states = [(uid, writes.states[uid]) for uid in sorted(writes.states)]
    ledger, awards = writes.ledger, writes.awards
    try:
        rows = await pg.fetch(
            _PG_OPTIMISTIC[bool(awards), statements is not None],
            org_id,
            now,
            *_state_columns(states),
            _ints([versions[uid] for uid, _ in states]),
            *_event_columns(events, local_dates),
            _ints([r[0] for r in ledger]),
            [r[1] for r in ledger],
            _ints([r[2] for r in ledger]),
            _words([r[3] for r in ledger]),
            [r[4] for r in ledger],
            config_version,
            *(_award_columns(awards) if awards else []),
            *(statements.columns() if statements is not None else []),
        )
    except asyncpg.DivisionByZeroError:  # the statement's own way of saying "not all of it"
        return None
    if statements is not None:
        statements.inserted = [r.statement_id for r in statements.rows]
    return {key: event_id for _ok, event_id, key in rows if key is not None}


_json_decode = msgspec.json.Decoder().decode
