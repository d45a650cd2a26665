"""Sign-in and user administration."""

from datetime import UTC, datetime, time

from litestar.exceptions import ClientException, NotAuthorizedException, TooManyRequestsException
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts.schemas import (
    MePublic,
    MeUpdate,
    OrganisationSummary,
    TeamSummary,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from backend.auth.passwords import HashCost, hash_password, verify_password
from backend.context import AppContext
from backend.db.models import Organisation, Team, TeamMembership, User
from backend.db.types import utcnow
from backend.nudges.scheduler import wake_learners
from backend.tenancy import OrgScope
from gamification.nudges import NudgeCategory

NUDGE_CATEGORIES = tuple(category.value for category in NudgeCategory)
# what the nudge policy plans from: a change has the scheduler look again now
NUDGE_FIELDS = frozenset(
    {"reminder_time", "quiet_hours_start", "quiet_hours_end", "nudge_kinds_off", "timezone"}
)
ADMIN_NUDGE_FIELDS = frozenset({"timezone", "start_date", "is_active"})


def clock(value: time | None) -> str | None:
    """A time of day as HH:MM (what the API and the forms use)."""
    return None if value is None else value.strftime("%H:%M")


def parse_clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def authenticate(
    ctx: AppContext, session: AsyncSession, email: str, password: str, client: str
) -> User:
    """The user these credentials belong to; raises 401 (wrong) or 429 (too many tries)."""
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
                select(User)
                .where(User.email == email, col(User.is_active).is_(True))
                .order_by(col(User.id))
            )
        ).all()
        if "\x00" not in email
        else []
    )
    # the same address may exist in two organisations; the password decides which account it is
    for user in candidates:
        if verify_password(user.password_hash, password, cost):
            ctx.login_limiter.record_success(client, email)
            return user
    if not candidates:
        verify_password(None, password, cost)
    ctx.login_limiter.record_failure(client, email)
    raise NotAuthorizedException("e-mail address or password is not correct")


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


def user_public(user: User) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=user.roles,
        timezone=user.timezone,
        locale=user.locale,
        start_date=user.start_date,
        is_active=user.is_active,
    )


async def list_users(scope: OrgScope, q: str | None, limit: int, offset: int) -> list[UserPublic]:
    stmt = (
        scope.select(User)
        .order_by(col(User.display_name), col(User.id))
        .limit(limit)
        .offset(offset)
    )
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(col(User.email).like(like) | col(User.display_name).ilike(like))
    return [user_public(u) for u in await scope.all(stmt)]


async def create_user(scope: OrgScope, data: UserCreate, password_cost: HashCost) -> UserPublic:
    org = await scope.organisation()
    user = scope.add(
        User(
            organisation_id=scope.organisation_id,
            email=normalise_email(data.email),
            display_name=data.display_name,
            password_hash=hash_password(data.password, password_cost) if data.password else None,
            roles=sorted({r.value for r in data.roles}),
            timezone=data.timezone or org.default_timezone,
            locale=data.locale or org.default_locale,
            start_date=data.start_date,
        )
    )
    try:
        await scope.session.flush()
    except IntegrityError as exc:
        await scope.session.rollback()
        raise ClientException(
            f"a user with e-mail {user.email} already exists", status_code=409
        ) from exc
    # a state row due now: the scheduler plans the new hire's welcome at its next tick
    await wake_learners(scope.session, scope.organisation_id, [user.id or 0], utcnow())
    await scope.session.commit()
    return user_public(user)


async def update_user(scope: OrgScope, user_id: int, data: UserUpdate) -> UserPublic:
    user = await scope.get(User, user_id, what="user")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "roles" in changes:
        changes["roles"] = sorted({r.value for r in data.roles or []})
    removes_own_admin = "ld_admin" not in changes.get("roles", ["ld_admin"])
    if user.id == scope.principal.user_id and (
        removes_own_admin or changes.get("is_active") is False
    ):
        raise ClientException(
            "you cannot remove your own L&D admin role or deactivate yourself", status_code=409
        )
    for field, value in changes.items():
        setattr(user, field, value)
    scope.session.add(user)
    if ADMIN_NUDGE_FIELDS & changes.keys():
        await wake_learners(scope.session, scope.organisation_id, [user_id], utcnow())
    await scope.session.commit()
    return user_public(user)
