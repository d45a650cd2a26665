"""learnloop's gamification engine: pure rules, standard library only.

No I/O, no clock, no framework: ``now`` and the learner's timezone are arguments, every
datetime is timezone-aware, and state goes in and out as JSON-compatible dicts.

Flow (the backend's service does load -> engine -> persist in one transaction)::

    state = LearnerState.from_dict(row.data)            # {} -> fresh learner
    fact = LearningFact(key, kind, occurred_at, local_day(occurred_at, tz), ...)
    outcome = apply(state, fact, rules, badge_definitions, now, tz, challenges=...)
    # persist outcome.state.to_dict(), outcome.ledger (XP entries) and outcome.awards
    # (badge tiers with evidence), unless outcome.duplicate;
    # MissingHistory: backfill(state, the learner's stored facts, badges, challenges) first

Modules:

- ``events``: :class:`LearningFact`, :class:`EventKind`, ``local_day``, ``fingerprint_text``.
- ``periods``: local days across DST, ISO weeks, :class:`DateRange` (pauses).
- ``rules``: :class:`OrgRules` = :class:`StreakPolicy` + :class:`XpRules` + :class:`LevelCurve`.
- ``streaks``: ``compute_streak`` -> :class:`StreakStatus` (freezes, pauses, repair).
- ``xp``: ``xp_for_fact`` -> ledger entries (:class:`XpAward`), caps and cooldowns.
- ``badges``: :class:`BadgeDefinition` / :class:`BadgeCriterion`, ``evaluate_badges``.
- ``goals``: weekly minutes goal and dated goals with pace.
- ``challenges``: individual challenges and team challenges (minutes, participation).
- ``leaderboard``: opt-in weekly XP ranking, ``rank_for`` a learner's own rank.
- ``nudges``: :class:`NudgeType` (what a push message is about), :class:`NudgeCategory`
  (what a learner can switch off) and what the scheduler celebrates from the kept state
  (a new level, a streak milestone); ``nudge_policy``: which message, when (quiet hours,
  caps); ``nudge_texts``: what it says, in Dutch and English.
- ``tallies``: what a rule's tally is (each rule module keeps its own: ``BadgeTally``,
  ``ChallengeTally``, ``GoalTally``), so a fact costs O(rules), not O(history).
- ``state``: :class:`LearnerState`, the per-learner document (bounded: active days, a
  streak checkpoint, tallies, digests of recent keys and paid-out bookkeeping; no facts).
- ``engine``: ``apply``, ``replay``, ``refresh``, ``plan_pause``, ``set_weekly_goal``,
  ``add_dated_goal``, ``remove_dated_goal``, ``missing_tallies`` / ``backfill`` (rules that
  appear after a learner has history); :class:`Outcome`.
- ``jsondoc``: typed reads of JSON documents (internal).

Rules chosen (details in each module's docstring):

- Streaks come from the set of active local days. Daily mode counts consecutive days;
  weekly mode counts ISO weeks with ``days_per_week`` distinct active days.
- Repair: within the 2 local days (48 h) after a missed period became final, extra
  sessions (beyond the first of a day) make up the shortfall; a repaired period counts.
- Freezes: one earned per 7 streak days (daily) or 4 streak weeks (weekly), at most 2
  banked, used automatically and chronologically on a missed period that was not repaired.
- Planned pauses are neutral: they neither break nor extend a streak.
- Levels: reaching level n takes ``50 * n * (n - 1)`` XP (100, 300, 600, 1000, ...).
- XP defaults: completion 50 + 0.5/min (max 240 min, once per course), progress 0.2/min
  (max 60 min), experience 20, informal 10 (30/day cap, identical text once per 10-minute
  slot), testimonial 15, goal 25, challenge 100; hot skill x1.5; seasons multiply.
"""

from gamification.badges import (
    BadgeAward,
    BadgeCriterion,
    BadgeDefinition,
    BadgeTier,
    CriterionKind,
    CriterionMeasure,
    evaluate_badges,
    measure_criterion,
)
from gamification.challenges import (
    ChallengeDefinition,
    TeamChallenge,
    TeamTargetKind,
    challenge_progress,
    team_challenge_progress,
)
from gamification.engine import Outcome, apply, refresh, replay
from gamification.events import EventKind, LearningFact, fingerprint_text, local_day
from gamification.goals import DatedGoal, DatedGoalKind, Pace, dated_goal_progress
from gamification.leaderboard import LeaderboardRow, rank_for, weekly_leaderboard
from gamification.nudges import NudgeCategory, NudgeType
from gamification.periods import DateRange
from gamification.rules import (
    LevelCurve,
    OrgRules,
    StreakMode,
    StreakPolicy,
    XpRules,
    XpRulesPeriod,
    XpSeason,
)
from gamification.state import LearnerState
from gamification.streaks import StreakStatus, compute_streak
from gamification.xp import XpAward, XpReason, xp_for_fact

__all__ = [
    "BadgeAward",
    "BadgeCriterion",
    "BadgeDefinition",
    "BadgeTier",
    "ChallengeDefinition",
    "CriterionKind",
    "CriterionMeasure",
    "DateRange",
    "DatedGoal",
    "DatedGoalKind",
    "EventKind",
    "LeaderboardRow",
    "LearnerState",
    "LearningFact",
    "LevelCurve",
    "NudgeCategory",
    "NudgeType",
    "OrgRules",
    "Outcome",
    "Pace",
    "StreakMode",
    "StreakPolicy",
    "StreakStatus",
    "TeamChallenge",
    "TeamTargetKind",
    "XpAward",
    "XpReason",
    "XpRules",
    "XpRulesPeriod",
    "XpSeason",
    "apply",
    "challenge_progress",
    "compute_streak",
    "dated_goal_progress",
    "evaluate_badges",
    "fingerprint_text",
    "local_day",
    "measure_criterion",
    "rank_for",
    "refresh",
    "replay",
    "team_challenge_progress",
    "weekly_leaderboard",
    "xp_for_fact",
]
