"""Dependencies shared by every feature: the database session and the organisation scope."""

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.guards import current_principal
from backend.auth.principal import Principal
from backend.context import AppContext
from backend.tenancy import OrgScope


def app_context(state: State) -> AppContext:
    ctx: AppContext = state.ctx
    return ctx


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    # services commit explicitly; anything left uncommitted is rolled back on close
    async with app_context(state).sessionmaker() as session:
        yield session


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return current_principal(request)


def provide_scope(db_session: AsyncSession, principal: Principal) -> OrgScope:
    return OrgScope(db_session, principal)
