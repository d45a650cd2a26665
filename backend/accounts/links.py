"""One-time sign-in links: an invitation for a new person, a reset for a forgotten password.

A link carries a random token; only its SHA-256 is stored. Opening the link shows a form
(a GET never spends it, so mail scanners that follow links do no harm); setting a password
spends it, signs the person in and signs every other session of theirs out (the password
changed). A newer link of the same person replaces the older one; deactivating a person
withdraws their open links.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from litestar.exceptions import ClientException
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import services as audit
from backend.auth.middleware import principal_for_user
from backend.auth.passwords import HashCost, hash_password, password_problem
from backend.db.models import Organisation, SignInLink, User
from backend.db.types import utcnow
from backend.mail import Mail
from backend.settings import Settings
from backend.tenancy import OrgScope
from pwa.i18n import current_locale, gettext, set_locale

Purpose = Literal["invite", "reset"]
LIFETIME: dict[str, timedelta] = {"invite": timedelta(days=7), "reset": timedelta(hours=24)}
LINK_PATH = "/password/"


class LinkNotValid(ClientException):
    """Unknown, spent, expired, or its person was deactivated: all look the same."""

    status_code = 410


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def url_for(settings: Settings, token: str) -> str:
    return f"{settings.base_url}{LINK_PATH}{token}"


async def withdraw(session: AsyncSession, user_id: int) -> None:
    """Remove a person's links that were not used yet (staged; the caller commits)."""
    await session.exec(
        delete(SignInLink).where(
            col(SignInLink.user_id) == user_id, col(SignInLink.used_at).is_(None)
        )
    )


async def issue(
    session: AsyncSession, user: User, purpose: Purpose, now: datetime | None = None
) -> tuple[str, SignInLink]:
    """A new link for ``user`` (their older open links stop working); the caller commits."""
    assert user.id is not None
    now = now or utcnow()
    await withdraw(session, user.id)
    token = secrets.token_urlsafe(32)
    link = SignInLink(
        organisation_id=user.organisation_id,
        user_id=user.id,
        purpose=purpose,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + LIFETIME[purpose],
    )
    session.add(link)
    return token, link


@dataclass(frozen=True)
class OpenLink:
    link: SignInLink
    user: User
    organisation: Organisation


async def find(
    session: AsyncSession, token: str, now: datetime | None = None, *, lock: bool = False
) -> OpenLink:
    """The open link behind ``token``; raises ``LinkNotValid`` otherwise."""
    now = now or utcnow()
    if not token or len(token) > 100 or "\x00" in token:
        raise LinkNotValid("this link is not valid (any more)")
    query = (
        select(SignInLink, User, Organisation)
        .join(User, col(User.id) == col(SignInLink.user_id))
        .join(Organisation, col(Organisation.id) == col(SignInLink.organisation_id))
        .where(SignInLink.token_hash == hash_token(token))
    )
    if lock:
        query = query.with_for_update(of=SignInLink)
    row = (await session.exec(query)).first()
    if row is None:
        raise LinkNotValid("this link is not valid (any more)")
    link, user, organisation = row
    if link.used_at is not None or link.expires_at <= now or not user.is_active:
        raise LinkNotValid("this link is not valid (any more)")
    return OpenLink(link, user, organisation)


async def redeem(
    session: AsyncSession, token: str, password: str, cost: HashCost, now: datetime | None = None
) -> User:
    """Set the password through a link and spend it; returns the person to sign in.

    Raises ``LinkNotValid`` (410) or a 400 naming ``password`` when it is too short.
    """
    now = now or utcnow()
    problem = password_problem(password)
    if problem:
        raise ClientException(problem, extra={"field": "password"})
    found = await find(session, token, now, lock=True)
    found.link.used_at = now
    found.user.password_hash = hash_password(password, cost)
    session.add(found.link)
    session.add(found.user)
    user = found.user
    # the person acts here, not an admin: the entry names them
    scope = OrgScope(session, principal_for_user(user))
    invited = found.link.purpose == "invite"
    audit.record(
        scope,
        "user.accept_invite" if invited else "user.password_set",
        target_type="user",
        target_id=user.id,
        summary=(
            f"{user.display_name} accepted the invitation and set a password"
            if invited
            else f"{user.display_name} set a new password with a reset link"
        ),
    )
    await session.commit()
    return user


def compose(
    purpose: Purpose,
    user: User,
    organisation: Organisation,
    url: str,
    expires_at: datetime,
    inviter: str = "",
) -> Mail:
    """The mail with the link, in the person's own language."""
    previous = current_locale()
    set_locale(user.locale)
    try:
        until = format_datetime(
            expires_at, format="long", tzinfo=ZoneInfo(user.timezone), locale=user.locale
        )
        names = {
            "name": user.display_name.split(" ")[0],
            "organisation": organisation.name,
            "inviter": inviter or organisation.name,
            "until": until,
        }
        if purpose == "invite":
            subject = gettext("You are invited to learnloop at %(organisation)s") % names
            lines = [
                gettext("Hello %(name)s,") % names,
                "",
                gettext(
                    "%(inviter)s invited you to learnloop, where you and your colleagues at "
                    "%(organisation)s learn a few minutes a day."
                )
                % names,
                "",
                gettext("Choose your password and sign in with this link:"),
                url,
                "",
                gettext("The link works once and is valid until %(until)s.") % names,
            ]
        else:
            subject = gettext("A new password for learnloop at %(organisation)s") % names
            lines = [
                gettext("Hello %(name)s,") % names,
                "",
                gettext(
                    "Someone, probably you, asked for a new password for your learnloop "
                    "account at %(organisation)s. Choose one with this link:"
                )
                % names,
                url,
                "",
                gettext("The link works once and is valid until %(until)s.") % names,
                gettext(
                    "Didn't ask for this? Then ignore this mail: your password stays as it is."
                ),
            ]
        lines += ["", gettext("See you soon,"), "learnloop"]
        return Mail(
            to_address=user.email, to_name=user.display_name, subject=subject, text="\n".join(lines)
        )
    finally:
        set_locale(previous)
