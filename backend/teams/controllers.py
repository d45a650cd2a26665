from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import Parameter

from backend.auth.guards import requires_ld_admin, requires_manager, requires_user
from backend.deps import provide_scope
from backend.teams import overview, services
from backend.teams.overview import TeamOverview
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


class TeamOverviewController(Controller):
    path = "/api/v1/team-overview"
    tags = ["teams"]
    guards = [requires_manager]  # managers and L&D admins; which team is group_for's to say
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get(
        "/",
        opt={"aggregate": True},
        summary="A team at a glance: active share and 12-week trend, minutes, weekly-goal "
        "attainment, streaks, challenges and competencies (its managers and L&D admins; "
        "aggregates only, 403 below the privacy floor; without team: my first team)",
    )
    async def team_overview(
        self, org: OrgScope, team: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None
    ) -> TeamOverview:
        return await overview.team_overview(org, await overview.chosen_team(org, team))
