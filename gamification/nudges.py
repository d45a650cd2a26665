"""What a nudge is about: its kind, the switch that covers it, and what is worth celebrating.

:class:`NudgeType` is the one vocabulary of push messages (``nudge.kind``): the scheduler
finds happenings (:class:`Happening`) of these kinds and the nudge policy
(``gamification.nudge_policy``) decides which to send and when. The engine makes none: a
level or a streak milestone is noticed from the learner's kept state (:func:`level_reached`,
:func:`streak_milestone_reached`), and the dedupe key makes each one a single message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from gamification.goals import DatedGoal, GoalTally, Pace
from gamification.rules import LevelCurve, StreakMode, StreakPolicy


class NudgeCategory(StrEnum):
    """What a learner can switch off in Settings (``user_account.nudge_kinds_off``).

    Every nudge kind belongs to one category; a pre-boarding welcome belongs to none and
    is always allowed.
    """

    REMINDER = "reminder"
    STREAK_AT_RISK = "streak_at_risk"
    GOAL = "goal"
    CHALLENGE = "challenge"
    BADGE = "badge"
    KUDOS = "kudos"
    BUDGET = "budget"
    NEW_COURSE = "new_course"
    TESTIMONIAL_REQUEST = "testimonial_request"


class NudgeType(StrEnum):
    """What a push message is about (``nudge.kind``)."""

    WELCOME = "welcome"
    REMINDER = "reminder"
    STREAK_AT_RISK = "streak_at_risk"
    GOAL_BEHIND = "goal_behind"
    GOAL_REACHED = "goal_reached"
    # a goal with a date falling behind its pace
    DATED_GOAL_BEHIND = "dated_goal_behind"
    CHALLENGE_LAUNCHED = "challenge_launched"
    CHALLENGE_ENDING = "challenge_ending"
    TEAM_MILESTONE = "team_milestone"
    BADGE_EARNED = "badge_earned"
    LEVEL_UP = "level_up"
    STREAK_MILESTONE = "streak_milestone"
    KUDOS_RECEIVED = "kudos_received"
    BUDGET_REMINDER = "budget_reminder"
    BUDGET_DECISION = "budget_decision"
    NEW_COURSE = "new_course"
    TESTIMONIAL_REQUEST = "testimonial_request"
    # the learner's top recommendation, after a few days without learning
    NEXT_STEP = "next_step"


CATEGORY: Mapping[NudgeType, NudgeCategory | None] = {
    NudgeType.WELCOME: None,
    NudgeType.REMINDER: NudgeCategory.REMINDER,
    NudgeType.STREAK_AT_RISK: NudgeCategory.STREAK_AT_RISK,
    NudgeType.GOAL_BEHIND: NudgeCategory.GOAL,
    NudgeType.GOAL_REACHED: NudgeCategory.GOAL,
    NudgeType.DATED_GOAL_BEHIND: NudgeCategory.GOAL,
    NudgeType.CHALLENGE_LAUNCHED: NudgeCategory.CHALLENGE,
    NudgeType.CHALLENGE_ENDING: NudgeCategory.CHALLENGE,
    NudgeType.TEAM_MILESTONE: NudgeCategory.CHALLENGE,
    NudgeType.BADGE_EARNED: NudgeCategory.BADGE,
    # achievements, like badges: whoever switched those off wants no celebrations
    NudgeType.LEVEL_UP: NudgeCategory.BADGE,
    NudgeType.STREAK_MILESTONE: NudgeCategory.BADGE,
    NudgeType.KUDOS_RECEIVED: NudgeCategory.KUDOS,
    NudgeType.BUDGET_REMINDER: NudgeCategory.BUDGET,
    NudgeType.BUDGET_DECISION: NudgeCategory.BUDGET,
    NudgeType.NEW_COURSE: NudgeCategory.NEW_COURSE,
    NudgeType.TESTIMONIAL_REQUEST: NudgeCategory.TESTIMONIAL_REQUEST,
    # a course suggestion, like a new course: whoever wants none switches both off
    NudgeType.NEXT_STEP: NudgeCategory.NEW_COURSE,
}


class Happening(NamedTuple):
    """Something that may deserve an event-driven nudge.

    Due from ``due_from`` until ``stale_at`` (default: ``due_from`` + the policy's
    ``stale_after``). A named tuple: the scheduler builds several per learner, thousands
    per tick.
    """

    kind: NudgeType
    dedupe_key: str
    due_from: datetime
    params: Mapping[str, str | int] = MappingProxyType({})
    stale_at: datetime | None = None
    url: str | None = None


# a milestone passed more periods ago than this was there to celebrate back then
MILESTONE_PERIODS: Mapping[StreakMode, int] = {StreakMode.DAILY: 3, StreakMode.WEEKLY: 1}
# the streak lengths worth celebrating, as the engine's streak policy has them per mode
_MILESTONES: Mapping[StreakMode, tuple[int, ...]] = {
    mode: StreakPolicy(mode=mode).milestones for mode in StreakMode
}


def level_reached(
    level: int, xp_total: int, recent_xp: int, curve: LevelCurve, changed_at: datetime
) -> Happening | None:
    """The learner's ``level``, if the XP recorded lately (``recent_xp`` of ``xp_total``)
    took them to it; due from ``changed_at``, the last change of their state.

    One message per level (``level:<n>``); several levels at once are one message, for the
    highest.
    """
    if level <= 1 or xp_total - recent_xp >= curve.xp_for_level(level):
        return None
    return Happening(NudgeType.LEVEL_UP, f"level:{level}", changed_at, {"level": level})


def streak_milestone_reached(
    mode: StreakMode, current: int, longest: int, changed_at: datetime
) -> Happening | None:
    """The highest streak milestone the ``current`` streak passed within the last
    :data:`MILESTONE_PERIODS`, if no earlier streak was as long (``longest``: it was
    celebrated then); due from ``changed_at``, the last change of the learner's state.

    One message per milestone and streak mode (``streak:daily:7``), ever.
    """
    if current < longest:
        return None
    passed = [m for m in _MILESTONES[mode] if m <= current]
    if not passed or current - passed[-1] >= MILESTONE_PERIODS[mode]:
        return None
    milestone = passed[-1]
    return Happening(
        NudgeType.STREAK_MILESTONE,
        f"streak:{mode.value}:{milestone}",
        changed_at,
        {"streak": milestone, "streak_mode": mode.value},
    )


GOAL_PACE_HOUR = time(12)
"""The local time from which a day's goal-pace nudge is due (after the morning's own plans)."""

GOAL_PACE_GAP = timedelta(days=3, hours=12)
"""A goal falling behind is nudged about at most once in this long: every fourth day at
most, when the nudges go out around midday."""


def dated_goals_behind(
    goals: Iterable[DatedGoal],
    tallies: Mapping[str, GoalTally],
    today: date,
    due_from: datetime,
    stale_at: datetime,
    sent: Iterable[tuple[str, datetime]],
) -> list[Happening]:
    """A nudge for each open dated goal behind its pace on local ``today`` about which the
    learner got none within :data:`GOAL_PACE_GAP` before ``due_from`` (``sent``: their
    recent nudges as (dedupe key, due at)). Due from ``due_from`` until ``stale_at``; its
    link opens the goal. A goal without a tally (not counted yet) is skipped.
    """
    since = due_from - GOAL_PACE_GAP
    recent = [key for key, due_at in sent if due_at > since]
    found: list[Happening] = []
    for goal in goals:
        tally = tallies.get(goal.tally_key)
        if tally is None or not goal.set_on < today <= goal.due_on:
            continue
        progress = tally.progress(goal, today)
        if progress.pace is not Pace.BEHIND:
            continue
        prefix = f"dated_goal_behind:{goal.goal_id}:"
        if any(key.startswith(prefix) for key in recent):
            continue
        found.append(
            Happening(
                NudgeType.DATED_GOAL_BEHIND,
                f"{prefix}{today.isoformat()}",
                due_from,
                {
                    "done": progress.done,
                    "target": progress.target,
                    "days_left": (goal.due_on - today).days + 1,
                },
                stale_at=stale_at,
                url=f"/goals#goal-{goal.goal_id}",
            )
        )
    return found
