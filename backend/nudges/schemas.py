from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator

from backend.accounts.schemas import Schema
from gamification.nudge_texts import BODY_MAX, PLACEHOLDERS, TITLE_MAX, placeholders_in
from gamification.nudges import NudgeType

LocaleName = Literal["nl", "en"]
VariantOrigin = Literal["built_in", "edited", "custom"]

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=BODY_MAX)]


class NudgeVariantInsight(BaseModel):
    """How one text variant of one kind of nudge did."""

    kind: str
    variant: str
    created: int
    sent: int
    clicked: int
    learned_within_24h: int
    click_rate: float | None
    learned_rate: float | None


class NudgeInsights(BaseModel):
    """Nudges created since ``since`` (inclusive, UTC day), per kind and text variant."""

    since: date
    rows: list[NudgeVariantInsight]


# --- governance: rules and text variants ----------------------------------------------------


def placeholder_problem(kind: str, text: str) -> str | None:
    """Why ``text`` cannot be a template of ``kind`` (English), or None."""
    try:
        names = placeholders_in(text)
    except ValueError as exc:
        if not str(exc).startswith("{"):
            return "has a { or } on its own; write {{ or }} for a brace"
        return f"placeholder {exc} must be a plain name, like {{course}}"
    known = PLACEHOLDERS.get(kind, ())
    for name in names:
        if name not in known:
            offer = ", ".join(f"{{{k}}}" for k in known) if known else "none"
            return f"unknown placeholder {{{name}}}; a {kind} nudge provides: {offer}"
    return None


class NudgeKindRule(BaseModel):
    """One nudge kind: on or off for the whole organisation, and what its texts may use."""

    kind: NudgeType
    on: bool
    placeholders: list[str]


class NudgeRulesPublic(BaseModel):
    """The organisation's nudge rules (part of its settings)."""

    quiet_hours_start: int = Field(description="local hour quiet hours start (0-23)")
    quiet_hours_end: int = Field(description="local hour quiet hours end (0-23); equal: none")
    nudges_on_weekends: bool
    nudge_reminders_per_day: int
    nudges_per_week: int
    kinds: list[NudgeKindRule]


class NudgeRulesUpdate(Schema):
    """The rules to change; fields left out stay as they are."""

    quiet_hours_start: int | None = Field(default=None, ge=0, le=23)
    quiet_hours_end: int | None = Field(default=None, ge=0, le=23)
    nudges_on_weekends: bool | None = None
    nudge_reminders_per_day: int | None = Field(default=None, ge=0, le=3)
    nudges_per_week: int | None = Field(default=None, ge=0, le=30)
    kinds_off: list[NudgeType] | None = Field(
        default=None, max_length=30, description="kinds switched off for everyone"
    )


class NudgeVariantPublic(BaseModel):
    """One text variant of a kind in one language, as the scheduler uses it."""

    kind: NudgeType
    locale: LocaleName
    variant: str = Field(description="recorded in each nudge sent with it (nudge.variant)")
    title: str
    body: str
    origin: VariantOrigin = Field(
        description="built_in: the default text; edited: a default text L&D changed; "
        "custom: added by L&D"
    )
    retired: bool
    placeholders: list[str]
    updated_at: datetime | None = None


class NudgeVariantCreate(Schema):
    """A new text variant of ``kind`` in ``locale``."""

    kind: NudgeType
    locale: LocaleName
    title: Title
    body: Body

    @field_validator("title", "body")
    @classmethod
    def _known_placeholders(cls, text: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is not None:
            problem = placeholder_problem(kind.value, text)
            if problem:
                raise ValueError(problem)
        return text


class NudgeVariantUpdate(Schema):
    """New words for a variant (its kind and language stay)."""

    title: Title
    body: Body

    @field_validator("title", "body")
    @classmethod
    def _known_placeholders(cls, text: str, info: ValidationInfo) -> str:
        # the kind comes from the URL: a form passes it as context; the service checks again
        kind = (info.context or {}).get("kind")
        if kind:
            problem = placeholder_problem(kind, text)
            if problem:
                raise ValueError(problem)
        return text


class SentToMe(BaseModel):
    """A preview queued for the caller's own devices."""

    nudge_id: str
    devices: int
    title: str
    body: str


class VariantMeasure(BaseModel):
    """A variant's nudges sent in a period (previews left out) and what followed."""

    sent: int
    opened: int
    learned_within_24h: int
    open_rate: float | None
    learned_rate: float | None


class NudgeVariantMeasured(NudgeVariantPublic):
    """A variant with its measurements for the period asked."""

    measured: VariantMeasure


class NudgeVariantList(BaseModel):
    """Every text variant (built-in, edited, custom, retired) with its measurements from
    ``since`` to ``until`` (inclusive UTC days)."""

    since: date
    until: date
    variants: list[NudgeVariantMeasured]
