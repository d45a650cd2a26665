"""A learner's gamification state: the document the backend keeps in ``learner_state.data``.

The backend loads it with :meth:`LearnerState.from_dict` (``from_dict({})`` is a fresh
learner), passes it to ``gamification.engine.apply`` and stores ``outcome.state.to_dict()``.

The facts themselves are kept (in chronological order): they make the engine idempotent
(a key already present is a duplicate), let badge, goal and challenge criteria be measured
over the learner's whole history, and are the single source for active days and minutes.
Everything else here is either paid-out bookkeeping (what XP, goals, challenges, badges
were already granted, so nothing is granted twice) or a snapshot for fast reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from gamification.events import LearningFact
from gamification.goals import DatedGoal
from gamification.jsondoc import (
    JsonDict,
    parse_date,
    read_int,
    read_list,
    read_mapping,
)
from gamification.periods import DateRange
from gamification.streaks import StreakStatus
from gamification.xp import XpContext

STATE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LearnerState:
    """Everything the engine knows about one learner (immutable; the engine returns new ones).

    - ``facts``: every applied fact, ordered by (occurred_at, key).
    - ``xp_total``: the sum of every XP award ever emitted; ``level`` follows from it.
    - ``informal_xp_by_day``: informal XP paid per local day (for the daily cap).
    - ``paid_informal_slots``: cooldown slots already paid (see ``xp.informal_cooldown_slot``).
    - ``paid_course_ids``: courses whose completion XP was paid.
    - ``rewarded_goals``: ``weekly:<iso week>`` / ``dated:<goal id>`` goals already paid.
    - ``completed_challenges``: challenge ids already completed and paid.
    - ``awarded_badges``: ``(code, tier)`` pairs awarded.
    - ``pauses``, ``weekly_goal_minutes``, ``dated_goals``: the learner's own settings.
    - ``streak``: the streak as of the last apply/refresh.
    """

    facts: tuple[LearningFact, ...] = ()
    xp_total: int = 0
    level: int = 1
    informal_xp_by_day: Mapping[date, int] = field(default_factory=dict)
    paid_informal_slots: frozenset[str] = field(default_factory=frozenset)
    paid_course_ids: frozenset[int] = field(default_factory=frozenset)
    rewarded_goals: frozenset[str] = field(default_factory=frozenset)
    completed_challenges: frozenset[str] = field(default_factory=frozenset)
    awarded_badges: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    pauses: tuple[DateRange, ...] = ()
    weekly_goal_minutes: int = 60
    dated_goals: tuple[DatedGoal, ...] = ()
    streak: StreakStatus = field(default_factory=StreakStatus)

    @cached_property
    def seen_keys(self) -> frozenset[str]:
        """Idempotency keys of every applied fact."""
        return frozenset(fact.key for fact in self.facts)

    def sessions_by_day(self) -> dict[date, int]:
        """Learning sessions per local day (facts that count as activity)."""
        return dict(Counter(f.local_date for f in self.facts if f.counts_as_activity))

    def minutes_by_day(self) -> dict[date, int]:
        """Minutes learned per local day."""
        minutes: Counter[date] = Counter()
        for fact in self.facts:
            if fact.counts_as_activity:
                minutes[fact.local_date] += fact.minutes
        return dict(minutes)

    def has_badge(self, code: str, tier: str) -> bool:
        """Whether this badge tier was already awarded."""
        return (code, tier) in self.awarded_badges

    def xp_context(self, day: date) -> XpContext:
        """What caps and cooldowns need to know for a fact on local day ``day``."""
        return XpContext(
            informal_xp_today=self.informal_xp_by_day.get(day, 0),
            paid_informal_slots=self.paid_informal_slots,
            completed_course_ids=self.paid_course_ids,
        )

    def to_dict(self) -> JsonDict:
        """JSON-compatible document (dates as ISO strings, sets as sorted lists)."""
        return {
            "schema": STATE_SCHEMA_VERSION,
            "facts": [fact.to_dict() for fact in self.facts],
            "xp_total": self.xp_total,
            "level": self.level,
            "informal_xp_by_day": {
                day.isoformat(): xp for day, xp in sorted(self.informal_xp_by_day.items())
            },
            "paid_informal_slots": sorted(self.paid_informal_slots),
            "paid_course_ids": sorted(self.paid_course_ids),
            "rewarded_goals": sorted(self.rewarded_goals),
            "completed_challenges": sorted(self.completed_challenges),
            "awarded_badges": [list(pair) for pair in sorted(self.awarded_badges)],
            "pauses": [pause.to_dict() for pause in self.pauses],
            "weekly_goal_minutes": self.weekly_goal_minutes,
            "dated_goals": [goal.to_dict() for goal in self.dated_goals],
            "streak": self.streak.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnerState:
        """Inverse of :meth:`to_dict`; ``from_dict({})`` is a fresh learner."""
        schema = read_int(data, "schema", STATE_SCHEMA_VERSION)
        if schema > STATE_SCHEMA_VERSION:
            raise ValueError(f"state schema {schema} is newer than this engine understands")
        facts = sorted(
            (LearningFact.from_dict(f) for f in read_list(data, "facts")),
            key=lambda f: f.chronological_key,
        )
        badges = read_list(data, "awarded_badges")
        if not all(isinstance(b, list) and len(b) == 2 for b in badges):
            raise ValueError(f"awarded_badges must be [code, tier] pairs, got {badges!r}")
        return cls(
            facts=tuple(facts),
            xp_total=read_int(data, "xp_total", 0),
            level=read_int(data, "level", 1),
            informal_xp_by_day={
                parse_date(day): int(xp)
                for day, xp in read_mapping(data, "informal_xp_by_day").items()
            },
            paid_informal_slots=frozenset(str(s) for s in read_list(data, "paid_informal_slots")),
            paid_course_ids=frozenset(int(c) for c in read_list(data, "paid_course_ids")),
            rewarded_goals=frozenset(str(g) for g in read_list(data, "rewarded_goals")),
            completed_challenges=frozenset(str(c) for c in read_list(data, "completed_challenges")),
            awarded_badges=frozenset((str(code), str(tier)) for code, tier in badges),
            pauses=tuple(DateRange.from_dict(p) for p in read_list(data, "pauses")),
            weekly_goal_minutes=read_int(data, "weekly_goal_minutes", 60),
            dated_goals=tuple(DatedGoal.from_dict(g) for g in read_list(data, "dated_goals")),
            streak=StreakStatus.from_dict(read_mapping(data, "streak")),
        )
