from typing import Annotated

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, Field, StringConstraints

from backend.accounts.schemas import Schema
from backend.db.models import CourseFormat
from backend.validation import Name, Text, Title

MAX_URL_LENGTH = 1000  # the course.url column


def _url_fits(url: AnyHttpUrl) -> AnyHttpUrl:
    # measured after normalisation (percent-encoding can make it longer than what was sent)
    if len(str(url)) > MAX_URL_LENGTH:
        raise ValueError(f"URL is too long; at most {MAX_URL_LENGTH} characters")
    return url


CourseUrl = Annotated[AnyHttpUrl, AfterValidator(_url_fits)]


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
    url: CourseUrl | None = None
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
    url: CourseUrl | None = None
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
