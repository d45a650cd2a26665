"""Organisation rules: streak policy, XP amounts and the level curve, as data.

An L&D admin configures these per organisation (stored as JSON); ``OrgRules.from_dict({})``
gives the defaults documented on each field.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from gamification.jsondoc import (
    JsonDict,
    read_aware_datetime,
    read_date,
    read_float,
    read_int,
    read_list,
    read_mapping,
    read_str,
)

DAILY_MILESTONES: tuple[int, ...] = (7, 30, 100, 365)
WEEKLY_MILESTONES: tuple[int, ...] = (4, 12, 26, 52)


class StreakMode(StrEnum):
    """Daily: every local day counts. Weekly: an ISO week counts with enough active days."""

    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class StreakPolicy:
    """How streaks are kept.

    - ``mode`` daily or weekly; in weekly mode a week counts when the learner is active on
      at least ``days_per_week`` distinct local days (Monday-Sunday).
    - Freezes: one is earned each time the running streak reaches a multiple of
      ``freeze_every_days`` (daily) or ``freeze_every_weeks`` (weekly); at most
      ``max_banked_freezes`` are banked (more are not earned).
    - Repair: a missed period can be made up during the ``repair_window_days`` local days
      after it became final (2 days = 48 h); see ``gamification.streaks``.
    """

    mode: StreakMode = StreakMode.DAILY
    days_per_week: int = 3
    freeze_every_days: int = 7
    freeze_every_weeks: int = 4
    max_banked_freezes: int = 2
    repair_window_days: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.days_per_week <= 7:
            raise ValueError(f"days_per_week must be 1-7, got {self.days_per_week}")
        if self.freeze_every_days < 1 or self.freeze_every_weeks < 1:
            raise ValueError("freeze intervals must be >= 1")
        if self.max_banked_freezes < 0 or self.repair_window_days < 0:
            raise ValueError("max_banked_freezes and repair_window_days must be >= 0")

    @property
    def freeze_every(self) -> int:
        """Streak periods (days or weeks) per earned freeze in the current mode."""
        return self.freeze_every_days if self.mode is StreakMode.DAILY else self.freeze_every_weeks

    @property
    def milestones(self) -> tuple[int, ...]:
        """Streak lengths worth celebrating in the current mode."""
        return DAILY_MILESTONES if self.mode is StreakMode.DAILY else WEEKLY_MILESTONES

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "mode": self.mode.value,
            "days_per_week": self.days_per_week,
            "freeze_every_days": self.freeze_every_days,
            "freeze_every_weeks": self.freeze_every_weeks,
            "max_banked_freezes": self.max_banked_freezes,
            "repair_window_days": self.repair_window_days,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreakPolicy:
        """Inverse of :meth:`to_dict`; missing keys take the defaults."""
        default = cls()
        return cls(
            mode=StreakMode(read_str(data, "mode", default.mode.value)),
            days_per_week=read_int(data, "days_per_week", default.days_per_week),
            freeze_every_days=read_int(data, "freeze_every_days", default.freeze_every_days),
            freeze_every_weeks=read_int(data, "freeze_every_weeks", default.freeze_every_weeks),
            max_banked_freezes=read_int(data, "max_banked_freezes", default.max_banked_freezes),
            repair_window_days=read_int(data, "repair_window_days", default.repair_window_days),
        )


@dataclass(frozen=True)
class XpSeason:
    """A double-XP (or other multiplier) season over inclusive local days."""

    starts_on: date
    ends_on: date
    multiplier: float

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError("a season cannot end before it starts")
        if self.multiplier < 1:
            raise ValueError("a season multiplier must be >= 1")

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "multiplier": self.multiplier,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> XpSeason:
        """Inverse of :meth:`to_dict`."""
        return cls(
            starts_on=read_date(data, "starts_on"),
            ends_on=read_date(data, "ends_on"),
            multiplier=read_float(data, "multiplier", 2.0),
        )


@dataclass(frozen=True)
class XpRules:
    """XP amounts, caps and multipliers (defaults in parentheses).

    - completion: ``completion_base`` (50) + ``completion_xp_per_minute`` (0.5) x course
      minutes, minutes capped at ``completion_minutes_cap`` (240) -> 50..170 XP; paid once
      per course.
    - progress: ``progress_xp_per_minute`` (0.2) x minutes, capped at
      ``progress_minutes_cap`` (60) minutes -> at most 12 XP per event.
    - experience (20), testimonial (15), goal reached (25), challenge completed (100,
      unless the challenge sets its own reward).
    - informal: flat ``informal_xp`` (10), at most ``informal_daily_cap`` (30) per local
      day, and identical texts pay once per ``informal_cooldown_minutes`` (10) slot.
    - ``hot_skill_multiplier`` (1.5) on completion/progress/experience of a hot skill.
    - ``seasons``: multiplier on all event XP on the season's local days (max if overlapping).
    """

    completion_base: int = 50
    completion_xp_per_minute: float = 0.5
    completion_minutes_cap: int = 240
    progress_xp_per_minute: float = 0.2
    progress_minutes_cap: int = 60
    experience_xp: int = 20
    informal_xp: int = 10
    informal_daily_cap: int = 30
    informal_cooldown_minutes: int = 10
    testimonial_xp: int = 15
    goal_reached_xp: int = 25
    challenge_completed_xp: int = 100
    hot_skill_multiplier: float = 1.5
    seasons: tuple[XpSeason, ...] = ()

    def __post_init__(self) -> None:
        amounts = (
            self.completion_base,
            self.completion_minutes_cap,
            self.progress_minutes_cap,
            self.experience_xp,
            self.informal_xp,
            self.informal_daily_cap,
            self.testimonial_xp,
            self.goal_reached_xp,
            self.challenge_completed_xp,
        )
        if any(amount < 0 for amount in amounts):
            raise ValueError("XP amounts and caps must be >= 0")
        if self.completion_xp_per_minute < 0 or self.progress_xp_per_minute < 0:
            raise ValueError("per-minute XP must be >= 0")
        if self.informal_cooldown_minutes < 1:
            raise ValueError("informal_cooldown_minutes must be >= 1")
        if self.hot_skill_multiplier < 1:
            raise ValueError("hot_skill_multiplier must be >= 1")

    def season_multiplier(self, day: date) -> float:
        """The XP multiplier in force on a local day (1.0 outside every season)."""
        if not self.seasons:
            return 1.0
        return max(
            (s.multiplier for s in self.seasons if s.starts_on <= day <= s.ends_on),
            default=1.0,
        )

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "completion_base": self.completion_base,
            "completion_xp_per_minute": self.completion_xp_per_minute,
            "completion_minutes_cap": self.completion_minutes_cap,
            "progress_xp_per_minute": self.progress_xp_per_minute,
            "progress_minutes_cap": self.progress_minutes_cap,
            "experience_xp": self.experience_xp,
            "informal_xp": self.informal_xp,
            "informal_daily_cap": self.informal_daily_cap,
            "informal_cooldown_minutes": self.informal_cooldown_minutes,
            "testimonial_xp": self.testimonial_xp,
            "goal_reached_xp": self.goal_reached_xp,
            "challenge_completed_xp": self.challenge_completed_xp,
            "hot_skill_multiplier": self.hot_skill_multiplier,
            "seasons": [season.to_dict() for season in self.seasons],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> XpRules:
        """Inverse of :meth:`to_dict`; missing keys take the defaults."""
        d = cls()
        return cls(
            completion_base=read_int(data, "completion_base", d.completion_base),
            completion_xp_per_minute=read_float(
                data, "completion_xp_per_minute", d.completion_xp_per_minute
            ),
            completion_minutes_cap=read_int(
                data, "completion_minutes_cap", d.completion_minutes_cap
            ),
            progress_xp_per_minute=read_float(
                data, "progress_xp_per_minute", d.progress_xp_per_minute
            ),
            progress_minutes_cap=read_int(data, "progress_minutes_cap", d.progress_minutes_cap),
            experience_xp=read_int(data, "experience_xp", d.experience_xp),
            informal_xp=read_int(data, "informal_xp", d.informal_xp),
            informal_daily_cap=read_int(data, "informal_daily_cap", d.informal_daily_cap),
            informal_cooldown_minutes=read_int(
                data, "informal_cooldown_minutes", d.informal_cooldown_minutes
            ),
            testimonial_xp=read_int(data, "testimonial_xp", d.testimonial_xp),
            goal_reached_xp=read_int(data, "goal_reached_xp", d.goal_reached_xp),
            challenge_completed_xp=read_int(
                data, "challenge_completed_xp", d.challenge_completed_xp
            ),
            hot_skill_multiplier=read_float(data, "hot_skill_multiplier", d.hot_skill_multiplier),
            seasons=tuple(XpSeason.from_dict(s) for s in read_list(data, "seasons")),
        )


@dataclass(frozen=True)
class LevelProgress:
    """Where a learner stands within their level."""

    level: int
    xp_into_level: int
    xp_to_next_level: int
    fraction: float


@dataclass(frozen=True)
class LevelCurve:
    """Levels from total XP: reaching level n takes ``step_xp * n * (n - 1)`` XP in total.

    With the default ``step_xp`` of 50: level 1 at 0 XP, 2 at 100, 3 at 300, 4 at 600,
    5 at 1000, 10 at 4500 (each level costs 100 XP more than the one before).
    """

    step_xp: int = 50

    def __post_init__(self) -> None:
        if self.step_xp < 1:
            raise ValueError("step_xp must be >= 1")

    def xp_for_level(self, level: int) -> int:
        """Total XP needed to reach ``level`` (level 1 needs 0)."""
        if level < 1:
            raise ValueError(f"levels start at 1, got {level}")
        return self.step_xp * level * (level - 1)

    def level_for_xp(self, xp: int) -> int:
        """The level a learner with ``xp`` total XP has reached."""
        if xp <= 0:
            return 1
        # n(n-1) <= xp/step  <=>  n <= (1 + sqrt(1 + 4*xp/step)) / 2; fix float error after
        level = max(1, (1 + math.isqrt(1 + 4 * xp // self.step_xp)) // 2)
        while self.xp_for_level(level + 1) <= xp:
            level += 1
        while level > 1 and self.xp_for_level(level) > xp:
            level -= 1
        return level

    def progress(self, xp: int) -> LevelProgress:
        """Level, XP into it, XP still needed for the next, and the fraction done."""
        level = self.level_for_xp(xp)
        floor = self.xp_for_level(level)
        span = self.xp_for_level(level + 1) - floor
        into = max(0, xp - floor)
        return LevelProgress(level, into, span - into, into / span)

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {"step_xp": self.step_xp}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LevelCurve:
        """Inverse of :meth:`to_dict`."""
        return cls(step_xp=read_int(data, "step_xp", cls().step_xp))


@dataclass(frozen=True)
class XpRulesPeriod:
    """XP rules in force for learning that happened before ``until`` (an aware moment,
    exclusive), or from the previous period's end on when ``until`` is None."""

    rules: XpRules
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.until is not None and self.until.utcoffset() is None:
            raise ValueError("an XP rules period must end at an aware moment")

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "rules": self.rules.to_dict(),
            "until": self.until.isoformat() if self.until else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> XpRulesPeriod:
        """Inverse of :meth:`to_dict`."""
        until = read_aware_datetime(data, "until") if data.get("until") else None
        return cls(rules=XpRules.from_dict(read_mapping(data, "rules")), until=until)


@dataclass(frozen=True)
class OrgRules:
    """All of an organisation's gamification rules.

    ``xp`` are the XP rules in force now. When an L&D team changed them, ``xp_schedule``
    holds every version in time order (the last one open-ended), so a fact pays by the
    rules in force when it happened (:meth:`xp_at`): a late event keeps the old amounts,
    and a change scheduled for a later date waits for it.
    """

    streak: StreakPolicy = field(default_factory=StreakPolicy)
    xp: XpRules = field(default_factory=XpRules)
    levels: LevelCurve = field(default_factory=LevelCurve)
    xp_schedule: tuple[XpRulesPeriod, ...] = ()

    def __post_init__(self) -> None:
        if not self.xp_schedule:
            return
        ends = [p.until for p in self.xp_schedule[:-1]]
        if self.xp_schedule[-1].until is not None or any(end is None for end in ends):
            raise ValueError("the last XP rules period, and only that one, is open-ended")
        if any(a >= b for a, b in itertools.pairwise(ends)):  # type: ignore[operator]
            raise ValueError("XP rules periods must be in time order")

    def xp_at(self, moment: datetime) -> XpRules:
        """The XP rules for learning that happened at ``moment`` (aware)."""
        for period in self.xp_schedule:
            if period.until is None or moment < period.until:
                return period.rules
        return self.xp

    def to_dict(self) -> JsonDict:
        """JSON-compatible form (``xp_schedule`` only when there is one)."""
        data: JsonDict = {
            "streak": self.streak.to_dict(),
            "xp": self.xp.to_dict(),
            "levels": self.levels.to_dict(),
        }
        if self.xp_schedule:
            data["xp_schedule"] = [period.to_dict() for period in self.xp_schedule]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrgRules:
        """Inverse of :meth:`to_dict`; ``from_dict({})`` gives the defaults."""
        return cls(
            streak=StreakPolicy.from_dict(read_mapping(data, "streak")),
            xp=XpRules.from_dict(read_mapping(data, "xp")),
            levels=LevelCurve.from_dict(read_mapping(data, "levels")),
            xp_schedule=tuple(XpRulesPeriod.from_dict(p) for p in read_list(data, "xp_schedule")),
        )
