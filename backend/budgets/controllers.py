from typing import Annotated

from litestar import Controller, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from backend.auth.guards import requires_ld_admin, requires_manager, requires_user
from backend.budgets import services
from backend.budgets.schemas import (
    BudgetFiguresOut,
    BudgetOverrideIn,
    BudgetOverrideOut,
    BudgetRequestOut,
    DecisionIn,
    MyBudgetOut,
    StatusFilter,
    UtilisationOut,
)
from backend.deps import provide_scope
from backend.tenancy import OrgScope

TeamParam = Annotated[
    int | None,
    Parameter(
        query="team",
        description="a team id; without it: the whole organisation (L&D)",
        ge=1,
        le=2**31 - 1,  # a team id is a 32-bit integer: beyond it no team exists
    ),
]


class BudgetController(Controller):
    path = "/api/v1/budgets"
    tags = ["budgets"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/me", summary="My learning budget this budget year and my requests with decisions")
    async def my_budget(self, org: OrgScope) -> MyBudgetOut:
        return await services.my_budget_overview(org)

    @get(
        "/requests",
        guards=[requires_manager],
        summary="Budget requests for me to decide (manager: my teams' people; L&D: everyone)",
        description="status: waiting (default: what I may decide now), pending, awaiting_ld, "
        "approved, declined, decided or all; team: one team's people.",
    )
    async def requests(
        self, org: OrgScope, status: StatusFilter = "waiting", team: TeamParam = None
    ) -> list[BudgetRequestOut]:
        return await services.requests_to_decide(org, status, team)

    @post(
        "/requests/{request_id:int}/decision",
        guards=[requires_manager],
        status_code=200,
        summary="Approve or decline a budget request (a decline needs a note)",
        description="409 when it is decided already, waits for L&D (for a manager), or would "
        "take the learner past their yearly budget (the detail says what is left).",
    )
    async def decide(self, org: OrgScope, request_id: int, data: DecisionIn) -> BudgetRequestOut:
        return await services.decide(org, request_id, approve=data.approve, note=data.note)

    @get(
        "/overview",
        guards=[requires_manager],
        opt={"aggregate": True},
        summary="A team's budget this year: committed, spent, pending, left (aggregate)",
    )
    async def overview(self, org: OrgScope, team: TeamParam = None) -> BudgetFiguresOut:
        return await services.team_figures(org, team)

    @get(
        "/utilisation",
        guards=[requires_ld_admin],
        opt={"aggregate": True},
        summary="Budget used per team against the budget, with the year-end forecast (L&D)",
    )
    async def utilisation(self, org: OrgScope, team: TeamParam = None) -> UtilisationOut:
        return await services.utilisation(org, team)

    @put(
        "/people/{user_id:int}",
        guards=[requires_ld_admin],
        summary="Set a person's own yearly budget (null: the organisation's default; L&D)",
    )
    async def set_person_budget(
        self, org: OrgScope, user_id: int, data: BudgetOverrideIn
    ) -> BudgetOverrideOut:
        return await services.set_yearly_budget(org, user_id, data.yearly_budget_cents)
