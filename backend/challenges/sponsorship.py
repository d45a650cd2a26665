"""A sponsored team challenge reaching the team: the announcement and the celebration.

When a manager sponsors a challenge, and when they close it with a celebration message,
each counted member of the team gets one push (an outbox row the push worker delivers):
kind ``team_challenge`` with a dedupe key per challenge and moment, so a retry or a second
click never sends it twice. Texts are in the member's language; a member who switched
challenge nudges off gets none (and nobody when L&D switched challenge announcements off),
and one in quiet hours gets it when those end.
"""

import secrets
from collections.abc import Callable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from babel.dates import format_date
from litestar.exceptions import ClientException
from sqlalchemy.dialects import postgresql
from sqlmodel import col, select

from backend.audit import services as audit
from backend.db.models import Challenge, Nudge, Organisation, TeamMembership, User
from backend.learning.service import recompute_team_challenge
from backend.organisations.settings import organisation_settings
from backend.tenancy import OrgScope
from gamification.nudge_policy import LearnerPrefs, NudgeRules, QuietHours, first_allowed_moment
from gamification.nudges import NudgeCategory, NudgeType
from pwa.i18n import N_, SUPPORTED_LOCALES, translations

KIND = "team_challenge"
URL = "/team"


def due_at(user: User, organisation: Organisation, now: datetime) -> datetime:
    """``now``, or the first moment after it outside the member's and the organisation's
    quiet hours (and off the weekend unless the organisation nudges then)."""
    settings = organisation_settings(organisation)
    try:
        ZoneInfo(user.timezone)
        zone = user.timezone
    except (ValueError, KeyError):
        zone = organisation.default_timezone
    prefs = LearnerPrefs(
        timezone=zone, quiet=QuietHours(user.quiet_hours_start, user.quiet_hours_end)
    )
    rules = NudgeRules(
        quiet=QuietHours(time(settings.quiet_hours_start), time(settings.quiet_hours_end)),
        nudges_on_weekends=settings.nudges_on_weekends,
    )
    return first_allowed_moment(now, prefs, rules)


async def counted_members(scope: OrgScope, team_id: int) -> list[User]:
    """The team's active members who take part (its managers do not count), by id."""
    query = (
        select(User)
        .join(TeamMembership, col(TeamMembership.user_id) == col(User.id))
        .where(
            scope.owns(User),
            scope.owns(TeamMembership),
            TeamMembership.team_id == team_id,
            col(TeamMembership.is_manager).is_(False),
            col(User.is_active).is_(True),
        )
        .order_by(col(User.id))
    )
    return list((await scope.session.exec(query)).all())


Texts = Callable[[str], tuple[str, str]]
"""locale -> (title, body) of one push."""


async def push_to_team(
    scope: OrgScope, row: Challenge, moment: str, texts: Texts, now: datetime
) -> int:
    """One ``team_challenge`` push per counted member for ``moment`` ("sponsored",
    "closed"); staged in the caller's transaction; returns how many members it is for."""
    assert row.id is not None and row.team_id is not None
    organisation = await scope.organisation()
    if NudgeType.CHALLENGE_LAUNCHED.value in organisation_settings(organisation).nudge_kinds_off:
        return 0  # L&D switched challenge announcements off for everyone
    members = [
        m
        for m in await counted_members(scope, row.team_id)
        if NudgeCategory.CHALLENGE.value not in (m.nudge_kinds_off or [])
    ]
    if not members:
        return 0
    values = []
    for member in members:
        locale = member.locale if member.locale in SUPPORTED_LOCALES else "nl"
        title, body = texts(locale)
        values.append(
            {
                "id": secrets.token_hex(16),
                "organisation_id": scope.organisation_id,
                "user_id": member.id,
                "kind": KIND,
                "variant": moment,
                "dedupe_key": f"{KIND}:{row.id}:{moment}",
                "locale": locale,
                "title": " ".join(title.split())[:200],
                "body": " ".join(body.split())[:500],
                "url": URL,
                "status": "pending",
                "due_at": due_at(member, organisation, now),
                "attempts": 0,
                "last_error": "",
                "created_at": now,
            }
        )
    statement = postgresql.insert(Nudge).values(values)
    await scope.session.exec(
        statement.on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
    )
    return len(members)


def _t(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


def sponsored_texts(row: Challenge, sponsor: str) -> Texts:
    def texts(locale: str) -> tuple[str, str]:
        title = _t(locale, N_("New team challenge: %(title)s")) % {"title": row.title}
        body = _t(locale, N_("%(sponsor)s sponsors it; it starts on %(date)s.")) % {
            "sponsor": sponsor,
            "date": format_date(row.starts_on, "EEEE d MMMM", locale=locale),
        }
        if row.pledge:
            body += " " + _t(locale, N_("Pledge: %(pledge)s")) % {"pledge": row.pledge}
        if row.message:
            body += " " + row.message
        return title, body

    return texts


def closed_texts(row: Challenge) -> Texts:
    def texts(locale: str) -> tuple[str, str]:
        title = _t(locale, N_("%(title)s: well done, team!")) % {"title": row.title}
        return title, row.closing_message

    return texts


async def announce(scope: OrgScope, row: Challenge, sponsor: str, now: datetime) -> int:
    """The team hears of a newly sponsored challenge (once per member)."""
    return await push_to_team(scope, row, "sponsored", sponsored_texts(row, sponsor), now)


async def close(scope: OrgScope, row: Challenge, message: str, today: date, now: datetime) -> None:
    """Close a started team challenge with a celebration message (a running one ends
    today); the team gets the message as a push and on its team page. Staged; the caller
    checks who may close and commits."""
    if row.closed_at is not None:
        raise ClientException(f"challenge {row.id} is already closed", status_code=409)
    if row.starts_on > today:
        raise ClientException(
            f"challenge {row.id} has not started; delete it instead of closing it",
            status_code=409,
        )
    if row.ends_on > today:
        row.ends_on = today
        row.definition = {**row.definition, "ends_on": today.isoformat()}
        await recompute_team_challenge(scope.session, row, today, now)
    row.closed_at = now
    row.closing_message = message
    scope.session.add(row)
    await push_to_team(scope, row, "closed", closed_texts(row), now)
    audit.record(
        scope,
        "team_challenge.close",
        target_type="challenge",
        target_id=row.id,
        summary=f"Closed team challenge “{row.title}”",
        details={"ends_on": row.ends_on.isoformat(), "message": message},
    )
