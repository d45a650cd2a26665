"""Authentication and CSRF for every HTTP request.

An ``Authorization`` header (Bearer or Basic with an API key) is the only credential
looked at when present; otherwise the encrypted session cookie is. Because a browser
cannot attach an Authorization header to a cross-site request without CORS consent,
CSRF tokens are required only on cookie-authenticated writes.
"""

import base64
import uuid
from typing import Any

import msgspec
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from backend.auth.api_keys import hash_api_key, parse_prefix
from backend.auth.principal import Principal
from backend.context import AppContext
from backend.db.models import User
from backend.db.types import utcnow
from backend.integrations.services import verify_api_key
from backend.learning.connections import on_pooled_connection

SESSION_USER = "uid"
SESSION_ORG = "org"
SESSION_PASSWORD_VERSION = "pv"
SESSION_ID = "sid"  # the user_session row (backend.auth.user_sessions)


def session_id_of(data: dict[str, Any]) -> uuid.UUID | None:
    """The session id a cookie's data holds, or None (none, or not a UUID)."""
    value = data.get(SESSION_ID)
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def password_version(user: User) -> str:
    """Changes whenever the password changes, which signs every other session out."""
    return password_version_of(user.password_hash)


def password_version_of(password_hash: str | None) -> str:
    """:func:`password_version` of a stored password hash."""
    return (password_hash or "")[-10:]


def principal_for_user(user: User) -> Principal:
    assert user.id is not None
    return Principal(
        organisation_id=user.organisation_id,
        user_id=user.id,
        roles=frozenset(user.roles),
        via="session",
        display_name=user.display_name,
        locale=user.locale,
        timezone=user.timezone,
        email=user.email,
    )


def _key_from_authorization(value: str) -> str:
    scheme, _, credentials = value.partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        return credentials
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except ValueError as exc:  # binascii.Error, UnicodeDecodeError, or non-ASCII input
            raise NotAuthorizedException("malformed Basic credentials") from exc
        username, _, password = decoded.partition(":")
        return password if password.startswith("ll_") else username
    raise NotAuthorizedException(
        "unsupported Authorization scheme; use Bearer or Basic with an API key"
    )


async def principal_from_api_key(ctx: AppContext, authorization: str) -> Principal:
    plaintext = _key_from_authorization(authorization)
    prefix = parse_prefix(plaintext)
    if prefix is None:
        raise NotAuthorizedException("invalid API key")
    key_hash = hash_api_key(plaintext)
    # a key verified in the last minute skips the database (see ApiKeyCache for revocation)
    cached = ctx.api_keys.get(key_hash)
    if cached is not None:
        return cached
    generation = ctx.api_keys.generation
    async with ctx.sessionmaker() as session:
        key = await verify_api_key(session, plaintext, utcnow())
        if key is None:
            raise NotAuthorizedException("invalid API key")
        assert key.id is not None
        principal = Principal(
            organisation_id=key.organisation_id,
            user_id=None,
            roles=frozenset(),
            via="api_key",
            api_key_id=key.id,
            display_name=key.name,
        )
    ctx.api_keys.put(key_hash, prefix, principal, generation)
    return principal


# every signed-in request reads its user, while its session is not ended: one statement on
# a kept connection, no ORM
SESSION_USER_SQL = """
SELECT u.is_active, u.password_hash, u.roles::text, u.display_name, u.locale, u.timezone,
  u.email
FROM user_account u
WHERE u.id = $1 AND u.organisation_id = $2
  AND EXISTS (SELECT 1 FROM user_session s
              WHERE s.id = $3 AND s.user_id = u.id AND s.ended_at IS NULL)
"""


async def _principal_from_session(ctx: AppContext, data: dict[str, Any]) -> Principal | None:
    uid, org, sid = data.get(SESSION_USER), data.get(SESSION_ORG), session_id_of(data)
    if not isinstance(uid, int) or not isinstance(org, int) or not _in_int4(uid, org):
        return None
    if sid is None:  # a cookie from before sessions were kept, or not ours: signed out
        return None

    async def read(pg: Any) -> Any:
        return await pg.fetchrow(SESSION_USER_SQL, uid, org, sid)

    row = await on_pooled_connection(ctx.engine, read)
    if row is None:
        return None
    is_active, password_hash, roles, display_name, locale, timezone, email = row
    if not is_active or data.get(SESSION_PASSWORD_VERSION) != password_version_of(password_hash):
        return None
    return Principal(
        organisation_id=org,
        user_id=uid,
        roles=frozenset(msgspec.json.decode(roles)),
        via="session",
        display_name=display_name,
        locale=locale,
        timezone=timezone,
        email=email,
    )


def _in_int4(*values: int) -> bool:
    # ids are PostgreSQL integers: a larger number in a cookie matches no one
    return all(-(2**31) <= v < 2**31 for v in values)


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        ctx: AppContext = scope["litestar_app"].state.ctx
        authorization = Headers.from_scope(scope).get("authorization")
        principal: Principal | None = None
        if authorization:
            principal = await principal_from_api_key(ctx, authorization)
        else:
            session = scope.get("session")
            # a session without a user may hold a sign-in in progress (choosing an organisation)
            if isinstance(session, dict) and SESSION_USER in session:
                principal = await _principal_from_session(ctx, session)
                if principal is None:
                    scope["session"] = {}  # stale, revoked or deactivated: sign out
        scope["user"] = principal
        scope["auth"] = principal.via if principal else None
        await self.app(scope, receive, send)


class LearnloopCSRFMiddleware(CSRFMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and (
            # the xAPI resources take API keys only (a cookie signs no one in there), so a
            # request without credentials meets their 401, not a CSRF 403
            scope["path"].startswith("/xapi") or Headers.from_scope(scope).get("authorization")
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
