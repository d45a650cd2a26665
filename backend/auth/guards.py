"""Role guards: the one place each feature states who may call it.

Guards are coroutines on purpose: Litestar runs a plain-function guard in a worker thread,
a thread hop on every request for a check that takes a microsecond.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from backend.auth.principal import Principal
from backend.db.models import Role

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise NotAuthorizedException("sign in, or send an API key in the Authorization header")
    return principal


async def requires_signed_in(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    current_principal(connection)


async def requires_user(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A person (session), not an integration key."""
    principal = current_principal(connection)
    if principal.user_id is None:
        raise PermissionDeniedException("this endpoint is for signed-in people, not API keys")


async def requires_api_key(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    principal = current_principal(connection)
    if principal.via != "api_key":
        raise PermissionDeniedException("this endpoint is for integrations with an API key")


def requires_role(*roles: Role) -> Guard:
    names = ", ".join(r.value for r in roles)

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        await requires_user(connection, handler)
        principal = current_principal(connection)
        if not any(principal.has_role(role) for role in roles):
            raise PermissionDeniedException(f"requires the role {names}")

    return guard


requires_ld_admin = requires_role(Role.ld_admin)
requires_manager = requires_role(Role.manager, Role.ld_admin)
