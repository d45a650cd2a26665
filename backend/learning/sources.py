"""Turning what each source sends into :class:`IncomingEvent`s: who learned, which course.

Idempotency keys are namespaced by source (``xapi:``, ``webhook:``, ``api:``, ``pwa:``) so
an xAPI statement id can never collide with a webhook delivery id.
"""

import base64
import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import and_, col, or_
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Course, CourseCompetency, User
from backend.learning.history import CourseFacts
from backend.learning.ingest_cache import IngestionCache, cache_for
from backend.learning.service import (
    IncomingEvent,
    OrgContext,
    StateSnapshot,
    autocommit_connection,
    challenge_window_start,
    org_context_from_rows,
)
from backend.learning.xapi import ActorRef, ParsedStatement, mbox_sha1sum
from backend.settings import Settings
from gamification import local_day


class UnknownReference(ValueError):
    """A learner, course or competency that is not in the caller's organisation."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


NO_LEARNER = "no active learner of this organisation matches this actor"


@dataclass(frozen=True)
class CourseInfo:
    id: int
    title: str
    duration_minutes: int
    hot_skill: bool = False
    competencies: frozenset[int] = frozenset()


class CourseDirectory:
    """Courses of one organisation, looked up by id, external id or xAPI activity id."""

    def __init__(
        self, courses: Iterable[CourseInfo], keys: Iterable[tuple[int, str | None, str | None]] = ()
    ) -> None:
        self.by_id: dict[int, CourseInfo] = {c.id: c for c in courses}
        self.by_external: dict[str, CourseInfo] = {}
        self.by_activity: dict[str, CourseInfo] = {}
        for course_id, external_id, activity_id in keys:
            info = self.by_id[course_id]
            if external_id:
                self.by_external[external_id] = info
            if activity_id:
                self.by_activity[activity_id] = info

    @property
    def facts(self) -> dict[int, CourseFacts]:
        """What ingestion needs of every course loaded (passed to ``record_events``)."""
        return {
            c.id: CourseFacts(c.duration_minutes, c.hot_skill, c.competencies)
            for c in self.by_id.values()
        }

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        organisation_id: int,
        *,
        ids: Sequence[int] = (),
        external_ids: Sequence[str] = (),
        activity_ids: Sequence[str] = (),
    ) -> "CourseDirectory":
        if not (ids or external_ids or activity_ids):
            return cls([])
        params = {
            "org": organisation_id,
            "ids": list(ids),
            "external_ids": list(external_ids),
            "activity_ids": list(activity_ids),
        }
        query = _course_query(bool(ids), bool(external_ids), bool(activity_ids))
        rows = (await (await session.connection()).execute(query, params)).all()
        competencies: dict[int, set[int]] = {}
        first: dict[int, tuple[str, int, bool, str | None, str | None]] = {}
        for course_id, title, duration, hot, external, activity, competency_id in rows:
            if course_id is None:
                continue
            first.setdefault(course_id, (title, duration, hot, external, activity))
            links = competencies.setdefault(course_id, set())
            if competency_id is not None:
                links.add(competency_id)
        return cls(
            [
                CourseInfo(cid, title, duration, hot, frozenset(competencies[cid]))
                for cid, (title, duration, hot, _e, _a) in first.items()
            ],
            [(cid, external, activity) for cid, (_t, _d, _h, external, activity) in first.items()],
        )


@dataclass(frozen=True)
class Learner:
    """What ingestion needs of a learner (not the whole user row)."""

    id: int
    email: str
    external_id: str | None
    timezone: str


class LearnerDirectory:
    """Active learners of one organisation by e-mail, external id, id or mbox_sha1sum."""

    def __init__(self, users: Iterable[Learner]) -> None:
        self.users = list(users)
        self.by_email = {u.email: u for u in self.users}
        self.by_external = {u.external_id: u for u in self.users if u.external_id}
        self.by_id = {u.id: u for u in self.users}
        self._by_sha1: dict[str, Learner] | None = None

    @property
    def timezones(self) -> dict[int, str]:
        """Every loaded learner's timezone (passed to ``record_events``)."""
        return {u.id: u.timezone for u in self.users}

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        organisation_id: int,
        *,
        emails: Sequence[str] = (),
        external_ids: Sequence[str] = (),
        ids: Sequence[int] = (),
        everyone: bool = False,
    ) -> "LearnerDirectory":
        if not (everyone or emails or external_ids or ids):
            return cls([])
        query = _learner_query(
            everyone,
            not everyone and bool(emails),
            not everyone and bool(external_ids),
            not everyone and bool(ids),
        )
        params = {
            "org": organisation_id,
            "emails": [e.lower() for e in emails],
            "external_ids": list(external_ids),
            "ids": list(ids),
        }
        rows = (await (await session.connection()).execute(query, params)).all()
        return cls(
            Learner(uid, email, external_id, timezone)
            for uid, email, external_id, timezone in rows
            if uid is not None
        )

    def by_sha1(self, digest: str) -> Learner | None:
        if self._by_sha1 is None:
            self._by_sha1 = {mbox_sha1sum(u.email): u for u in self.users}
        return self._by_sha1.get(digest.lower())

    def find(self, actor: ActorRef) -> Learner | None:
        """The active learner ``actor`` names, if any."""
        if actor.email:
            return self.by_email.get(actor.email)
        if actor.mbox_sha1sum:
            return self.by_sha1(actor.mbox_sha1sum)
        if actor.account_name:
            return self.by_external.get(actor.account_name) or self.by_email.get(
                actor.account_name.lower()
            )
        return None

    def for_actor(self, actor: ActorRef, field: str) -> Learner:
        """:meth:`find`, or :class:`UnknownReference` naming ``field``."""
        user = self.find(actor)
        if user is None:
            raise UnknownReference(field, NO_LEARNER)
        return user


@functools.cache
def _course_query(by_id: bool, by_external: bool, by_activity: bool) -> Any:
    """The courses an ingestion request names, with their competencies (one row per link);
    built once per combination of lookups (building a statement costs more than running it)."""
    conditions = []
    if by_id:
        conditions.append(col(Course.id).in_(bindparam("ids", expanding=True)))
    if by_external:
        conditions.append(col(Course.external_id).in_(bindparam("external_ids", expanding=True)))
    if by_activity:
        conditions.append(
            col(Course.xapi_activity_id).in_(bindparam("activity_ids", expanding=True))
        )
    return (
        sa_select(
            col(Course.id),
            col(Course.title),
            col(Course.duration_minutes),
            col(Course.hot_skill),
            col(Course.external_id),
            col(Course.xapi_activity_id),
            col(CourseCompetency.competency_id),
        )
        .outerjoin(
            CourseCompetency,
            and_(
                col(CourseCompetency.course_id) == col(Course.id),
                col(CourseCompetency.organisation_id) == bindparam("org"),
            ),
        )
        .where(col(Course.organisation_id) == bindparam("org"), or_(*conditions))
    )


@functools.cache
def _learner_query(everyone: bool, by_email: bool, by_external: bool, by_id: bool) -> Any:
    """Active learners by the given lookups (or all of them), only the columns ingestion needs."""
    query = sa_select(
        col(User.id), col(User.email), col(User.external_id), col(User.timezone)
    ).where(col(User.organisation_id) == bindparam("org"), col(User.is_active).is_(True))
    if everyone:
        return query
    conditions = []
    if by_email:
        conditions.append(col(User.email).in_(bindparam("emails", expanding=True)))
    if by_external:
        conditions.append(col(User.external_id).in_(bindparam("external_ids", expanding=True)))
    if by_id:
        conditions.append(col(User.id).in_(bindparam("ids", expanding=True)))
    return query.where(or_(*conditions))


def actor_lookup_needs(statements: Sequence[ParsedStatement]) -> tuple[list[str], list[str], bool]:
    """E-mails and account names to load, and whether any actor is only a SHA-1 (needs everyone)."""
    emails = [s.actor.email for s in statements if s.actor.email]
    accounts = [s.actor.account_name for s in statements if s.actor.account_name]
    return (
        emails + [a for a in accounts if "@" in a],
        accounts,
        any(s.actor.mbox_sha1sum for s in statements),
    )


def statements_to_events(
    statements: Sequence[ParsedStatement],
    learners: LearnerDirectory,
    courses: CourseDirectory,
    now: datetime,
) -> list[IncomingEvent]:
    """The events of parsed xAPI statements (statements whose verb is not learning are left
    out); :class:`UnknownReference` names the first actor who is no learner here."""
    incoming: list[IncomingEvent] = []
    for index, statement in enumerate(statements):
        user = learners.find(statement.actor)
        if user is None:
            prefix = f"statement[{index}]" if len(statements) > 1 else "statement"
            raise UnknownReference(f"{prefix}.actor", NO_LEARNER)
        if statement.kind is None:
            continue  # a verb we don't count as learning: accepted, not recorded
        course = courses.by_activity.get(statement.activity_id)
        minutes = statement.duration_minutes
        if minutes is None:
            minutes = course.duration_minutes if course and statement.kind == "completion" else 0
        incoming.append(
            IncomingEvent(
                key=f"xapi:{statement.id}",
                user_id=user.id,
                kind=statement.kind,
                source="xapi",
                occurred_at=statement.timestamp or now,
                minutes=minutes,
                course_id=course.id if course else None,
                activity_id=statement.activity_id,
                title=(course.title if course else None)
                or statement.activity_name
                or statement.activity_id,
                # the parser built this dict for this statement: no second copy
                payload=cast("dict[str, Any]", statement.statement),
                payload_hash=statement.stored_fingerprint,
            )
        )
    return incoming


@dataclass(frozen=True)
class IngestionLookup:
    """The learners and courses a request names, and the organisation's
    context; ``context`` None means :func:`~backend.learning.service.record_events` reads it."""

    learners: LearnerDirectory
    courses: CourseDirectory
    context: OrgContext | None
    snapshots: dict[int, StateSnapshot] | None = None  # the learners' states (not locked)
    config_version: int | None = None  # the organisation's, when learners and context were read


# One round trip for everything an ingestion request reads before it locks:
# the named active learners with their state rows, the named courses with their
# competencies, the organisation's settings, active badges and recent challenges (as JSON
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
_PG_COURSES = """
  (SELECT coalesce(json_agg(json_build_array(c.id, c.title, c.duration_minutes, c.hot_skill,
            c.external_id, c.xapi_activity_id,
            (SELECT coalesce(json_agg(cc.competency_id), '[]') FROM course_competency cc
              WHERE cc.course_id = c.id AND cc.organisation_id = $1))), '[]')
     FROM ({branches}) AS c)::text
"""
_LEARNER_COLUMNS = "SELECT id, email, external_id, timezone FROM user_account"
_COURSE_COLUMNS = (
    "SELECT id, title, duration_minutes, hot_skill, external_id, xapi_activity_id FROM course"
)


@functools.cache
def _pg_lookup(
    everyone: bool,
    learner_filters: tuple[str, ...],
    course_filters: tuple[str, ...],
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
    return (
        _PG_LOOKUP_HEAD
        + _PG_LEARNERS.format(branches=learners, states="false" if everyone else "true")
        + _PG_COURSES.format(branches=courses)
        + "FROM organisation o WHERE o.id = $1"
    )


_decode = msgspec.json.Decoder().decode
_contexts: dict[tuple[Any, ...], OrgContext] = {}


def _cached_context(
    organisation_id: int,
    now: datetime,
    tz: str,
    settings: str | None,
    badges: str,
    challenges: str,
) -> OrgContext:
    """The organisation's context, built once per distinct content and local day (the rows
    are read on every request; only turning them into engine objects is cached)."""
    key = (organisation_id, local_day(now, tz), tz, settings, badges, challenges)
    context = _contexts.get(key)
    if context is None:
        if len(_contexts) >= 256:
            _contexts.clear()
        context = org_context_from_rows(
            organisation_id,
            now,
            tz,
            _decode(settings) if settings else None,
            _decode(badges),
            _decode(challenges),
        )
        _contexts[key] = context
    return context


async def load_for_ingestion(
    session: AsyncSession,
    organisation_id: int,
    now: datetime,
    *,
    emails: Sequence[str] = (),
    external_ids: Sequence[str] = (),
    ids: Sequence[int] = (),
    everyone: bool = False,
    course_ids: Sequence[int] = (),
    course_external_ids: Sequence[str] = (),
    activity_ids: Sequence[str] = (),
) -> IngestionLookup:
    """The learners and courses an ingestion request names (one round trip, outside the
    transaction that then locks the learners)."""
    cache = cache_for(session.bind)
    if not (everyone or ids or course_ids or course_external_ids):
        hit = cached_lookup(cache, organisation_id, emails, external_ids, activity_ids)
        if hit is not None:
            return hit
    return await read_lookup(
        await autocommit_connection(session),
        cache,
        organisation_id,
        now,
        emails=emails,
        external_ids=external_ids,
        ids=ids,
        everyone=everyone,
        course_ids=course_ids,
        course_external_ids=course_external_ids,
        activity_ids=activity_ids,
    )


async def read_lookup(
    pg: Any,
    cache: IngestionCache,
    organisation_id: int,
    now: datetime,
    *,
    emails: Sequence[str] = (),
    external_ids: Sequence[str] = (),
    ids: Sequence[int] = (),
    everyone: bool = False,
    course_ids: Sequence[int] = (),
    course_external_ids: Sequence[str] = (),
    activity_ids: Sequence[str] = (),
) -> IngestionLookup:
    """:func:`load_for_ingestion`: one statement on the asyncpg connection
    ``pg``; what it read is kept in ``cache`` (unless it read everyone)."""
    params: list[Any] = [organisation_id, challenge_window_start(now)]

    def filters(pairs: list[tuple[str, str, list[Any]]]) -> tuple[str, ...]:
        conditions = []
        for column, sql_type, values in pairs:
            if values:
                params.append(values)
                conditions.append(f"{column} = ANY(${len(params)}::{sql_type}[])")
        return tuple(conditions)

    learner_filters = (
        ()
        if everyone
        else filters(
            [
                ("email", "text", [e.lower() for e in emails]),
                ("external_id", "text", list(external_ids)),
                ("id", "int", list(ids)),
            ]
        )
    )
    course_filters = filters(
        [
            ("id", "int", list(course_ids)),
            ("external_id", "text", list(course_external_ids)),
            ("xapi_activity_id", "text", list(activity_ids)),
        ]
    )
    version, tz, settings, badges, challenges, learner_rows, course_rows = await pg.fetchrow(
        _pg_lookup(everyone, learner_filters, course_filters), *params
    )
    context = _cached_context(organisation_id, now, tz, settings, badges, challenges)
    decoded_learners = _decode(learner_rows)
    learners = LearnerDirectory(
        Learner(uid, email, external, zone)
        for uid, email, external, zone, _v, _d in decoded_learners
    )
    # everyone (a SHA-1 actor) reads no states: the locking path reads only those it needs
    snapshots = (
        None if everyone else {row[0]: StateSnapshot(row[4], row[5]) for row in decoded_learners}
    )
    decoded = _decode(course_rows)
    courses = CourseDirectory(
        [
            CourseInfo(cid, title, duration, hot, frozenset(links))
            for cid, title, duration, hot, _e, _a, links in decoded
        ],
        [(cid, external, activity) for cid, _t, _d, _h, external, activity, _l in decoded],
    )
    if not everyone:
        cache.remember_org(
            organisation_id,
            version,
            context,
            learners.users,
            {activity: courses.by_activity.get(activity) for activity in activity_ids},
        )
    return IngestionLookup(learners, courses, context, snapshots, version)


def cached_lookup(
    cache: IngestionCache,
    organisation_id: int,
    emails: Sequence[str],
    external_ids: Sequence[str],
    activity_ids: Sequence[str],
) -> IngestionLookup | None:
    """The lookup from memory when every learner, course and state it names is there."""
    entry = cache.org(organisation_id)
    if entry is None:
        return None
    found: dict[int, Learner] = {}
    for email in emails:
        learner = entry.learners_by_email.get(email.lower())
        if learner is None:
            return None
        found[learner.id] = learner
    for external in external_ids:
        learner = entry.learners_by_external.get(external)
        if learner is not None:
            found[learner.id] = learner
        elif "@" not in external:  # one like an e-mail address was looked up with the e-mails
            return None
    courses: dict[int, CourseInfo] = {}
    keys: list[tuple[int, str | None, str | None]] = []
    for activity in activity_ids:
        if activity not in entry.courses_by_activity:
            return None
        course = entry.courses_by_activity[activity]
        if course is not None:
            courses[course.id] = course
            keys.append((course.id, None, activity))
    snapshots: dict[int, StateSnapshot] = {}
    for user_id in found:
        cached = cache.state(organisation_id, user_id)
        if cached is None:
            return None
        snapshots[user_id] = StateSnapshot(cached.version, None, cached.state)
    return IngestionLookup(
        LearnerDirectory(found.values()),
        CourseDirectory(courses.values(), keys),
        entry.context,
        snapshots,
        entry.config_version,
    )


# ----------------------------------------------------------------------- webhook secrets


def _secret_cipher(settings: Settings) -> AESGCM:
    return AESGCM(settings.derived_key("webhook-secrets", 32))


def encrypt_secret(settings: Settings, secret: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = _secret_cipher(settings).encrypt(nonce, secret.encode(), b"learnloop-webhook")
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(settings: Settings, stored: str) -> bytes:
    raw = base64.urlsafe_b64decode(stored.encode())
    return _secret_cipher(settings).decrypt(raw[:12], raw[12:], b"learnloop-webhook")
