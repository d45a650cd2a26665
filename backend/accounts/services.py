"""Sign-in and user administration."""

import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Literal

from litestar.exceptions import ClientException, NotAuthorizedException, TooManyRequestsException
from sqlalchemy import String, cast, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend import mail
from backend.accounts import links
from backend.accounts.bulk import PersonWrite, write_people
from backend.accounts.schemas import (
    LinkSent,
    MePublic,
    MeUpdate,
    OrganisationSummary,
    TeamSummary,
    UserCreate,
    UserPublic,
    UserTeam,
    UserUpdate,
)
from backend.audit import services as audit
from backend.auth.passwords import HashCost, hash_password, verify_password
from backend.context import AppContext
from backend.db.models import Course, Organisation, Role, Team, TeamMembership, User
from backend.db.types import utcnow
from backend.lrs import unclaimed
from backend.nudges.scheduler import wake_learners
from backend.settings import Settings
from backend.tenancy import OrgScope
from gamification.nudges import NudgeCategory

NUDGE_CATEGORIES = tuple(category.value for category in NudgeCategory)
# what the nudge policy plans from: a change has the scheduler look again now
NUDGE_FIELDS = frozenset(
    {"reminder_time", "quiet_hours_start", "quiet_hours_end", "nudge_kinds_off", "timezone"}
)
log = logging.getLogger("learnloop.accounts")


def clock(value: time | None) -> str | None:
    """A time of day as HH:MM (what the API and the forms use)."""
    return None if value is None else value.strftime("%H:%M")


def parse_clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def normalise_email(email: str) -> str:
    return email.strip().lower()


class ChooseOrganisation(ClientException):
    """The address and password fit accounts in several organisations: say which one."""

    status_code = 409

    def __init__(self, accounts: list[tuple[User, Organisation]]) -> None:
        self.accounts = accounts
        super().__init__(
            "this e-mail address and password belong to accounts in more than one "
            'organisation: sign in again with "organisation" set to one of these slugs',
            extra={"organisations": [{"slug": o.slug, "name": o.name} for _, o in accounts]},
        )


async def authenticate(
    ctx: AppContext,
    session: AsyncSession,
    email: str,
    password: str,
    client: str,
    organisation: str | None = None,
) -> User:
    """The account these credentials belong to.

    The same address may have an account in several organisations. The password decides
    among them; when it fits more than one, ``organisation`` (a slug) must say which, else
    ``ChooseOrganisation`` (409) lists them. Raises 401 (wrong) or 429 (too many tries).
    """
    email = normalise_email(email)
    wait = ctx.login_limiter.retry_after(client, email)
    if wait is not None:
        raise TooManyRequestsException(
            f"too many failed sign-in attempts; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    cost = ctx.settings.password_cost
    # no stored address contains U+0000 (and PostgreSQL refuses to compare with it)
    candidates = (
        (
            await session.exec(
                select(User, Organisation)
                .join(Organisation, col(Organisation.id) == col(User.organisation_id))
                .where(User.email == email, col(User.is_active).is_(True))
                .order_by(col(User.id))
            )
        ).all()
        if "\x00" not in email
        else []
    )
    if organisation is not None:
        candidates = [(u, o) for u, o in candidates if o.slug == organisation.strip().lower()]
    matches = [(u, o) for u, o in candidates if verify_password(u.password_hash, password, cost)]
    if not candidates:
        verify_password(None, password, cost)
    if not matches:
        ctx.login_limiter.record_failure(client, email)
        raise NotAuthorizedException("e-mail address or password is not correct")
    ctx.login_limiter.record_success(client, email)
    if len(matches) > 1:
        raise ChooseOrganisation(list(matches))
    return matches[0][0]


async def me(session: AsyncSession, user_id: int, organisation_id: int) -> MePublic:
    user = (
        await session.exec(
            select(User).where(User.id == user_id, User.organisation_id == organisation_id)
        )
    ).one()
    org = (await session.exec(select(Organisation).where(Organisation.id == organisation_id))).one()
    rows = (
        await session.exec(
            select(Team, TeamMembership.is_manager)
            .join(TeamMembership, col(TeamMembership.team_id) == col(Team.id))
            .where(
                TeamMembership.user_id == user_id, TeamMembership.organisation_id == organisation_id
            )
            .order_by(col(Team.name))
        )
    ).all()
    assert user.id is not None and org.id is not None
    return MePublic(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=user.roles,
        timezone=user.timezone,
        locale=user.locale,
        start_date=user.start_date,
        organisation=OrganisationSummary(id=org.id, name=org.name),
        teams=[TeamSummary(id=t.id or 0, name=t.name, is_manager=m) for t, m in rows],
        leaderboard_opt_in=user.leaderboard_opt_in,
        reminder_time=clock(user.reminder_time),
        quiet_hours_start=clock(user.quiet_hours_start) or "21:00",
        quiet_hours_end=clock(user.quiet_hours_end) or "08:00",
        nudge_kinds_off=list(user.nudge_kinds_off or []),
        onboarded=user.onboarded_at is not None,
    )


def _nudge_kinds(values: list[str]) -> list[str]:
    unknown = [value for value in values if value not in NUDGE_CATEGORIES]
    if unknown:
        raise ClientException(
            f"nudge_kinds_off: unknown nudge kind {unknown[0]!r}; "
            f"choose from {', '.join(NUDGE_CATEGORIES)}",
            extra={"field": "nudge_kinds_off"},
        )
    # stored in the catalogue's order, each once
    return [category for category in NUDGE_CATEGORIES if category in values]


async def update_me(scope: OrgScope, data: MeUpdate) -> MePublic:
    assert scope.principal.user_id is not None
    changes = data.model_dump(exclude_unset=True)
    user = await scope.get(User, scope.principal.user_id, what="user")
    for field, value in changes.items():
        if field == "reminder_time":
            # null is a choice here: "remind me when I usually learn"
            user.reminder_time = None if value is None else parse_clock(value)
        elif value is None:
            continue
        elif field in ("quiet_hours_start", "quiet_hours_end"):
            setattr(user, field, parse_clock(value))
        elif field == "nudge_kinds_off":
            user.nudge_kinds_off = _nudge_kinds(value)
        else:
            setattr(user, field, value)
    quiet = {"quiet_hours_start", "quiet_hours_end"} & changes.keys()
    if quiet and user.quiet_hours_start == user.quiet_hours_end:
        await scope.session.rollback()
        raise ClientException(
            "quiet_hours_end: quiet hours that start and end at the same time would last no "
            "time at all or all day; choose two different times, like 21:00 and 08:00",
            extra={"field": "quiet_hours_end"},
        )
    scope.session.add(user)
    if NUDGE_FIELDS & changes.keys():
        # replan now (new time, quiet hours, kinds or timezone), not at the next planned look
        await wake_learners(scope.session, scope.organisation_id, [user.id or 0], utcnow())
    await scope.session.commit()
    return await me(scope.session, scope.principal.user_id, scope.organisation_id)


async def finish_onboarding(scope: OrgScope, now: datetime | None = None) -> None:
    """The first-run introduction is done (finished or skipped): Today stops offering it."""
    assert scope.principal.user_id is not None
    user = await scope.get(User, scope.principal.user_id, what="user")
    if user.onboarded_at is None:
        user.onboarded_at = now or datetime.now(UTC)
        scope.session.add(user)
        await scope.session.commit()


def user_public(user: User, teams: list[UserTeam] | None = None) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=user.roles,
        timezone=user.timezone,
        locale=user.locale,
        start_date=user.start_date,
        job_family=user.job_family,
        is_active=user.is_active,
        has_password=user.password_hash is not None,
        teams=teams or [],
        created_at=user.created_at,
    )


async def teams_of(scope: OrgScope, user_ids: list[int]) -> dict[int, list[UserTeam]]:
    """Per person, the teams they are in (by name)."""
    if not user_ids:
        return {}
    rows = (
        await scope.session.exec(
            select(TeamMembership.user_id, Team.id, Team.name, TeamMembership.is_manager)
            .join(Team, col(Team.id) == col(TeamMembership.team_id))
            .where(scope.owns(TeamMembership), col(TeamMembership.user_id).in_(user_ids))
            .order_by(col(Team.name))
        )
    ).all()
    found: dict[int, list[UserTeam]] = {}
    for user_id, team_id, name, is_manager in rows:
        found.setdefault(user_id, []).append(UserTeam(id=team_id, name=name, is_manager=is_manager))
    return found


async def get_person(scope: OrgScope, user_id: int) -> UserPublic:
    user = await scope.get(User, user_id, what="user")
    return user_public(user, (await teams_of(scope, [user_id])).get(user_id, []))


PEOPLE_SORTS = ("name", "email", "created", "status")
PeopleStatus = Literal["active", "invited", "deactivated"]


@dataclass(frozen=True)
class PeopleQuery:
    """What the people list shows: search, filters, order and page."""

    q: str = ""
    team_id: int | None = None
    role: Role | None = None
    status: PeopleStatus | None = None
    sort: str = "name"
    descending: bool = False
    limit: int = 50
    offset: int = 0


async def list_people(scope: OrgScope, query: PeopleQuery) -> tuple[list[UserPublic], int]:
    """A page of people matching ``query`` and how many match in all."""
    stmt: Any = scope.select(User)
    if query.q:
        like = f"%{query.q.lower()}%"
        stmt = stmt.where(col(User.email).like(like) | col(User.display_name).ilike(like))
    if query.team_id is not None:
        stmt = stmt.where(
            col(User.id).in_(
                select(TeamMembership.user_id).where(
                    scope.owns(TeamMembership), TeamMembership.team_id == query.team_id
                )
            )
        )
    if query.role is not None:
        # roles are a small JSON array: match the quoted name in its text
        stmt = stmt.where(cast(User.roles, String).like(f'%"{query.role.value}"%'))
    if query.status == "active":
        stmt = stmt.where(col(User.is_active).is_(True), col(User.password_hash).is_not(None))
    elif query.status == "invited":
        stmt = stmt.where(col(User.is_active).is_(True), col(User.password_hash).is_(None))
    elif query.status == "deactivated":
        stmt = stmt.where(col(User.is_active).is_(False))
    total = (await scope.session.exec(stmt.with_only_columns(func.count()).order_by(None))).one()
    key: Any = {
        "name": func.lower(User.display_name),
        "email": col(User.email),
        "created": col(User.created_at),
        "status": col(User.is_active),
    }.get(query.sort, func.lower(User.display_name))
    stmt = stmt.order_by(key.desc() if query.descending else key, col(User.id))
    users = await scope.all(stmt.limit(query.limit).offset(query.offset))
    teams = await teams_of(scope, [u.id for u in users if u.id is not None])
    return [user_public(u, teams.get(u.id or 0, [])) for u in users], int(total)


async def list_users(scope: OrgScope, q: str | None, limit: int, offset: int) -> list[UserPublic]:
    people, _total = await list_people(scope, PeopleQuery(q=q or "", limit=limit, offset=offset))
    return people


async def job_families(scope: OrgScope) -> list[str]:
    """The job families in use for people and courses, to choose from in forms."""
    people = select(col(User.job_family)).where(scope.owns(User), col(User.job_family).is_not(None))
    courses = select(col(Course.job_family)).where(
        scope.owns(Course), col(Course.job_family).is_not(None)
    )
    rows = await scope.session.exec(people.union(courses))  # type: ignore[call-overload]
    return sorted({str(family) for (family,) in rows.all()}, key=str.casefold)


def _roles(roles: list[Role] | list[str]) -> list[str]:
    return sorted({Role(r).value for r in roles})


async def create_user(scope: OrgScope, data: UserCreate, password_cost: HashCost) -> UserPublic:
    """Add a person (and put them in ``data.team_id``); 409 when the address is taken.

    The row is written by ``accounts.bulk.write_people``, the one write path of new people
    (a CSV import writes thousands through it at once); it also wakes the new hire.
    """
    org = await scope.organisation()
    team = None if data.team_id is None else await scope.get(Team, data.team_id, what="team")
    email = normalise_email(data.email)
    fields = {
        "email": email,
        "display_name": data.display_name,
        "password_hash": hash_password(data.password, password_cost) if data.password else None,
        "roles": _roles(data.roles),
        "timezone": data.timezone or org.default_timezone,
        "locale": data.locale or org.default_locale,
        "start_date": data.start_date,
        "job_family": data.job_family or None,
    }
    placed = [(team.id, False)] if team is not None and team.id is not None else []
    try:
        [user_id] = await write_people(scope, [PersonWrite(None, fields, placed)])
    except IntegrityError as exc:
        await scope.session.rollback()
        raise ClientException(
            f"a user with e-mail {email} already exists",
            status_code=409,
            extra={"field": "email"},
        ) from exc
    user = await scope.get(User, user_id, what="user")
    teams = [UserTeam(id=team.id, name=team.name, is_manager=False)] if placed and team else []
    audit.record(
        scope,
        "user.create",
        target_type="user",
        target_id=user_id,
        summary=f"Added {user.display_name} <{user.email}>",
        details={"roles": user.roles, "team": team.name if team else None},
    )
    await scope.session.commit()
    # what an LMS sent about them before they were added counts now
    await unclaimed.claim(scope.session, scope.organisation_id, [user_id])
    return user_public(user, teams)


def _not_yourself(scope: OrgScope, user: User, what: str) -> None:
    if user.id == scope.principal.user_id:
        raise ClientException(f"you cannot {what} yourself: ask another L&D admin", status_code=409)


async def update_profile(
    scope: OrgScope,
    user_id: int,
    *,
    display_name: str | None = None,
    locale: str | None = None,
    job_family: str | None = None,
) -> UserPublic:
    """Rename a person, change the language of the app and of their mails, or their job
    family (``""`` clears it)."""
    user = await scope.get(User, user_id, what="user")
    changes: dict[str, str | None] = {
        k: v
        for k, v in (("display_name", display_name), ("locale", locale))
        if v is not None and getattr(user, k) != v
    }
    if job_family is not None and user.job_family != (job_family or None):
        changes["job_family"] = job_family or None
    if changes:
        before = {k: getattr(user, k) for k in changes}
        name = changes.get("display_name", user.display_name)
        # the one write path of people (a CSV import updates thousands through it)
        await write_people(scope, [PersonWrite(user_id, changes)])
        scope.session.expire(user)
        audit.record(
            scope,
            "user.update",
            target_type="user",
            target_id=user_id,
            summary=f"Changed {', '.join(changes)} of {name}",
            details={"before": before, "after": changes},
        )
        await scope.session.commit()
    return await get_person(scope, user_id)


async def set_roles(scope: OrgScope, user_id: int, roles: list[Role] | list[str]) -> UserPublic:
    """Give a person exactly these roles (nobody removes their own L&D admin role)."""
    user = await scope.get(User, user_id, what="user")
    wanted = _roles(roles)
    if not wanted:
        raise ClientException("give at least one role", extra={"field": "roles"})
    if Role.ld_admin.value not in wanted and Role.ld_admin.value in user.roles:
        _not_yourself(scope, user, "remove the L&D admin role from")
    if wanted != sorted(user.roles):
        before = sorted(user.roles)
        name = user.display_name
        await write_people(scope, [PersonWrite(user_id, {"roles": wanted})])
        scope.session.expire(user)
        audit.record(
            scope,
            "user.roles",
            target_type="user",
            target_id=user_id,
            summary=f"Changed the roles of {name} to {', '.join(wanted)}",
            details={"before": before, "after": wanted},
        )
        await scope.session.commit()
    return await get_person(scope, user_id)


async def deactivate(scope: OrgScope, user_id: int) -> UserPublic:
    """A deactivated person cannot sign in; their sessions and open links end at once."""
    user = await scope.get(User, user_id, what="user")
    _not_yourself(scope, user, "deactivate")
    if user.is_active:
        user.is_active = False
        scope.session.add(user)
        await links.withdraw(scope.session, user_id)
        audit.record(
            scope,
            "user.deactivate",
            target_type="user",
            target_id=user_id,
            summary=f"Deactivated {user.display_name}",
        )
        await wake_learners(scope.session, scope.organisation_id, [user_id], utcnow())
        await scope.session.commit()
    return await get_person(scope, user_id)


async def reactivate(scope: OrgScope, user_id: int) -> UserPublic:
    """Let a deactivated person sign in again (with their old password, if they had one)."""
    user = await scope.get(User, user_id, what="user")
    if not user.is_active:
        user.is_active = True
        scope.session.add(user)
        audit.record(
            scope,
            "user.reactivate",
            target_type="user",
            target_id=user_id,
            summary=f"Reactivated {user.display_name}",
        )
        await wake_learners(scope.session, scope.organisation_id, [user_id], utcnow())
        await scope.session.commit()
        # what an LMS sent about them while they were away counts now
        await unclaimed.claim(scope.session, scope.organisation_id, [user_id])
    return await get_person(scope, user_id)


async def update_user(scope: OrgScope, user_id: int, data: UserUpdate) -> UserPublic:
    """``PATCH /api/v1/users/{id}``: each change through its own function (and audit entry)."""
    user = await scope.get(User, user_id, what="user")
    if user.id == scope.principal.user_id and (
        data.is_active is False or (data.roles is not None and Role.ld_admin not in data.roles)
    ):
        # refuse before anything changes, so a mixed request changes nothing
        raise ClientException(
            "you cannot remove your own L&D admin role or deactivate yourself", status_code=409
        )
    if data.display_name is not None or data.locale is not None or data.job_family is not None:
        await update_profile(
            scope,
            user_id,
            display_name=data.display_name,
            locale=data.locale,
            job_family=data.job_family,
        )
    if data.roles is not None:
        await set_roles(scope, user_id, data.roles)
    if data.is_active is False:
        await deactivate(scope, user_id)
    elif data.is_active is True:
        await reactivate(scope, user_id)
    return await get_person(scope, user_id)


async def move_to_team(scope: OrgScope, user_id: int, team_id: int | None) -> UserPublic:
    """Put a person in exactly one team (or none): they leave the teams they were in.

    Managing the team they stay in is kept; managing a team they leave ends with it.
    """
    user = await scope.get(User, user_id, what="user")
    team = None if team_id is None else await scope.get(Team, team_id, what="team")
    memberships = await scope.all(
        scope.select(TeamMembership).where(TeamMembership.user_id == user_id)
    )
    left = [m.team_id for m in memberships if m.team_id != team_id]
    if not left and (team_id is None or any(m.team_id == team_id for m in memberships)):
        return await get_person(scope, user_id)
    names = dict(
        (await scope.session.exec(select(Team.id, Team.name).where(col(Team.id).in_(left)))).all()
    )
    for membership in memberships:
        if membership.team_id != team_id:
            await scope.session.delete(membership)
    if team is not None and not any(m.team_id == team_id for m in memberships):
        assert team.id is not None
        scope.add(TeamMembership(team_id=team.id, user_id=user_id, organisation_id=0))
    summary = (
        f"Moved {user.display_name} to team {team.name}"
        if team is not None
        else f"Took {user.display_name} out of every team"
    )
    audit.record(
        scope,
        "user.move_team",
        target_type="user",
        target_id=user_id,
        summary=summary,
        details={"from": sorted(names.values()), "to": team.name if team else None},
    )
    await scope.session.commit()
    return await get_person(scope, user_id)


async def send_link(
    scope: OrgScope, settings: Settings, user_id: int, purpose: links.Purpose
) -> LinkSent:
    """Mail a person an invitation or a password-reset link.

    Without a configured SMTP server (or when sending fails) the link comes back in the
    answer, to be passed on by the admin; it is not stored anywhere readable.
    """
    user = await scope.get(User, user_id, what="user")
    if not user.is_active:
        raise ClientException(
            f"{user.display_name} is deactivated: reactivate them first", status_code=409
        )
    organisation = await scope.organisation()
    token, link = await links.issue(scope.session, user, purpose)
    what = "an invitation" if purpose == "invite" else "a password-reset link"
    audit.record(
        scope,
        "user.invite" if purpose == "invite" else "user.password_reset",
        target_type="user",
        target_id=user_id,
        summary=f"Sent {what} to {user.display_name} <{user.email}>",
        details={"expires_at": link.expires_at.isoformat(), "mail": settings.mail_configured},
    )
    await scope.session.commit()
    url = links.url_for(settings, token)
    mailed, problem = False, None
    if settings.mail_configured:
        inviter = scope.principal.display_name if scope.principal.via == "session" else ""
        try:
            await mail.send(
                settings,
                links.compose(purpose, user, organisation, url, link.expires_at, inviter),
            )
            mailed = True
        except mail.MailError as exc:
            problem = str(exc)[:300]
    return LinkSent(
        user_id=user_id,
        purpose=purpose,
        expires_at=link.expires_at,
        mailed=mailed,
        link=None if mailed else url,
        mail_error=problem,
    )


async def request_password_reset(
    ctx: AppContext, session: AsyncSession, email: str, client: str
) -> None:
    """ "Forgot password": mail a reset link to every active account with this address.

    Answers the same whether or not the address is known; throttled like sign-in attempts.
    """
    email = normalise_email(email)
    # a bucket of its own per client, so asking for links never throttles signing in
    bucket = "reset:" + client
    if ctx.login_limiter.retry_after(bucket, email) is not None or "\x00" in email:
        return
    ctx.login_limiter.record_failure(bucket, email)  # every request counts towards the limit
    if not ctx.settings.mail_configured:
        # nothing could reach the person, and a new link would void one an admin passed on
        log.warning("password reset asked for %s, but no SMTP server is configured", email)
        return
    rows = (
        await session.exec(
            select(User, Organisation)
            .join(Organisation, col(Organisation.id) == col(User.organisation_id))
            .where(User.email == email, col(User.is_active).is_(True))
            .order_by(col(User.id))
        )
    ).all()
    outgoing = []
    for user, organisation in rows:
        token, link = await links.issue(session, user, "reset")
        url = links.url_for(ctx.settings, token)
        outgoing.append(links.compose("reset", user, organisation, url, link.expires_at))
    await session.commit()
    for message in outgoing:
        with suppress(mail.MailError):
            await mail.send(ctx.settings, message)
