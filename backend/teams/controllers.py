from litestar import Controller, delete, get, patch, post, put
from litestar.di import Provide

from backend.auth.guards import requires_ld_admin, requires_user
from backend.deps import provide_scope
from backend.teams import services
from backend.teams.schemas import MembershipUpdate, TeamCreate, TeamDetail, TeamPublic, TeamUpdate
from backend.tenancy import OrgScope


class TeamController(Controller):
    path = "/api/v1/teams"
    tags = ["teams"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_user], summary="Teams in my organisation")
    async def list_teams(self, org: OrgScope) -> list[TeamPublic]:
        return await services.list_teams(org)

    @get("/{team_id:int}", guards=[requires_user], summary="A team and its members")
    async def get_team(self, org: OrgScope, team_id: int) -> TeamDetail:
        return await services.get_team(org, team_id)

    @post("/", guards=[requires_ld_admin], summary="Create a team (L&D admin)")
    async def create_team(self, org: OrgScope, data: TeamCreate) -> TeamDetail:
        return await services.create_team(org, data)

    @patch(
        "/{team_id:int}",
        guards=[requires_ld_admin],
        summary="Rename a team or set exactly who manages it (L&D admin)",
    )
    async def update_team(self, org: OrgScope, team_id: int, data: TeamUpdate) -> TeamDetail:
        return await services.update_team(org, team_id, data)

    @delete(
        "/{team_id:int}",
        guards=[requires_ld_admin],
        summary="Delete a team without members or challenges (L&D admin)",
    )
    async def delete_team(self, org: OrgScope, team_id: int) -> None:
        await services.delete_team(org, team_id)

    @put(
        "/{team_id:int}/members/{user_id:int}",
        guards=[requires_ld_admin],
        summary="Add or update a team member (L&D admin)",
    )
    async def put_member(
        self, org: OrgScope, team_id: int, user_id: int, data: MembershipUpdate
    ) -> TeamDetail:
        return await services.set_member(org, team_id, user_id, data)

    @delete(
        "/{team_id:int}/members/{user_id:int}",
        guards=[requires_ld_admin],
        summary="Remove a team member (L&D admin)",
    )
    async def remove_member(self, org: OrgScope, team_id: int, user_id: int) -> None:
        await services.remove_member(org, team_id, user_id)
