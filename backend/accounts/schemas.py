from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from backend.db.models import Role
from backend.validation import Name, TimezoneName

LocaleCode = Literal["nl", "en"]
# a local time of day as people write it: 07:30, 21:00
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(v) for v in value)
    return False


class Schema(BaseModel):
    """Base of every request body: unknown fields are refused, and so is U+0000 in any text
    (PostgreSQL cannot store it, so it would otherwise surface as a server error)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        if _contains_nul(value):
            raise ValueError("must not contain NUL characters (U+0000)")
        return value


class LoginRequest(Schema):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    organisation: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None
    ) = Field(
        default=None,
        description="the organisation's slug; needed only when the address and password "
        "belong to accounts in more than one organisation (the 409 answer lists them)",
    )


class SessionsEnded(BaseModel):
    ended: int = Field(description="how many sessions ended (each on every copy of its cookie)")


class OrganisationChoice(BaseModel):
    slug: str
    name: str


class ForgotPasswordRequest(Schema):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]


class SetPasswordRequest(Schema):
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class OrganisationSummary(BaseModel):
    id: int
    name: str


class TeamSummary(BaseModel):
    id: int
    name: str
    is_manager: bool


class MePublic(BaseModel):
    id: int
    email: str
    display_name: str
    roles: list[str]
    timezone: str
    locale: str
    start_date: date | None
    organisation: OrganisationSummary
    teams: list[TeamSummary]
    leaderboard_opt_in: bool
    reminder_time: str | None = Field(description="HH:MM local; null: at the time I usually learn")
    quiet_hours_start: str
    quiet_hours_end: str
    nudge_kinds_off: list[str]
    onboarded: bool


class MeUpdate(Schema):
    display_name: Name | None = None
    timezone: TimezoneName | None = None
    locale: LocaleCode | None = None
    leaderboard_opt_in: bool | None = None
    # null clears it: remind me at the time I usually learn
    reminder_time: ClockTime | None = None
    quiet_hours_start: ClockTime | None = None
    quiet_hours_end: ClockTime | None = None
    # the nudge categories I switched off (gamification.nudges.NudgeCategory values)
    nudge_kinds_off: list[Annotated[str, StringConstraints(max_length=40)]] | None = Field(
        default=None, max_length=20
    )


JobFamily = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]
JOB_FAMILY_HELP = (
    "the kind of work the person does (e.g. Finance): learning in another family is "
    "horizontal; an empty string clears it"
)


class UserCreate(Schema):
    email: EmailStr
    display_name: Name
    password: Annotated[str, StringConstraints(min_length=10, max_length=256)] | None = None
    roles: list[Role] = Field(default_factory=lambda: [Role.employee], min_length=1, max_length=3)
    timezone: TimezoneName | None = None
    locale: LocaleCode | None = None
    start_date: date | None = None
    team_id: int | None = Field(default=None, description="the team the person starts in")
    job_family: JobFamily | None = Field(default=None, description=JOB_FAMILY_HELP)


class UserUpdate(Schema):
    display_name: Name | None = None
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=3)
    is_active: bool | None = None
    locale: LocaleCode | None = None
    job_family: JobFamily | None = Field(default=None, description=JOB_FAMILY_HELP)


class TeamMove(Schema):
    team_id: int | None = Field(
        description="the only team the person is in afterwards; null: in no team"
    )


class UserTeam(BaseModel):
    id: int
    name: str
    is_manager: bool


class UserPublic(BaseModel):
    id: int
    email: str
    display_name: str
    roles: list[str]
    timezone: str
    locale: str
    start_date: date | None
    job_family: str | None = None
    is_active: bool
    has_password: bool = Field(
        default=False, description="false until the person set a password (after an invitation)"
    )
    teams: list[UserTeam] = Field(default_factory=list)
    created_at: datetime | None = None


class LinkSent(BaseModel):
    """An invitation or password-reset link: mailed, or (without mail) given to the admin."""

    user_id: int
    purpose: Literal["invite", "reset"]
    expires_at: datetime
    mailed: bool
    link: str | None = Field(
        description="the link itself, only when it could not be mailed (shown this once)"
    )
    mail_error: str | None = None


MAX_EXPECTED_COMPETENCIES = 200


class ExpectedCompetenciesUpdate(Schema):
    """The whole set of competencies a job family is expected to have (``[]`` clears it)."""

    competency_ids: list[int] = Field(max_length=MAX_EXPECTED_COMPETENCIES)


class ExpectedCompetency(BaseModel):
    id: int
    name: str


class JobFamilyPublic(BaseModel):
    """A job family in use (by people or courses) or with expected competencies."""

    job_family: str
    people: int = Field(description="active people in this job family")
    courses: int = Field(description="active courses made for this job family")
    competencies: list[ExpectedCompetency] = Field(
        description="the competencies L&D expects of everyone in this job family"
    )
