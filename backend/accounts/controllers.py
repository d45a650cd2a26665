from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts import job_families, privacy, services
from backend.accounts.schemas import (
    ExpectedCompetenciesUpdate,
    ForgotPasswordRequest,
    JobFamilyPublic,
    LinkSent,
    LoginRequest,
    MePublic,
    MeUpdate,
    SessionsEnded,
    TeamMove,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from backend.auth import user_sessions
from backend.auth.guards import requires_ld_admin, requires_user
from backend.auth.principal import Principal
from backend.auth.user_sessions import end_session, start_session
from backend.db.models import Role
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
            ctx, db_session, data.email, data.password, client_address(request), data.organisation
        )
        assert user.id is not None
        await start_session(db_session, request, user)
        return await services.me(db_session, user.id, user.organisation_id)

    @post(
        "/logout",
        summary="Sign out: this session ends, for every copy of its cookie",
        status_code=204,
    )
    async def logout(self, request: Request[Any, Any, Any], state: State) -> None:
        await end_session(app_context(state), request)

    @post(
        "/forgot-password",
        summary="Mail a password-reset link to this address (the same answer whether it is known)",
        status_code=202,
    )
    async def forgot_password(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: AsyncSession,
        data: ForgotPasswordRequest,
    ) -> dict[str, str]:
        await services.request_password_reset(
            app_context(state), db_session, data.email, client_address(request)
        )
        return {
            "detail": "if this address has an account, a link to set a new password is on its way"
        }


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

    @post(
        "/sign-out-everywhere",
        summary="Sign me out on every device, this one too",
        status_code=200,
    )
    async def sign_out_everywhere(
        self, request: Request[Any, Any, Any], org: OrgScope, principal: Principal
    ) -> SessionsEnded:
        assert principal.user_id is not None
        ended = await user_sessions.sign_out_everywhere(org, principal.user_id)
        request.clear_session()
        return SessionsEnded(ended=ended)

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

    @get("/", summary="People in my organisation, with search and filters (L&D admin)")
    async def list_users(
        self,
        org: OrgScope,
        q: Annotated[str | None, Parameter(max_length=100, pattern=NO_NUL)] = None,
        team_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        role: Role | None = None,
        status: services.PeopleStatus | None = None,
        sort: Annotated[
            str,
            Parameter(
                pattern="^(name|email|created|status)$",
                description="name, email, created or status",
            ),
        ] = "name",
        descending: bool = False,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> list[UserPublic]:
        query = services.PeopleQuery(
            q=q or "",
            team_id=team_id,
            role=role,
            status=status,
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )
        people, _total = await services.list_people(org, query)
        return people

    @post("/", summary="Add a person to my organisation, optionally in a team (L&D admin)")
    async def create_user(self, org: OrgScope, state: State, data: UserCreate) -> UserPublic:
        return await services.create_user(org, data, app_context(state).settings.password_cost)

    @get("/{user_id:int}", summary="One person and their teams (L&D admin)")
    async def get_user(self, org: OrgScope, user_id: int) -> UserPublic:
        return await services.get_person(org, user_id)

    @patch(
        "/{user_id:int}",
        summary="Rename a person, change their language or roles, deactivate or reactivate them "
        "(L&D admin)",
    )
    async def update_user(self, org: OrgScope, user_id: int, data: UserUpdate) -> UserPublic:
        return await services.update_user(org, user_id, data)

    @put(
        "/{user_id:int}/team",
        summary="Move a person to one team, or out of every team (L&D admin)",
    )
    async def move_team(self, org: OrgScope, user_id: int, data: TeamMove) -> UserPublic:
        return await services.move_to_team(org, user_id, data.team_id)

    @post(
        "/{user_id:int}/invitation",
        summary="Send a one-time sign-in link, valid 7 days; without mail the answer holds the "
        "link (L&D admin)",
        status_code=201,
    )
    async def invite(self, org: OrgScope, state: State, user_id: int) -> LinkSent:
        return await services.send_link(org, app_context(state).settings, user_id, "invite")

    @post(
        "/{user_id:int}/sign-out-everywhere",
        summary="End every session of a person, on every device (L&D admin)",
        status_code=200,
    )
    async def sign_out_everywhere(self, org: OrgScope, user_id: int) -> SessionsEnded:
        return SessionsEnded(ended=await user_sessions.sign_out_everywhere(org, user_id))

    @post(
        "/{user_id:int}/password-reset",
        summary="Send a one-time link to set a new password, valid 24 hours (L&D admin)",
        status_code=201,
    )
    async def password_reset(self, org: OrgScope, state: State, user_id: int) -> LinkSent:
        return await services.send_link(org, app_context(state).settings, user_id, "reset")


class JobFamilyController(Controller):
    path = "/api/v1/job-families"
    tags = ["job families"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get(
        "/",
        summary="Job families in use, with their people, courses and expected competencies "
        "(L&D admin)",
    )
    async def list_job_families(self, org: OrgScope) -> list[JobFamilyPublic]:
        return await job_families.job_family_overview(org)

    # a path parameter: a family's name may hold a "/" (HR/Legal), sent as is or as %2F
    @get(
        "/{job_family:path}",
        summary="A job family: its people, courses and the competencies L&D expects of "
        "everyone in it (L&D admin)",
    )
    async def get_job_family(self, org: OrgScope, job_family: str) -> JobFamilyPublic:
        return await job_families.job_family_public(org, job_family.removeprefix("/"))

    @put(
        "/{job_family:path}",
        summary="Expect exactly these competencies of everyone in a job family; [] clears "
        "(L&D admin)",
    )
    async def set_expected(
        self, org: OrgScope, job_family: str, data: ExpectedCompetenciesUpdate
    ) -> JobFamilyPublic:
        return await job_families.set_expected_competencies(
            org, job_family.removeprefix("/"), data.competency_ids
        )
