"""Request and response shapes of the badge catalogue and the badge wall."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from backend.accounts.schemas import Schema
from backend.badges.emblems import Colour, Icon, Shape
from backend.validation import Name

BadgeCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{1,59}$")
]
TierName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class CriterionIn(Schema):
    """The engine's ``BadgeCriterion`` document (see ``gamification.badges``)."""

    kind: Annotated[str, StringConstraints(max_length=40)]
    event_kind: Annotated[str, StringConstraints(max_length=20)] | None = None
    competency_id: DbId | None = None
    course_ids: list[DbId] = Field(default_factory=list, max_length=100)
    starts_on: date | None = None
    ends_on: date | None = None


class TierIn(Schema):
    name: TierName
    threshold: int = Field(ge=1, le=1_000_000)


class EmblemDesignIn(Schema):
    """A generated emblem: one of the shapes, palette colours and icons."""

    shape: Shape = "circle"
    colour: Colour = "teal"
    icon: Icon = "star"


class EmblemIn(Schema):
    """A generated emblem (``design``) or an uploaded SVG/PNG (``image_base64``, at most
    200 KB decoded; an SVG is sanitised, a DOCTYPE refused)."""

    design: EmblemDesignIn | None = None
    image_base64: Annotated[str, StringConstraints(max_length=280_000)] | None = None
    filename: Annotated[str, StringConstraints(max_length=200)] = ""


class BadgeCreate(Schema):
    code: BadgeCode
    name: Name
    name_en: ShortText = ""
    description: Description = ""
    description_en: Description = ""
    criterion: CriterionIn
    tiers: list[TierIn] = Field(min_length=1, max_length=10)
    competency_id: DbId | None = None
    is_active: bool = True
    emblem: EmblemDesignIn | None = None


class BadgePreviewIn(Schema):
    """A badge as it is being designed: nothing is stored."""

    name: ShortText = ""
    name_en: ShortText = ""
    description: Description = ""
    description_en: Description = ""
    criterion: CriterionIn
    tiers: list[TierIn] = Field(min_length=1, max_length=10)
    emblem: EmblemDesignIn | None = None
    language: Literal["nl", "en"] = "nl"


class BadgeUpdate(Schema):
    """Only the fields sent change; the code is fixed (awards refer to it)."""

    name: Name | None = None
    name_en: ShortText | None = None
    description: Description | None = None
    description_en: Description | None = None
    criterion: CriterionIn | None = None
    tiers: list[TierIn] | None = Field(default=None, min_length=1, max_length=10)
    competency_id: DbId | None = None
    is_active: bool | None = None


class CompetencyRef(BaseModel):
    id: int
    name: str


class TierOut(BaseModel):
    name: str
    label: str
    threshold: int
    how_to_earn: str


class BadgeOut(BaseModel):
    """A badge in the caller's language, with what each tier takes."""

    id: int
    code: str
    name: str
    description: str
    kind: str
    criterion: dict[str, Any]
    tiers: list[TierOut]
    competency: CompetencyRef | None
    is_active: bool
    emblem_url: str = ""


class BadgeDefinitionOut(BadgeOut):
    """What L&D edits: both languages as stored."""

    name_nl: str
    name_en: str
    description_nl: str
    description_en: str


class EarnedTier(BaseModel):
    name: str
    label: str
    threshold: int | None  # None: a tier the badge no longer has (still earned)
    how_to_earn: str
    awarded_at: datetime
    public_id: str
    credential_url: str
    revoked: bool = False
    """L&D withdrew it: its credential page says so (the tier is not earned again)."""


class LockedTier(BaseModel):
    name: str
    label: str
    threshold: int
    how_to_earn: str
    current: int
    fraction: float
    progress: str = ""
    """``current`` of ``threshold`` in the unit ``how_to_earn`` names: "18,6 van 20 uur"."""


class BadgeWallItem(BaseModel):
    code: str
    name: str
    description: str
    competency: CompetencyRef | None
    earned: list[EarnedTier]
    locked: list[LockedTier]
    next_tier: LockedTier | None
    emblem_url: str = ""


class TierCountOut(BaseModel):
    name: str
    label: str
    threshold: int
    how_to_earn: str
    learners: int
    """Learners who reach this tier (earned, or would qualify today: see the field using it)."""


class BadgePreviewOut(BaseModel):
    name: str
    description: str
    tiers: list[TierOut]
    qualify_today: list[TierCountOut]
    """Per tier, how many learners the engine finds at or above its threshold today."""
    learners: int
    emblem_svg: str


class BadgeStatsOut(BaseModel):
    id: int
    learners: int
    earned: list[TierCountOut]
    qualify_today: list[TierCountOut]


class RevokeIn(Schema):
    reason: str = Field(max_length=300)


class RevokedOut(BaseModel):
    public_id: str
    revoked_at: datetime
    revocation_reason: str
