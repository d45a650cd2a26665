from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts import privacy, services
from backend.accounts.schemas import (
    LoginRequest,
    MePublic,
    MeUpdate,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from backend.auth.guards import requires_ld_admin, requires_user
from backend.auth.middleware import (
    SESSION_ORG,
    SESSION_PASSWORD_VERSION,
    SESSION_USER,
    password_version,
)
from backend.auth.principal import Principal
from backend.db.models import User
from backend.deps import app_context, provide_scope
from backend.tenancy import OrgScope

# PostgreSQL cannot compare text with U+0000 in it: refuse it as a bad request
NO_NUL = r"^[^\x00]*$"


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/login",
        summary="Sign in with e-mail and password (sets the session cookie)",
        status_code=200,
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        data: LoginRequest,
    ) -> MePublic:
        ctx = app_context(state)
        user = await services.authenticate(
            ctx, db_session, data.email, data.password, client_address(request)
        )
        assert user.id is not None
        request.set_session(
            {
                SESSION_USER: user.id,
                SESSION_ORG: user.organisation_id,
                SESSION_PASSWORD_VERSION: password_version(user),
            }
        )
        return await services.me(db_session, user.id, user.organisation_id)

    @post("/logout", summary="Sign out (clears the session cookie)", status_code=204)
    async def logout(self, request: Request[Any, Any, Any]) -> None:
        request.clear_session()


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["me"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="The signed-in learner's profile")
    async def get_me(self, org: OrgScope, principal: Principal) -> MePublic:
        assert principal.user_id is not None
        return await services.me(org.session, principal.user_id, principal.organisation_id)

    @patch(
        "/",
        summary="Change my name, timezone, language, leaderboard opt-in or nudge preferences",
    )
    async def update_me(self, org: OrgScope, data: MeUpdate) -> MePublic:
        return await services.update_me(org, data)

    @delete(
        "/",
        summary='Delete my account and all my data (body {"confirm": "DELETE"})',
        status_code=204,
    )
    async def delete_me(
        self, request: Request[Any, Any, Any], org: OrgScope, data: privacy.DeleteMeRequest
    ) -> None:
        await privacy.delete_my_account(request, org, data)


class UserAdminController(Controller):
    path = "/api/v1/users"
    tags = ["users"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="People in my organisation (L&D admin)")
    async def list_users(
        self,
        org: OrgScope,
        q: Annotated[str | None, Parameter(max_length=100, pattern=NO_NUL)] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> list[UserPublic]:
        return await services.list_users(org, q, limit, offset)

    @post("/", summary="Add a person to my organisation (L&D admin)")
    async def create_user(self, org: OrgScope, state: State, data: UserCreate) -> UserPublic:
        return await services.create_user(org, data, app_context(state).settings.password_cost)

    @get("/{user_id:int}", summary="One person (L&D admin)")
    async def get_user(self, org: OrgScope, user_id: int) -> UserPublic:
        return services.user_public(await org.get(User, user_id, what="user"))

    @patch("/{user_id:int}", summary="Change a person's roles or deactivate them (L&D admin)")
    async def update_user(self, org: OrgScope, user_id: int, data: UserUpdate) -> UserPublic:
        return await services.update_user(org, user_id, data)
