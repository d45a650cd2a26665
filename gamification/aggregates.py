"""Bounded, order-independent summaries of a learner's facts: :class:`LearnerAggregates`.

Today's :class:`gamification.state.LearnerState` keeps every fact, so each event decodes,
rescans and rewrites a document that grows with the learner's history. This module is the
bounded replacement (not yet wired into the backend; see docs/ARCHITECTURE.md, "Bounded
learner state — next step").

Facts are summed into *buckets*: one per distinct (local day, kind, course, competency set,
hot skill, has-minutes) combination, holding the number of facts, their minutes and the
largest course duration seen. Every rule the engine measures (badge criteria, dated goals,
challenges, sessions and minutes per day) depends only on those fields, so each question is
answered by running the *existing* predicate (``BadgeCriterion.matches``,
``ChallengeDefinition.matches``, the dated-goal rule) on one representative fact per bucket:
no rule logic is duplicated. The size grows with distinct days, courses and competencies,
never with the number of events.

Idempotency keys are kept only for facts within :data:`KEY_WINDOW_DAYS` of the newest local
day seen; an older duplicate is refused by the database's unique key on
``learning_event`` before it reaches the engine (the backend already relies on that).
What aggregates cannot give is evidence (fact keys) for awards; the backend records it from
the fact that triggered the award.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from gamification.badges import BadgeCriterion, CriterionKind, CriterionMeasure
from gamification.challenges import ChallengeDefinition
from gamification.events import EventKind, LearningFact
from gamification.goals import (
    DatedGoal,
    DatedGoalKind,
    DatedGoalProgress,
    counts_for_goal,
    dated_goal_result,
)
from gamification.jsondoc import JsonDict, read_int, read_list
from gamification.periods import week_start

AGGREGATES_SCHEMA_VERSION = 1
KEY_WINDOW_DAYS = 7
"""Keys of facts this many days older than the newest local day are forgotten."""


@dataclass(frozen=True)
class BucketKey:
    """The fields every engine rule looks at, minus key, instant and exact minutes."""

    local_date: date
    kind: EventKind
    course_id: int | None
    competency_ids: tuple[int, ...]
    hot_skill: bool
    has_minutes: bool

    def sort_key(self) -> tuple[Any, ...]:
        """A total order: by day first (None courses before numbered ones)."""
        course = -1 if self.course_id is None else self.course_id
        return (
            self.local_date,
            self.kind.value,
            course,
            self.competency_ids,
            self.hot_skill,
            self.has_minutes,
        )

    @classmethod
    def of(cls, fact: LearningFact) -> BucketKey:
        """The bucket ``fact`` falls into."""
        return cls(
            fact.local_date,
            fact.kind,
            fact.course_id,
            tuple(sorted(fact.competency_ids)),
            fact.hot_skill,
            fact.minutes > 0,
        )


@lru_cache(maxsize=65536)
def representative(bucket: BucketKey) -> LearningFact:
    """A fact every rule judges exactly as it judges each fact of ``bucket``."""
    return LearningFact(
        key="aggregate",
        kind=bucket.kind,
        occurred_at=datetime.combine(bucket.local_date, time(12), tzinfo=UTC),
        local_date=bucket.local_date,
        minutes=1 if bucket.has_minutes else 0,
        course_id=bucket.course_id,
        competency_ids=frozenset(bucket.competency_ids),
        hot_skill=bucket.hot_skill,
    )


@dataclass(frozen=True)
class BucketTotals:
    """How many facts fell in a bucket, their minutes and the largest course duration."""

    count: int = 0
    minutes: int = 0
    max_course_duration: int = 0

    def plus(self, fact: LearningFact) -> BucketTotals:
        """These totals with ``fact`` added."""
        return BucketTotals(
            self.count + 1,
            self.minutes + fact.minutes,
            max(self.max_course_duration, fact.course_duration_minutes or 0),
        )


@dataclass(frozen=True)
class LearnerAggregates:
    """Bounded summary of a learner's facts (immutable; :meth:`add` returns a new one)."""

    buckets: Mapping[BucketKey, BucketTotals] = field(default_factory=dict)
    recent_keys: Mapping[str, date] = field(default_factory=dict)
    newest_day: date | None = None

    def is_duplicate(self, fact: LearningFact) -> bool:
        """Whether ``fact``'s key is among the recent keys (older ones: the DB's unique key)."""
        return fact.key in self.recent_keys

    def add(self, fact: LearningFact) -> LearnerAggregates:
        """These aggregates with ``fact`` counted (unchanged if its key is a recent duplicate)."""
        if self.is_duplicate(fact):
            return self
        bucket = BucketKey.of(fact)
        buckets = dict(self.buckets)
        buckets[bucket] = buckets.get(bucket, BucketTotals()).plus(fact)
        newest = (
            fact.local_date if self.newest_day is None else max(self.newest_day, fact.local_date)
        )
        horizon = newest - timedelta(days=KEY_WINDOW_DAYS)
        keys = {k: d for k, d in self.recent_keys.items() if d >= horizon}
        if fact.local_date >= horizon:
            keys[fact.key] = fact.local_date
        return LearnerAggregates(buckets, keys, newest)

    @classmethod
    def from_facts(cls, facts: Iterable[LearningFact]) -> LearnerAggregates:
        """Aggregates of ``facts`` (duplicate keys in ``facts`` counted once)."""
        unique = {fact.key: fact for fact in facts}
        result = cls()
        for fact in sorted(unique.values(), key=lambda f: f.chronological_key):
            result = result.add(fact)
        return result

    def matching(self, predicate: Any) -> list[tuple[BucketKey, BucketTotals]]:
        """Buckets whose representative fact satisfies ``predicate``, by day."""
        return sorted(
            ((b, t) for b, t in self.buckets.items() if predicate(representative(b))),
            key=lambda item: item[0].sort_key(),
        )

    def sessions_by_day(self) -> dict[date, int]:
        """Learning sessions per local day (as ``LearnerState.sessions_by_day``)."""
        sessions: dict[date, int] = {}
        for bucket, totals in self.matching(lambda f: f.counts_as_activity):
            sessions[bucket.local_date] = sessions.get(bucket.local_date, 0) + totals.count
        return sessions

    def minutes_by_day(self) -> dict[date, int]:
        """Minutes learned per local day (as ``LearnerState.minutes_by_day``)."""
        minutes: dict[date, int] = {}
        for bucket, totals in self.matching(lambda f: f.counts_as_activity):
            minutes[bucket.local_date] = minutes.get(bucket.local_date, 0) + totals.minutes
        return minutes

    def to_dict(self) -> JsonDict:
        """JSON-compatible document."""
        return {
            "schema": AGGREGATES_SCHEMA_VERSION,
            "buckets": [
                [
                    b.local_date.isoformat(),
                    b.kind.value,
                    b.course_id,
                    list(b.competency_ids),
                    b.hot_skill,
                    b.has_minutes,
                    t.count,
                    t.minutes,
                    t.max_course_duration,
                ]
                for b, t in sorted(self.buckets.items(), key=lambda i: i[0].sort_key())
            ],
            "recent_keys": {k: d.isoformat() for k, d in sorted(self.recent_keys.items())},
            "newest_day": self.newest_day.isoformat() if self.newest_day else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnerAggregates:
        """Inverse of :meth:`to_dict`."""
        schema = read_int(data, "schema", AGGREGATES_SCHEMA_VERSION)
        if schema > AGGREGATES_SCHEMA_VERSION:
            raise ValueError(f"aggregates schema {schema} is newer than this engine understands")
        buckets: dict[BucketKey, BucketTotals] = {}
        for row in read_list(data, "buckets"):
            if not isinstance(row, list) or len(row) != 9:
                raise ValueError(f"a bucket is a list of 9 fields, got {row!r}")
            day, kind, course, comps, hot, has_min, count, minutes, duration = row
            key = BucketKey(
                date.fromisoformat(str(day)),
                EventKind(str(kind)),
                None if course is None else int(course),
                tuple(sorted(int(c) for c in comps)),
                bool(hot),
                bool(has_min),
            )
            buckets[key] = BucketTotals(int(count), int(minutes), int(duration))
        raw_keys = data.get("recent_keys") or {}
        if not isinstance(raw_keys, Mapping):
            raise ValueError("recent_keys must be an object")
        newest = data.get("newest_day")
        return cls(
            buckets,
            {str(k): date.fromisoformat(str(d)) for k, d in raw_keys.items()},
            date.fromisoformat(str(newest)) if newest else None,
        )


def measure_from_aggregates(
    criterion: BadgeCriterion,
    aggregates: LearnerAggregates,
    *,
    streak_current: int = 0,
    streak_longest: int = 0,
    challenges_completed: int = 0,
) -> CriterionMeasure:
    """:func:`gamification.badges.measure_criterion` answered from aggregates."""
    if criterion.kind is CriterionKind.STREAK_LENGTH:
        return CriterionMeasure(streak_current, max(streak_longest, streak_current))
    if criterion.kind is CriterionKind.CHALLENGES_COMPLETED:
        return CriterionMeasure(challenges_completed, challenges_completed)
    matching = aggregates.matching(criterion.matches)
    if criterion.kind is CriterionKind.DISTINCT_COMPETENCIES:
        seen: set[int] = set()
        for bucket, _ in matching:
            seen |= set(bucket.competency_ids)
        if criterion.competency_id is not None:
            seen &= {criterion.competency_id}
        value = len(seen)
    elif criterion.kind is CriterionKind.TOTAL_MINUTES:
        value = sum(t.minutes for _, t in matching)
    else:
        value = sum(t.count for _, t in matching)
    return CriterionMeasure(value, value)


def weekly_minutes_from_aggregates(aggregates: LearnerAggregates, day: date) -> int:
    """Minutes learned in the ISO week of ``day`` (as ``goals.weekly_minutes``)."""
    monday = week_start(day)
    return sum(
        m for d, m in aggregates.minutes_by_day().items() if monday <= d < monday + timedelta(7)
    )


def dated_goal_from_aggregates(
    goal: DatedGoal, aggregates: LearnerAggregates, today: date
) -> DatedGoalProgress:
    """``goals.dated_goal_progress`` answered from aggregates (same rule, same pace)."""
    in_window = [
        (b, t)
        for b, t in sorted(aggregates.buckets.items(), key=lambda i: i[0].sort_key())
        if goal.set_on <= b.local_date <= goal.due_on
    ]
    count = 0
    reached_on: date | None = None
    for bucket, totals in in_window:
        if counts_for_goal(goal, representative(bucket)):
            count += totals.count
            if reached_on is None and count >= goal.target_count:
                reached_on = bucket.local_date
    done = min(count, goal.target_count)
    fraction = done / goal.target_count
    if goal.kind is DatedGoalKind.COURSE_COMPLETION and reached_on is None:
        course = [(b, t) for b, t in in_window if b.course_id == goal.course_id]
        duration = max((t.max_course_duration for _, t in course), default=0)
        learned = sum(t.minutes for b, t in course if b.kind is EventKind.PROGRESS)
        if duration > 0:
            fraction = min(0.99, learned / duration)
    return dated_goal_result(goal, done, fraction, reached_on, today)


@dataclass(frozen=True)
class ChallengeCount:
    """Individual challenge progress from aggregates (evidence keys are not kept)."""

    count: int
    target: int
    fraction: float
    completed: bool
    completed_on: date | None


def challenge_from_aggregates(
    challenge: ChallengeDefinition, aggregates: LearnerAggregates
) -> ChallengeCount:
    """``challenges.challenge_progress`` answered from aggregates: a course counts once,
    on the first day it matched; ``completed_on`` is the day the target was reached."""
    count = 0
    completed_on: date | None = None
    courses_seen: set[int] = set()
    for bucket, totals in aggregates.matching(challenge.matches):
        if bucket.course_id is not None:
            if bucket.course_id in courses_seen:
                continue
            courses_seen.add(bucket.course_id)
            count += 1
        else:
            count += totals.count
        if count >= challenge.target_count:
            completed_on = bucket.local_date
            break
    count = min(count, challenge.target_count)
    return ChallengeCount(
        count,
        challenge.target_count,
        count / challenge.target_count,
        count >= challenge.target_count,
        completed_on,
    )
