"""Sign-in and user administration."""

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
from backend.tenancy import OrgScope


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
    )


async def update_me(scope: OrgScope, data: MeUpdate) -> MePublic:
    assert scope.principal.user_id is not None
    user = await scope.get(User, scope.principal.user_id, what="user")
    for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user, field, value)
    scope.session.add(user)
    await scope.session.commit()
    return await me(scope.session, scope.principal.user_id, scope.organisation_id)


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
        await scope.session.commit()
    except IntegrityError as exc:
        await scope.session.rollback()
        raise ClientException(
            f"a user with e-mail {user.email} already exists", status_code=409
        ) from exc
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
    await scope.session.commit()
    return user_public(user)
