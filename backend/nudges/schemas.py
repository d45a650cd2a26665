from datetime import date

from pydantic import BaseModel


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
