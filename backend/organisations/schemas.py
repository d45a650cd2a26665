from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from backend.accounts.schemas import Schema
from backend.organisations.settings import GameRules, OrganisationSettings
from backend.validation import Name, TimezoneName


class OrganisationPublic(BaseModel):
    id: int
    name: str
    default_timezone: str
    default_locale: str
    settings: OrganisationSettings


class OrganisationUpdate(Schema):
    name: Name | None = None
    default_timezone: TimezoneName | None = None
    default_locale: Literal["nl", "en"] | None = None
    # a partial settings document: merged over the stored one, then validated whole
    settings: dict[str, Any] | None = None


class GameRulesUpdate(Schema):
    """A change to the game rules: any of the sections, each a partial object merged over
    the newest version (``{"xp": {"informal_xp": 12}}``), and from when it applies."""

    streak: dict[str, Any] | None = None
    xp: dict[str, Any] | None = None
    levels: dict[str, Any] | None = None
    # the first local day (organisation's timezone) it applies to; none: from now. A streak
    # change starts on the Monday on or after it.
    effective_from: date | None = None

    def sections(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in (("streak", self.streak), ("xp", self.xp), ("levels", self.levels))
            if value is not None
        }


class RulesVersionOut(BaseModel):
    starts_at: datetime | None
    rules: GameRules


class GameRulesPublic(BaseModel):
    """The game rules in force now, since when (null: always), and changes scheduled later."""

    rules: GameRules
    since: datetime | None
    upcoming: list[RulesVersionOut]
    timezone: str


class GameRulesChangeOut(BaseModel):
    """What a saved change did: what differs, and the moment it applies from."""

    effective_from: datetime
    changed: list[str]
    rules: GameRulesPublic


class XpExampleOut(BaseModel):
    kind: str
    minutes: int
    now: int
    new: int


class LevelRowOut(BaseModel):
    level: int
    xp_now: int
    xp_new: int
    learners_now: int
    learners_new: int


class GamePreviewOut(BaseModel):
    """What the proposed rules would do today, computed on the organisation's data."""

    learners: int
    streaks_now: int
    streaks_new: int
    freezes_now: int
    freezes_new: int
    levels_up: int
    levels_down: int
    median_xp: int
    median_level_now: int
    median_level_new: int
    season_today_now: float
    season_today_new: float
    xp_examples: list[XpExampleOut]
    level_rows: list[LevelRowOut]
    effective_from: datetime
    changed: list[str]
