from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from backend.db.models import CourseFormat
from backend.validation import Name, Text, Title


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompetencyCreate(Schema):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""


class CompetencyPublic(BaseModel):
    id: int
    name: str
    description: str


class CompetencyRef(BaseModel):
    id: int
    name: str


class CourseBase(Schema):
    title: Title
    description: Text = ""
    provider: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    format: CourseFormat = CourseFormat.elearning
    duration_minutes: int = Field(default=0, ge=0, le=100_000)
    cost_cents: int = Field(default=0, ge=0, le=100_000_000)
    url: AnyHttpUrl | None = None
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    xapi_activity_id: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    hot_skill: bool = False
    competency_ids: list[int] = Field(default_factory=list, max_length=20)


class CourseCreate(CourseBase):
    pass


class CourseUpdate(Schema):
    title: Title | None = None
    description: Text | None = None
    provider: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    format: CourseFormat | None = None
    duration_minutes: int | None = Field(default=None, ge=0, le=100_000)
    cost_cents: int | None = Field(default=None, ge=0, le=100_000_000)
    url: AnyHttpUrl | None = None
    hot_skill: bool | None = None
    competency_ids: list[int] | None = Field(default=None, max_length=20)


class CoursePublic(BaseModel):
    id: int
    title: str
    description: str
    provider: str
    format: str
    duration_minutes: int
    cost_cents: int
    url: str | None
    external_id: str | None
    xapi_activity_id: str | None
    hot_skill: bool
    competencies: list[CompetencyRef]
