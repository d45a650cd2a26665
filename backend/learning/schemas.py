"""Request and response shapes of the ingestion and learner-progress endpoints."""

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from backend.accounts.schemas import Schema  # extra fields and U+0000 are refused
from backend.recommendations.schemas import RecommendationOut
from backend.validation import LearningTime, RowId


class LearnerRef(Schema):
    """Exactly one way to say who learned."""

    email: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
        | None
    ) = None
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    user_id: RowId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "LearnerRef":
        given = [n for n in ("email", "external_id", "user_id") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of email, external_id or user_id")
        return self


class CourseRef(Schema):
    id: RowId | None = None
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    xapi_activity_id: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "CourseRef":
        given = [
            n for n in ("id", "external_id", "xapi_activity_id") if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of id, external_id or xapi_activity_id")
        return self


EventKindName = Literal["completion", "progress", "experience", "informal", "testimonial"]


class EventIn(Schema):
    """A learning event from a trusted integration (``POST /api/v1/events``)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=180)]
    learner: LearnerRef
    kind: EventKindName
    occurred_at: LearningTime
    minutes: int | None = Field(default=None, ge=0, le=10_080)
    course: CourseRef | None = None
    competency_id: RowId | None = None
    title: Annotated[str, StringConstraints(max_length=300)] = ""


class EventItemResult(BaseModel):
    id: str
    status: Literal["created", "duplicate", "conflict", "rejected"]
    detail: str = ""
    xp: int = 0
    badges: list[str] = Field(default_factory=list)


class EventBatchResult(BaseModel):
    results: list[EventItemResult]


class MomentIn(Schema):
    """A 30-second "I learned something" log from the PWA."""

    client_id: UUID
    what: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=300)]
    minutes: int = Field(ge=1, le=480)
    competency_id: RowId | None = None
    colleague_id: RowId | None = None
    occurred_at: AwareDatetime | None = None


class StreakOut(BaseModel):
    mode: str
    current: int
    longest: int
    freezes_banked: int
    at_risk: bool
    deadline: date | None
    paused_today: bool
    repair_extra_sessions: int | None = None
    repair_by: date | None = None


class LevelOut(BaseModel):
    level: int
    xp_total: int
    xp_into_level: int
    xp_to_next_level: int
    fraction: float


class WeeklyGoalOut(BaseModel):
    target_minutes: int
    minutes: int
    fraction: float
    pace: str


class ChallengeSummary(BaseModel):
    id: int
    kind: str
    title: str
    starts_on: date
    ends_on: date
    progress: float | None  # None: a team below the privacy floor (no team figures)
    completed: bool
    my_count: int | None = None
    target: int | None = None
    pledge: str = ""
    sponsor: str | None = None
    team: str | None = None


class BadgeSummary(BaseModel):
    code: str
    name: str
    tier: str
    awarded_at: datetime
    public_id: str


class TodayOut(BaseModel):
    date: date
    streak: StreakOut
    level: LevelOut
    weekly_goal: WeeklyGoalOut
    minutes_today: int
    challenges: list[ChallengeSummary]
    newest_badges: list[BadgeSummary]
    # the top recommended next courses, each with its reason (backend.recommendations)
    recommendations: list[RecommendationOut] = Field(default_factory=list)


class MomentResult(BaseModel):
    status: Literal["created", "duplicate"]
    xp: int
    badges: list[str]
    today: TodayOut
