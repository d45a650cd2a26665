"""What the recommendations API answers."""

from typing import Literal

from pydantic import BaseModel

ReasonName = Literal[
    "goal",
    "expected_competency",
    "hot_skill",
    "team_praised",
    "horizontal",
    "fits_budget",
    "short_for_streak",
]


class RecommendationOut(BaseModel):
    """A recommended course and, in the learner's language, why."""

    course_id: int
    title: str
    reason: ReasonName
    reason_text: str
    duration_minutes: int
    cost_cents: int
    url: str


class DismissalOut(BaseModel):
    """A course the learner said "not for me" to; it is not recommended to them again."""

    course_id: int
    # None: dismissed without having been recommended
    reason: ReasonName | None
