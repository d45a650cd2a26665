"""An organisation's settings document: its schema, defaults and limits.

The game rules (streak policy, XP, level curve) are part of it. The flat ``streak_*`` keys,
``xp`` and ``levels`` hold the newest version; when a change was made to apply from a
moment, ``game_rules_history`` keeps the versions before it, each with the moment it ended
(``until``), so learning is paid by the rules in force when it happened
(``backend.learning.rules``).
"""

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from backend.db.models import Organisation
from gamification.nudges import NudgeType
from pwa.i18n import N_

XP = Annotated[int, Field(ge=0, le=10_000)]
PerMinute = Annotated[float, Field(ge=0, le=100)]
Multiplier = Annotated[float, Field(ge=1, le=5)]

MAX_SEASONS = 50
MAX_RULE_VERSIONS = 100

# messages a form shows as they are (translated there); also the API's error texts
CAP_BELOW_XP = N_("The daily cap must be at least the XP of one moment.")
SEASON_ENDS_BEFORE_START = N_("A season cannot end before it starts.")


def _aware(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError("a moment needs a UTC offset")
    return moment


class StreakSettings(BaseModel):
    """How streaks are kept (``gamification.StreakPolicy``)."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["daily", "weekly"] = "weekly"
    days_per_week: int = Field(default=3, ge=1, le=7)
    freeze_every_days: int = Field(default=7, ge=1, le=365)
    freeze_every_weeks: int = Field(default=4, ge=1, le=52)
    max_banked_freezes: int = Field(default=2, ge=0, le=10)
    repair_window_days: int = Field(default=2, ge=0, le=7)


class SeasonSettings(BaseModel):
    """A double-XP (or other multiplier) season over inclusive local days."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=80)
    starts_on: date
    ends_on: date
    multiplier: Multiplier = 2.0

    @field_validator("ends_on")
    @classmethod
    def _ends_after_start(cls, value: date, info: ValidationInfo) -> date:
        starts_on = info.data.get("starts_on")
        if starts_on is not None and value < starts_on:
            raise ValueError(SEASON_ENDS_BEFORE_START)
        return value


class XpSettings(BaseModel):
    """XP per kind of learning, its caps and multipliers (``gamification.XpRules``)."""

    model_config = ConfigDict(extra="forbid")
    completion_base: XP = 50
    completion_xp_per_minute: PerMinute = 0.5
    completion_minutes_cap: int = Field(default=240, ge=0, le=10_000)
    progress_xp_per_minute: PerMinute = 0.2
    progress_minutes_cap: int = Field(default=60, ge=0, le=1_440)
    experience_xp: XP = 20
    informal_xp: XP = 10
    informal_daily_cap: XP = 30
    informal_cooldown_minutes: int = Field(default=10, ge=1, le=1_440)
    testimonial_xp: XP = 15
    goal_reached_xp: XP = 25
    challenge_completed_xp: XP = 100
    hot_skill_multiplier: Multiplier = 1.5
    seasons: list[SeasonSettings] = Field(default_factory=list, max_length=MAX_SEASONS)

    @field_validator("informal_daily_cap")
    @classmethod
    def _cap_holds_one_moment(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("informal_xp", 0):
            raise ValueError(CAP_BELOW_XP)
        return value


class LevelSettings(BaseModel):
    """The level curve: reaching level n takes ``step_xp * n * (n - 1)`` XP."""

    model_config = ConfigDict(extra="forbid")
    step_xp: int = Field(default=50, ge=1, le=100_000)


class GameRules(BaseModel):
    """An organisation's game rules as one document (the game-rules API's body)."""

    model_config = ConfigDict(extra="forbid")
    streak: StreakSettings = Field(default_factory=StreakSettings)
    xp: XpSettings = Field(default_factory=XpSettings)
    levels: LevelSettings = Field(default_factory=LevelSettings)


class GameRulesVersion(BaseModel):
    """Game rules that were (or are, until a scheduled change) in force until ``until``."""

    model_config = ConfigDict(extra="forbid")
    until: Annotated[datetime, AfterValidator(_aware)]
    rules: GameRules


class OrganisationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    streak_mode: Literal["daily", "weekly"] = "weekly"
    streak_days_per_week: int = Field(default=3, ge=1, le=7)
    # the privacy floor (backend.insights.privacy.floor_of); unset: LEARNLOOP_MIN_GROUP_SIZE
    min_group_size: int = Field(default=5, ge=3, le=100)
    nudges_on_weekends: bool = False
    quiet_hours_start: int = Field(default=21, ge=0, le=23)
    quiet_hours_end: int = Field(default=8, ge=0, le=23)
    yearly_budget_cents: int = Field(default=100_000, ge=0, le=100_000_000)
    budget_year_start_month: int = Field(default=1, ge=1, le=12)
    # a manager's approval of a cost above this waits for L&D too (None or 0: never)
    budget_ld_approval_above_cents: int | None = Field(default=150_000, ge=0, le=100_000_000)
    # nudge caps per learner: reminder-type pushes a local day, pushes of any kind in 7 days
    nudge_reminders_per_day: int = Field(default=1, ge=0, le=3)
    nudges_per_week: int = Field(default=5, ge=0, le=30)
    # the game rules' newest version (streak_mode and streak_days_per_week above, too)
    streak_freeze_every_days: int = Field(default=7, ge=1, le=365)
    streak_freeze_every_weeks: int = Field(default=4, ge=1, le=52)
    streak_max_banked_freezes: int = Field(default=2, ge=0, le=10)
    streak_repair_window_days: int = Field(default=2, ge=0, le=7)
    xp: XpSettings = Field(default_factory=XpSettings)
    levels: LevelSettings = Field(default_factory=LevelSettings)
    game_rules_history: list[GameRulesVersion] = Field(
        default_factory=list, max_length=MAX_RULE_VERSIONS
    )
    # testimonials: off shows new ones at once (L&D can still hide them); on waits for approval
    testimonials_need_approval: bool = False
    # nudge kinds (gamification.nudges.NudgeType values) switched off for everyone
    nudge_kinds_off: list[str] = Field(default_factory=list, max_length=30)

    @field_validator("nudge_kinds_off")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - {kind.value for kind in NudgeType})
        if unknown:
            raise ValueError(f"unknown nudge kind {unknown[0]!r}")
        return sorted(set(kinds))


GAME_RULE_KEYS = frozenset(
    {
        "streak_mode",
        "streak_days_per_week",
        "streak_freeze_every_days",
        "streak_freeze_every_weeks",
        "streak_max_banked_freezes",
        "streak_repair_window_days",
        "xp",
        "levels",
        "game_rules_history",
    }
)
"""Settings that are game rules: they change through ``organisations.services.change_game_rules``."""


def newest_game_rules(settings: OrganisationSettings) -> GameRules:
    """The newest version of the game rules (possibly scheduled for a later moment)."""
    return GameRules(
        streak=StreakSettings(
            mode=settings.streak_mode,
            days_per_week=settings.streak_days_per_week,
            freeze_every_days=settings.streak_freeze_every_days,
            freeze_every_weeks=settings.streak_freeze_every_weeks,
            max_banked_freezes=settings.streak_max_banked_freezes,
            repair_window_days=settings.streak_repair_window_days,
        ),
        xp=settings.xp,
        levels=settings.levels,
    )


def game_rule_settings(rules: GameRules) -> dict[str, Any]:
    """The settings keys that store ``rules`` as the newest version."""
    streak = rules.streak
    return {
        "streak_mode": streak.mode,
        "streak_days_per_week": streak.days_per_week,
        "streak_freeze_every_days": streak.freeze_every_days,
        "streak_freeze_every_weeks": streak.freeze_every_weeks,
        "streak_max_banked_freezes": streak.max_banked_freezes,
        "streak_repair_window_days": streak.repair_window_days,
        "xp": rules.xp.model_dump(mode="json"),
        "levels": rules.levels.model_dump(mode="json"),
    }


def game_rules_timeline(settings: OrganisationSettings) -> list[tuple[datetime | None, GameRules]]:
    """Every version of the game rules with the moment it starts (None: always was)."""
    starts: list[datetime | None] = [None]
    starts += [version.until for version in settings.game_rules_history]
    rules = [version.rules for version in settings.game_rules_history]
    rules.append(newest_game_rules(settings))
    return list(zip(starts, rules, strict=True))


def game_rules_at(settings: OrganisationSettings, moment: datetime) -> GameRules:
    """The game rules in force at ``moment``."""
    for version in settings.game_rules_history:
        if moment < version.until:
            return version.rules
    return newest_game_rules(settings)


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
