"""Turning what each source sends into :class:`IncomingEvent`s: who learned, which course.

Idempotency keys are namespaced by source (``xapi:``, ``webhook:``, ``api:``, ``pwa:``) so
an xAPI statement id can never collide with a webhook delivery id.
"""

import base64
import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import and_, col, or_
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Course, CourseCompetency, User
from backend.learning.service import CourseFacts
from backend.learning.xapi import ActorRef, ParsedStatement, mbox_sha1sum
from backend.settings import Settings


class UnknownReference(ValueError):
    """A learner, course or competency that is not in the caller's organisation."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


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

    def for_actor(self, actor: ActorRef, field: str) -> Learner:
        user: Learner | None = None
        if actor.email:
            user = self.by_email.get(actor.email)
        elif actor.mbox_sha1sum:
            user = self.by_sha1(actor.mbox_sha1sum)
        elif actor.account_name:
            user = self.by_external.get(actor.account_name) or self.by_email.get(
                actor.account_name.lower()
            )
        if user is None:
            raise UnknownReference(
                field, "no active learner of this organisation matches this actor"
            )
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
