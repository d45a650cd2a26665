"""Turning what each source sends into :class:`IncomingEvent`s: who learned, which course.

Idempotency keys are namespaced by source (``xapi:``, ``webhook:``, ``api:``, ``pwa:``) so
an xAPI statement id can never collide with a webhook delivery id.
"""

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import Course, User
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


class CourseDirectory:
    """Courses of one organisation, looked up by id, external id or xAPI activity id."""

    def __init__(self, courses: Iterable[Course]) -> None:
        self.by_id: dict[int, CourseInfo] = {}
        self.by_external: dict[str, CourseInfo] = {}
        self.by_activity: dict[str, CourseInfo] = {}
        for c in courses:
            assert c.id is not None
            info = CourseInfo(c.id, c.title, c.duration_minutes)
            self.by_id[c.id] = info
            if c.external_id:
                self.by_external[c.external_id] = info
            if c.xapi_activity_id:
                self.by_activity[c.xapi_activity_id] = info

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
        conditions = []
        if ids:
            conditions.append(col(Course.id).in_(list(ids)))
        if external_ids:
            conditions.append(col(Course.external_id).in_(list(external_ids)))
        if activity_ids:
            conditions.append(col(Course.xapi_activity_id).in_(list(activity_ids)))
        if not conditions:
            return cls([])
        rows = (
            await session.exec(
                select(Course).where(Course.organisation_id == organisation_id, or_(*conditions))
            )
        ).all()
        return cls(rows)


class LearnerDirectory:
    """Active learners of one organisation by e-mail, external id, id or mbox_sha1sum."""

    def __init__(self, users: Iterable[User]) -> None:
        self.users = list(users)
        self.by_email = {u.email: u for u in self.users}
        self.by_external = {u.external_id: u for u in self.users if u.external_id}
        self.by_id = {u.id: u for u in self.users}
        self._by_sha1: dict[str, User] | None = None

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
        query = select(User).where(
            User.organisation_id == organisation_id, col(User.is_active).is_(True)
        )
        if not everyone:
            conditions = []
            if emails:
                conditions.append(col(User.email).in_([e.lower() for e in emails]))
            if external_ids:
                conditions.append(col(User.external_id).in_(list(external_ids)))
            if ids:
                conditions.append(col(User.id).in_(list(ids)))
            if not conditions:
                return cls([])
            query = query.where(or_(*conditions))
        return cls((await session.exec(query)).all())

    def by_sha1(self, digest: str) -> User | None:
        if self._by_sha1 is None:
            self._by_sha1 = {mbox_sha1sum(u.email): u for u in self.users}
        return self._by_sha1.get(digest.lower())

    def for_actor(self, actor: ActorRef, field: str) -> User:
        user: User | None = None
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
