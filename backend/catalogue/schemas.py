from datetime import date, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backend.accounts.schemas import Schema
from backend.db.models import CourseFormat
from backend.validation import Name, Text, Title
from pwa.i18n import N_

MAX_URL_LENGTH = 1000  # the course.url column
MAX_MINUTES = 100_000  # about 1,666 hours: longer than any programme
MAX_COST_CENTS = 100_000_000  # one million euros
MAX_LINKS = 20  # competencies of one course
MAX_SEASON_ITEMS = 200  # competencies or courses of one hot-skill season

# raised by the schemas; the console shows them translated (marked for extraction here)
SEASON_ENDS_TOO_EARLY = N_("The season cannot end before it starts.")
SEASON_NEEDS_ITEMS = N_("Choose at least one competency or course.")


def _url_fits(url: AnyHttpUrl) -> AnyHttpUrl:
    # measured after normalisation (percent-encoding can make it longer than what was sent)
    if len(str(url)) > MAX_URL_LENGTH:
        raise ValueError(f"URL is too long; at most {MAX_URL_LENGTH} characters")
    return url


CourseUrl = Annotated[AnyHttpUrl, AfterValidator(_url_fits)]
Provider = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ActivityId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Description = Annotated[str, StringConstraints(max_length=2000)]
JobFamily = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
JOB_FAMILY_HELP = (
    "The job family the course is made for (e.g. Finance); learning in a family other than "
    "one's own counts as horizontal. Null: for everyone."
)

TITLE_HELP = "Required; 1 to 200 characters."
FORMAT_HELP = "Required; one of " + ", ".join(f.value for f in CourseFormat) + "."
DURATION_HELP = f"Required; whole minutes, 1 to {MAX_MINUTES:,}."
COST_HELP = f"In euro cents, 0 (free) to {MAX_COST_CENTS:,}."
URL_HELP = f"Where the course is taken: http(s), at most {MAX_URL_LENGTH} characters."
EXTERNAL_HELP = "The id your LMS or import file knows the course by; unique, at most 200."
ACTIVITY_HELP = "The xAPI activity id statements about this course carry; unique."
HOT_HELP = "Hot all year round (seasons make courses hot for a while)."
LINKS_HELP = f"Ids of the organisation's competencies, at most {MAX_LINKS}."


class CompetencyCreate(Schema):
    name: Name = Field(description="Required; 1 to 120 characters, unique in the organisation.")
    description: Description = ""


class CompetencyUpdate(Schema):
    name: Name | None = Field(default=None, description="A new name (renames everywhere).")
    description: Description | None = None


class CompetencyMerge(Schema):
    into_id: int = Field(
        ge=1,
        le=2**31 - 1,
        description="The competency that remains; everything using this one moves to it.",
    )


class CompetencyPublic(BaseModel):
    id: int
    name: str
    description: str


class CompetencyUsage(BaseModel):
    """A competency with what uses it (a competency in use cannot be deleted, only merged)."""

    id: int
    name: str
    description: str
    courses: int
    learning_events: int
    badges: int
    challenges: int
    seasons: int
    goals: int

    @property
    def in_use(self) -> bool:
        return any(
            (
                self.courses,
                self.learning_events,
                self.badges,
                self.challenges,
                self.seasons,
                self.goals,
            )
        )


class CompetencyRef(BaseModel):
    id: int
    name: str


class CourseRef(BaseModel):
    id: int
    title: str


class CourseBase(Schema):
    title: Title = Field(description=TITLE_HELP)
    description: Text = ""
    provider: Provider = ""
    format: CourseFormat = Field(description=FORMAT_HELP)
    duration_minutes: int = Field(ge=1, le=MAX_MINUTES, description=DURATION_HELP)
    cost_cents: int = Field(default=0, ge=0, le=MAX_COST_CENTS, description=COST_HELP)
    url: CourseUrl | None = Field(default=None, description=URL_HELP)
    external_id: ExternalId | None = Field(default=None, description=EXTERNAL_HELP)
    xapi_activity_id: ActivityId | None = Field(default=None, description=ACTIVITY_HELP)
    hot_skill: bool = Field(default=False, description=HOT_HELP)
    job_family: JobFamily | None = Field(default=None, description=JOB_FAMILY_HELP)
    competency_ids: list[int] = Field(
        default_factory=list, max_length=MAX_LINKS, description=LINKS_HELP
    )


class CourseCreate(CourseBase):
    """A new course: ``title``, ``format`` and ``duration_minutes`` are required."""


class CourseUpdate(Schema):
    """Only the fields given change; ``url``, ``external_id``, ``xapi_activity_id`` and
    ``job_family`` may be null to clear them."""

    title: Title | None = Field(default=None, description=TITLE_HELP)
    description: Text | None = None
    provider: Provider | None = None
    format: CourseFormat | None = Field(default=None, description=FORMAT_HELP)
    duration_minutes: int | None = Field(
        default=None, ge=1, le=MAX_MINUTES, description=DURATION_HELP
    )
    cost_cents: int | None = Field(default=None, ge=0, le=MAX_COST_CENTS, description=COST_HELP)
    url: CourseUrl | None = Field(default=None, description=URL_HELP)
    external_id: ExternalId | None = Field(default=None, description=EXTERNAL_HELP)
    xapi_activity_id: ActivityId | None = Field(default=None, description=ACTIVITY_HELP)
    hot_skill: bool | None = Field(default=None, description=HOT_HELP)
    job_family: JobFamily | None = Field(default=None, description=JOB_FAMILY_HELP)
    competency_ids: list[int] | None = Field(
        default=None, max_length=MAX_LINKS, description=LINKS_HELP
    )


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
    hot_skill: bool = Field(description="The course's own flag: hot all year round.")
    hot: bool = Field(default=False, description="Hot today: its own flag, or a season covers it.")
    job_family: str | None = None
    competencies: list[CompetencyRef]
    archived_at: datetime | None = Field(
        default=None, description="Set when archived: out of the learner catalogue."
    )
    created_at: datetime | None = None


class CoursePage(BaseModel):
    items: list[CoursePublic]
    total: int


class SeasonBase(Schema):
    name: Name = Field(description="Required; 1 to 120 characters, e.g. “AI spring”.")
    starts_on: date = Field(description="First day of the season (inclusive).")
    ends_on: date = Field(description="Last day of the season (inclusive), not before starts_on.")
    competency_ids: list[int] = Field(
        default_factory=list,
        max_length=MAX_SEASON_ITEMS,
        description="Competencies that are hot: every course linked to one counts.",
    )
    course_ids: list[int] = Field(
        default_factory=list, max_length=MAX_SEASON_ITEMS, description="Courses that are hot."
    )


class SeasonCreate(SeasonBase):
    """A hot-skill season; it needs at least one competency or course."""

    @field_validator("ends_on")
    @classmethod
    def _not_before_start(cls, ends_on: date, info: ValidationInfo) -> date:
        starts_on = info.data.get("starts_on")
        if starts_on is not None and ends_on < starts_on:
            raise ValueError(SEASON_ENDS_TOO_EARLY)
        return ends_on

    @model_validator(mode="after")
    def _something_hot(self) -> "SeasonCreate":
        if not self.competency_ids and not self.course_ids:
            raise ValueError(SEASON_NEEDS_ITEMS)
        return self


class SeasonUpdate(Schema):
    name: Name | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    competency_ids: list[int] | None = Field(default=None, max_length=MAX_SEASON_ITEMS)
    course_ids: list[int] | None = Field(default=None, max_length=MAX_SEASON_ITEMS)


class SeasonPublic(BaseModel):
    id: int
    name: str
    starts_on: date
    ends_on: date
    status: str = Field(description="upcoming, running or ended (the organisation's today).")
    competencies: list[CompetencyRef]
    courses: list[CourseRef]
