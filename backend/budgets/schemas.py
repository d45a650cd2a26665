"""What the budgets API takes and returns (never the table models)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from backend.accounts.schemas import Schema

RequestStatus = Literal["pending", "awaiting_ld", "approved", "declined"]
StatusFilter = Literal[
    "waiting", "pending", "awaiting_ld", "approved", "declined", "decided", "all"
]


class DecisionIn(Schema):
    """Approve or decline a budget request; a decline says why (the learner reads it)."""

    approve: bool
    note: str = Field(default="", max_length=500)


class BudgetRequestOut(BaseModel):
    """A budget request with every step of its decision.

    ``stage``: ``waiting_for_manager``, ``waiting_for_ld``, ``approved``, ``completed``
    (approved, and the learner completed the course since asking) or ``declined``.
    """

    id: int
    user_id: int
    learner_name: str
    course_id: int
    course_title: str
    cost_cents: int
    status: RequestStatus
    stage: str
    requested_at: datetime
    budget_year_start: date
    manager_name: str = ""
    manager_decided_at: datetime | None = None
    decided_by_name: str = ""
    decided_at: datetime | None = None
    decision_note: str = ""
    completed: bool = False
    can_decide: bool = False
    """Whether the caller may decide it now."""
    learner_left_cents: int | None = None
    """For a decider: what the learner has left in the request's budget year (without it)."""


class MyBudgetOut(BaseModel):
    """My learning budget this budget year and my requests, newest first.

    ``left_cents`` = ``yearly_cents`` - ``committed_cents`` (approved, not completed yet) -
    ``spent_cents`` (approved and completed); ``pending_cents`` is asked for, not decided.
    """

    year_start: date
    year_end: date
    """The first day of the next budget year."""
    yearly_cents: int
    committed_cents: int
    spent_cents: int
    pending_cents: int
    left_cents: int
    requests: list[BudgetRequestOut]


class BudgetFiguresOut(BaseModel):
    """A group's budget this budget year (aggregate: a team or the organisation).

    ``used_percent`` = (committed + spent) / yearly; ``forecast_percent`` is where the year
    ends if approvals keep their pace so far (linear over the year's days).
    """

    team_id: int | None
    label: str
    learners: int
    year_start: date
    year_end: date
    """The first day of the next budget year."""
    yearly_cents: int
    committed_cents: int
    spent_cents: int
    pending_cents: int
    left_cents: int
    used_percent: float
    forecast_percent: float
    forecast_cents: int


class TeamUtilisationOut(BaseModel):
    """One team's row: figures, or ``hidden`` when the team is below the privacy floor."""

    team_id: int
    name: str
    hidden: bool
    figures: BudgetFiguresOut | None = None


class UtilisationOut(BaseModel):
    """The organisation's (or one team's) headline with a row per team."""

    headline: BudgetFiguresOut
    teams: list[TeamUtilisationOut]
    min_group_size: int


class BudgetOverrideIn(Schema):
    """A person's own yearly budget; ``null`` returns them to the organisation's default."""

    yearly_budget_cents: int | None = Field(default=None, ge=0, le=100_000_000)


class BudgetOverrideOut(BaseModel):
    user_id: int
    display_name: str
    yearly_budget_cents: int | None
    effective_yearly_cents: int


class BudgetSettingsIn(Schema):
    """The organisation's budget settings; fields left out stay as they are."""

    yearly_budget_cents: int | None = Field(default=None, ge=0, le=100_000_000)
    budget_year_start_month: int | None = Field(default=None, ge=1, le=12)
    budget_ld_approval_above_cents: int | None = Field(default=None, ge=0, le=100_000_000)
    """0 means: managers decide alone, whatever the cost."""


class BudgetSettingsOut(BaseModel):
    yearly_budget_cents: int
    budget_year_start_month: int
    budget_ld_approval_above_cents: int | None
