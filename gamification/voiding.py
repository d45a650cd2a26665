"""Taking facts back: a learner's state as if some facts had never been applied.

An LMS voids a statement it sent by mistake (xAPI 1.0.3 Data 2.3.2); the backend then takes
back what its fact earned (``backend.learning.voiding``). The state is bounded (no facts), so
the engine recomputes it from the learner's history:

- what facts decide (active days and so the streak, tallies of badges, challenges and dated
  goals, keys, informal caps and cooldowns, paid courses, goals reached and challenges
  completed) comes from replaying the history without the voided facts;
- XP moves by what replaying shows the voided facts were worth: one countering amount per
  voided fact (the replay with it minus the replay without it, taken one fact at a time), so
  XP paid under rules since changed, or for goals since closed, is left as it was paid and
  the ledger still explains the total;
- goals paid, challenges completed and courses paid that the replay of the whole history
  does not explain (a goal since closed, a challenge since forgotten) are kept;
- the learner's own settings (weekly goal, dated goals, finished goals, pauses) are kept;
- badge tiers already awarded are kept: an award was celebrated and may have been shared
  (its public page); L&D can revoke one by hand. The tallies go down, so a tier not yet
  awarded is earned again only by new learning.

When every fact was applied under the rules in force now, the result equals applying only
the facts that are not voided (what the property tests check, in any arrival order).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from gamification.badges import BadgeDefinition
from gamification.challenges import ChallengeDefinition
from gamification.engine import apply_many, refresh
from gamification.events import LearningFact
from gamification.goals import tally_goal
from gamification.periods import require_aware
from gamification.rules import OrgRules
from gamification.state import LearnerState

_T = TypeVar("_T")

MAX_SEPARATE_COUNTERS = 8
"""A learner's voided facts get a countering amount each up to this many at once; more
get one amount together (on the newest), so voiding a batch replays the history twice."""


@dataclass(frozen=True)
class Voided:
    """The learner's state without the voided facts, and the XP each voided fact takes back
    (``(key, amount)``; the amount is what the ledger's countering entry adds, usually
    negative; facts worth nothing are left out; see :data:`MAX_SEPARATE_COUNTERS`)."""

    state: LearnerState
    counters: tuple[tuple[str, int], ...]

    @property
    def xp_change(self) -> int:
        """The sum of the countering amounts."""
        return sum(amount for _key, amount in self.counters)


def _settings_only(state: LearnerState) -> LearnerState:
    """A learner with ``state``'s own settings and no facts."""
    return LearnerState(
        pauses=state.pauses,
        weekly_goal_minutes=state.weekly_goal_minutes,
        dated_goals=state.dated_goals,
        finished_goals=state.finished_goals,
        goal_tallies={goal.tally_key: tally_goal(goal, ()) for goal in state.dated_goals},
    )


def _replayed(
    start: LearnerState,
    facts: Sequence[LearningFact],
    rules: OrgRules,
    badges: Sequence[BadgeDefinition],
    challenges: Sequence[ChallengeDefinition],
    now: datetime,
    tz_name: str,
) -> LearnerState:
    if not facts:
        return refresh(start, rules, now, tz_name)
    outcomes = apply_many(start, facts, rules, badges, now, tz_name, challenges=challenges)
    return next(o.state for o in reversed(outcomes) if not o.duplicate)


def _kept(old: frozenset[_T], explained: frozenset[_T], now: frozenset[_T]) -> frozenset[_T]:
    """``old`` without what the replay of the whole history explained, plus what the replay
    without the voided facts gives."""
    return (old - explained) | now


def without_facts(
    state: LearnerState,
    history: Sequence[LearningFact],
    voided: Collection[str],
    rules: OrgRules,
    badges: Sequence[BadgeDefinition],
    now: datetime,
    tz_name: str,
    *,
    challenges: Sequence[ChallengeDefinition] = (),
) -> Voided:
    """``state`` (the learner's, after applying ``history``: every fact applied so far, in
    time order) as if the facts keyed ``voided`` had never been applied. Keys not in
    ``history`` are ignored. See the module docstring for what is recomputed and what kept.
    """
    require_aware(now, "now")
    start = _settings_only(state)
    facts = sorted(history, key=lambda f: f.chronological_key)
    wanted = set(voided)
    order = [f.key for f in facts if f.key in wanted]
    if not order:
        return Voided(state, ())
    whole = _replayed(start, facts, rules, badges, challenges, now, tz_name)
    current = whole
    gone: set[str] = set()
    counters: list[tuple[str, int]] = []
    # one at a time, each voided fact's own countering amount; past a few, one replay for all
    # of them (a replay reads the whole history), countered on the newest
    steps = [[key] for key in order] if len(order) <= MAX_SEPARATE_COUNTERS else [order]
    for step in steps:
        gone.update(step)
        after = _replayed(
            start, [f for f in facts if f.key not in gone], rules, badges, challenges, now, tz_name
        )
        if after.xp_total != current.xp_total:
            counters.append((step[-1], after.xp_total - current.xp_total))
        current = after
    xp_total = state.xp_total + sum(amount for _key, amount in counters)
    new = replace(
        current,
        xp_total=xp_total,
        level=rules.levels.level_for_xp(xp_total),
        paid_course_ids=_kept(
            state.paid_course_ids, whole.paid_course_ids, current.paid_course_ids
        ),
        rewarded_goals=_kept(state.rewarded_goals, whole.rewarded_goals, current.rewarded_goals),
        completed_challenges=_kept(
            state.completed_challenges, whole.completed_challenges, current.completed_challenges
        ),
        awarded_badges=state.awarded_badges,
        history=(),
    )
    return Voided(new, tuple(counters))
