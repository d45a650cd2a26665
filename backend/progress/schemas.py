"""Request and response shapes of a learner's goals, pauses, history, XP chart and leaderboards."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from backend.accounts.schemas import Schema
from backend.validation import RowId
from gamification.goals import MAX_GOAL_COURSES

MAX_WEEKLY_GOAL_MINUTES = 1200
MAX_PAUSE_DAYS = 60

PaceName = Literal["ahead", "on_track", "behind", "done", "missed"]
DatedGoalKindName = Literal["finish_course", "competency_events", "courses"]
MAX_GOAL_COUNT = 1000
CourseIds = list[RowId]


class WeeklyGoalIn(Schema):
    minutes: int = Field(ge=0, le=MAX_WEEKLY_GOAL_MINUTES)


_GOAL_FIELDS: dict[str, frozenset[str]] = {
    "finish_course": frozenset({"course_id"}),
    "competency_events": frozenset({"competency_id", "count"}),
    "courses": frozenset({"course_ids"}),
}


def _different(value: list[int] | None) -> list[int] | None:
    if value is not None and len(set(value)) != len(value):
        raise ValueError("each course only once")
    return value


class DatedGoalIn(Schema):
    """``finish_course``: finish ``course_id`` by ``due_on``.
    ``competency_events``: learn ``count`` times in ``competency_id`` by ``due_on``.
    ``courses``: finish each of ``course_ids`` (1 to 10 courses) by ``due_on``."""

    kind: DatedGoalKindName
    # validated even when left out, so a missing one is reported under its own name
    course_id: int | None = Field(default=None, ge=1, validate_default=True)
    competency_id: int | None = Field(default=None, ge=1, validate_default=True)
    count: int | None = Field(default=None, ge=1, le=MAX_GOAL_COUNT, validate_default=True)
    course_ids: CourseIds | None = Field(
        default=None, min_length=1, max_length=MAX_GOAL_COURSES, validate_default=True
    )
    due_on: date

    @field_validator("course_ids")
    @classmethod
    def _courses_once(cls, value: list[int] | None) -> list[int] | None:
        return _different(value)

    @field_validator("course_id", "competency_id", "count", "course_ids")
    @classmethod
    def _fits_kind(cls, value: object, info: ValidationInfo) -> object:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is invalid and reported as such
            return value
        needed = info.field_name in _GOAL_FIELDS[kind]
        if needed and value is None:
            raise ValueError(f"required for a {kind} goal")
        if not needed and value is not None:
            raise ValueError(f"not used by a {kind} goal")
        return value


class DatedGoalChange(Schema):
    """What can change on an open dated goal: its due date, the count of a
    ``competency_events`` goal, the courses of a ``courses`` goal. Fields left out stay."""

    due_on: date | None = None
    count: int | None = Field(default=None, ge=1, le=MAX_GOAL_COUNT)
    course_ids: CourseIds | None = Field(default=None, min_length=1, max_length=MAX_GOAL_COURSES)

    @field_validator("course_ids")
    @classmethod
    def _courses_once(cls, value: list[int] | None) -> list[int] | None:
        return _different(value)


class WeeklyGoalOut(BaseModel):
    week: str
    week_starts_on: date
    target_minutes: int
    minutes: int
    fraction: float
    elapsed_fraction: float
    pace: PaceName


class GoalCourseRef(BaseModel):
    id: int
    title: str | None = Field(description="null: the course is no longer in the catalogue")


class GoalCourseOut(GoalCourseRef):
    finished: bool


class DatedGoalOut(BaseModel):
    id: str
    kind: DatedGoalKindName
    course_id: int | None = None
    course_title: str | None = None
    competency_id: int | None = None
    competency_name: str | None = None
    courses: list[GoalCourseOut] = Field(
        default_factory=list, description="A courses goal's courses, each finished or not"
    )
    set_on: date
    due_on: date
    done: int
    target: int
    fraction: float
    pace: PaceName
    reached_on: date | None = None


class FinishedGoalOut(BaseModel):
    id: str
    kind: DatedGoalKindName
    course_id: int | None = None
    course_title: str | None = None
    competency_id: int | None = None
    competency_name: str | None = None
    courses: list[GoalCourseRef] = Field(default_factory=list)
    set_on: date
    due_on: date
    finished_on: date
    done: int
    target: int
    outcome: Literal["reached", "given_up"]
    reached_on: date | None = None


class GoalsOut(BaseModel):
    weekly: WeeklyGoalOut
    dated: list[DatedGoalOut]
    finished: list[FinishedGoalOut] = Field(
        default_factory=list, description="Goals I closed, newest first"
    )


class PauseIn(Schema):
    """A planned pause (holiday, leave): local days ``start_date``..``end_date`` inclusive."""

    start_date: date
    end_date: date


class PauseOut(BaseModel):
    start_date: date
    end_date: date
    days: int
    status: Literal["upcoming", "active", "past"]


class HistoryItem(BaseModel):
    id: int
    title: str
    kind: str
    minutes: int
    local_date: date
    occurred_at: datetime
    source: str
    course_id: int | None
    xp: int


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_before: str | None = Field(
        description="Pass as ?before= to get the next (older) page; null on the last page"
    )


class WeekXp(BaseModel):
    week: str
    starts_on: date
    xp: int


class LevelPosition(BaseModel):
    level: int
    xp_total: int
    level_starts_at_xp: int
    next_level_at_xp: int
    xp_into_level: int
    xp_to_next_level: int
    fraction: float


class XpChartOut(BaseModel):
    weeks: list[WeekXp]
    level: LevelPosition


class LeaderboardPlace(BaseModel):
    rank: int
    display_name: str
    weekly_xp: int
    is_me: bool


class MyPlace(BaseModel):
    rank: int
    weekly_xp: int
    visible: bool = Field(
        description="Whether others see me on this board (opted in and earned XP this week)"
    )


class LeaderboardOut(BaseModel):
    week: str
    starts_on: date
    ends_on: date
    entries: list[LeaderboardPlace]
    me: MyPlace | None = Field(
        description="My own place; null only for an L&D admin looking at a team they are not in"
    )
