from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from backend.auth.guards import requires_ld_admin, requires_user
from backend.challenges import services
from backend.challenges.schemas import (
    ChallengeCreate,
    ChallengeParticipationOut,
    ChallengePeriod,
    ChallengePublic,
    ChallengeStatus,
    ChallengeUpdate,
    TeamChallengeClose,
    TeamChallengeCreate,
)
from backend.deps import provide_scope
from backend.tenancy import OrgScope

StatusFilter = Annotated[
    ChallengeStatus | None,
    Parameter(description="active, upcoming or finished; without it: active and upcoming"),
]


def _statuses(status: ChallengeStatus | None) -> list[ChallengeStatus]:
    return [status] if status is not None else ["active", "upcoming"]


class ChallengeController(Controller):
    path = "/api/v1/challenges"
    tags = ["challenges"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="Challenges for me: the organisation's and my teams', with my progress")
    async def list_challenges(
        self, org: OrgScope, status: StatusFilter = None
    ) -> list[ChallengePublic]:
        return await services.list_challenges(org, _statuses(status))

    @get(
        "/organisation",
        guards=[requires_ld_admin],
        summary="The organisation-wide challenges (running, upcoming or past) with how many "
        "learners took part and completed (L&D admin; aggregates only)",
    )
    async def organisation_challenges(
        self, org: OrgScope, period: ChallengePeriod | None = None
    ) -> list[ChallengeParticipationOut]:
        return await services.organisation_challenges(org, period)

    @get(
        "/organisation/{challenge_id:int}",
        guards=[requires_ld_admin],
        summary="One organisation-wide challenge with its participation (L&D admin)",
    )
    async def organisation_challenge(
        self, org: OrgScope, challenge_id: int
    ) -> ChallengeParticipationOut:
        return await services.organisation_challenge(org, challenge_id)

    @post(
        "/{challenge_id:int}/end",
        guards=[requires_ld_admin],
        status_code=200,
        summary="End a running organisation-wide challenge today (L&D admin)",
    )
    async def end_challenge(self, org: OrgScope, challenge_id: int) -> ChallengePublic:
        return await services.end_challenge(org, challenge_id)

    @get("/{challenge_id:int}", summary="One challenge with my progress")
    async def get_challenge(self, org: OrgScope, challenge_id: int) -> ChallengePublic:
        return await services.get_challenge(org, challenge_id)

    @post(
        "/",
        guards=[requires_ld_admin],
        summary="Set an organisation-wide challenge with an individual target (L&D admin)",
    )
    async def create_challenge(self, org: OrgScope, data: ChallengeCreate) -> ChallengePublic:
        return await services.create_challenge(org, data)

    @patch(
        "/{challenge_id:int}",
        summary="Change a challenge's title, description or end; before it starts also an "
        "organisation challenge's start, target and reward (whoever may set it)",
    )
    async def update_challenge(
        self, org: OrgScope, challenge_id: int, data: ChallengeUpdate
    ) -> ChallengePublic:
        return await services.update_challenge(org, challenge_id, data)

    @delete("/{challenge_id:int}", summary="Delete a challenge that has not started yet")
    async def delete_challenge(self, org: OrgScope, challenge_id: int) -> None:
        await services.delete_challenge(org, challenge_id)


class TeamChallengeController(Controller):
    path = "/api/v1/teams/{team_id:int}/challenges"
    tags = ["challenges"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="A team's challenges (its members and L&D admins)")
    async def list_team_challenges(
        self, org: OrgScope, team_id: int, status: StatusFilter = None
    ) -> list[ChallengePublic]:
        return await services.list_team_challenges(org, team_id, _statuses(status))

    @post("/", summary="Sponsor a challenge for the team (its manager or an L&D admin)")
    async def create_team_challenge(
        self, org: OrgScope, team_id: int, data: TeamChallengeCreate
    ) -> ChallengePublic:
        return await services.create_team_challenge(org, team_id, data)

    @post(
        "/{challenge_id:int}/close",
        status_code=200,
        summary="Close a started team challenge with a celebration message for the team "
        "(its manager or an L&D admin; a running one ends today)",
    )
    async def close_team_challenge(
        self, org: OrgScope, team_id: int, challenge_id: int, data: TeamChallengeClose
    ) -> ChallengePublic:
        return await services.close_team_challenge(org, challenge_id, data, team_id=team_id)
