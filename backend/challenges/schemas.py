"""Request and response shapes of the challenge endpoints.

Responses carry the caller's own numbers and team aggregates only: a team challenge never
shows another member's minutes or days (privacy by design; managers see aggregates too).
"""

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backend.accounts.schemas import Schema
from backend.learning.schemas import EventKindName
from backend.validation import Title

ChallengeStatus = Literal["upcoming", "active", "finished"]
ChallengeKind = Literal["individual", "team"]

Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Pledge = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
SponsorMessage = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
CelebrationMessage = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
]
BadgeCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class IndividualTarget(Schema):
    """``target_count`` events of ``event_kind`` inside the challenge's days."""

    event_kind: EventKindName
    target_count: int = Field(ge=1, le=1000)


class ChallengeCreate(Schema):
    """An organisation-wide challenge with an individual target (L&D admin)."""

    title: Title
    description: Description = ""
    starts_on: date
    ends_on: date
    target: IndividualTarget
    competency_id: RowId | None = None
    hot_skill_only: bool = False
    xp_reward: int | None = Field(default=None, ge=0, le=10_000)
    badge_code: BadgeCode | None = None


class ChallengeUpdate(Schema):
    """Title, description and end may change any time; the start, target and reward of an
    organisation-wide challenge only before it starts."""

    title: Title | None = None
    description: Description | None = None
    ends_on: date | None = None
    starts_on: date | None = None
    target: IndividualTarget | None = None
    competency_id: RowId | None = None
    hot_skill_only: bool | None = None
    xp_reward: int | None = Field(default=None, ge=0, le=10_000)


ChallengePeriod = Literal["running", "upcoming", "past"]


class ChallengeParticipationOut(BaseModel):
    """An organisation-wide challenge as L&D sees it: the rules and aggregate numbers only."""

    id: int
    title: str
    description: str
    starts_on: date
    ends_on: date
    status: ChallengeStatus
    event_kind: str
    target_count: int
    competency_id: int | None
    competency_name: str | None
    hot_skill_only: bool
    xp_reward: int
    xp_reward_is_default: bool
    badge_code: str | None
    learners: int
    """Active learners of the organisation."""
    participants: int
    """Learners with at least one activity that counts towards the challenge."""
    completed: int
    """Learners who reached the target."""


class _TargetSchema(BaseModel):
    # not Schema: its before-validator on every field rules out a discriminator; there is no
    # free text here for a NUL character to hide in
    model_config = ConfigDict(extra="forbid")


class TeamMinutesTarget(_TargetSchema):
    """The team learns ``minutes`` minutes in total."""

    kind: Literal["team_minutes"]
    minutes: int = Field(ge=1, le=1_000_000)


class ParticipationTarget(_TargetSchema):
    """In ``weeks`` full weeks, ``member_share`` of the members learn on ``days_per_week`` days."""

    kind: Literal["participation"]
    member_share: float = Field(gt=0, le=1)
    days_per_week: int = Field(ge=1, le=7)
    weeks: int = Field(ge=1, le=13)


TeamTarget = Annotated[TeamMinutesTarget | ParticipationTarget, Field(discriminator="kind")]


class TeamChallengeCreate(Schema):
    """A team challenge sponsored by one of the team's managers (or an L&D admin)."""

    title: Title
    description: Description = ""
    pledge: Pledge
    starts_on: date
    ends_on: date
    target: TeamTarget
    message: SponsorMessage = ""
    """The sponsor's words to the team (in the announcement and on the team's page)."""


class TeamChallengeClose(Schema):
    """Close a started team challenge (a running one ends today) with a celebration."""

    message: CelebrationMessage


class IndividualProgressOut(BaseModel):
    event_kind: str
    target_count: int
    competency_id: int | None
    hot_skill_only: bool
    xp_reward: int
    badge_code: str | None
    my_count: int
    reward_paid: bool
    """The engine has paid the reward (it pays when it next sees one of my events)."""


class MyContributionOut(BaseModel):
    minutes: int
    active_days: int
    qualifying_weeks: int


class TeamProgressOut(BaseModel):
    team_id: int
    team_name: str
    sponsor: str | None
    pledge: str
    target_kind: str
    target_minutes: int | None
    member_share: float | None
    days_per_week: int | None
    weeks: int | None
    team_minutes: int | None
    """None (as every team figure) when the team is smaller than the privacy floor."""
    weeks_reached: int | None
    member_count: int
    members_contributing: int | None
    figures_shown: bool = True
    """False: the team has fewer counted members than the organisation's minimum group size,
    so the team's figures (and the challenge's progress) are not shown to anyone."""
    my_contribution: MyContributionOut | None
    """None when I am not a counted member (the team's managers, an L&D admin looking in)."""
    message: str = ""
    """The sponsor's words to the team."""
    closing_message: str = ""
    """The celebration message the challenge was closed with."""
    closed_at: datetime | None = None


class ChallengePublic(BaseModel):
    id: int
    kind: ChallengeKind
    title: str
    description: str
    starts_on: date
    ends_on: date
    status: ChallengeStatus
    progress: float | None
    """0..1; None for a team challenge of a team below the privacy floor."""
    completed: bool
    completed_on: date | None
    individual: IndividualProgressOut | None = None
    team: TeamProgressOut | None = None
