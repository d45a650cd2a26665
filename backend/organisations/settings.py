"""An organisation's settings document: its schema, defaults and limits."""

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.db.models import Organisation
from gamification.nudges import NudgeType


class OrganisationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    streak_mode: Literal["daily", "weekly"] = "weekly"
    streak_days_per_week: int = Field(default=3, ge=1, le=7)
    min_group_size: int = Field(default=5, ge=2, le=100)
    nudges_on_weekends: bool = False
    quiet_hours_start: int = Field(default=21, ge=0, le=23)
    quiet_hours_end: int = Field(default=8, ge=0, le=23)
    yearly_budget_cents: int = Field(default=100_000, ge=0, le=100_000_000)
    budget_year_start_month: int = Field(default=1, ge=1, le=12)
    # nudge caps per learner: reminder-type pushes a local day, pushes of any kind in 7 days
    nudge_reminders_per_day: int = Field(default=1, ge=0, le=3)
    nudges_per_week: int = Field(default=5, ge=0, le=30)
    # nudge kinds (gamification.nudges.NudgeType values) switched off for everyone
    nudge_kinds_off: list[str] = Field(default_factory=list, max_length=30)

    @field_validator("nudge_kinds_off")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - {kind.value for kind in NudgeType})
        if unknown:
            raise ValueError(f"unknown nudge kind {unknown[0]!r}")
        return sorted(set(kinds))


def organisation_settings(organisation: Organisation) -> OrganisationSettings:
    return settings_from_document(organisation.settings or {})


def settings_from_document(document: Mapping[str, Any]) -> OrganisationSettings:
    """The settings a stored document holds (keys no longer known are left out)."""
    known = OrganisationSettings.model_fields.keys()
    return OrganisationSettings(**{k: v for k, v in document.items() if k in known})


def budget_year_start(today: date, start_month: int) -> date:
    """The first day of the budget year ``today`` falls in (``budget_year_start_month``)."""
    year = today.year if today.month >= start_month else today.year - 1
    return date(year, start_month, 1)
