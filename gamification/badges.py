"""Badges as data: a :class:`BadgeDefinition` measures one :class:`BadgeCriterion` and
awards a tier each time the measure reaches the tier's threshold.

Each tier is awarded at most once per learner (the state keeps the awarded ``(code, tier)``
pairs). The evidence of an award is the fact keys that satisfied it, in chronological order:
for counts, the first ``threshold`` matching facts; for distinct competencies, the fact that
first touched each one; for minutes, the facts until the sum reached the threshold; for a
streak, the facts of the period that reached the length; for challenges, ``challenge:<id>``.
Evidence reflects the facts known when the badge was awarded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gamification.events import EventKind, LearningFact
from gamification.jsondoc import (
    JsonDict,
    read_int,
    read_list,
    read_mapping,
    read_optional_date,
    read_optional_int,
    read_optional_str,
    read_str,
)
from gamification.rules import StreakMode, StreakPolicy
from gamification.streaks import streak_reached_on

if TYPE_CHECKING:
    from gamification.state import LearnerState

CHALLENGE_BADGE_TIER = "completed"
"""Tier name of a badge granted by completing a challenge (challenge badges have one tier)."""


class CriterionKind(StrEnum):
    """What a badge measures."""

    EVENT_COUNT = "event_count"
    DISTINCT_COMPETENCIES = "distinct_competencies"
    STREAK_LENGTH = "streak_length"
    TOTAL_MINUTES = "total_minutes"
    HOT_SKILL_COMPLETIONS = "hot_skill_completions"
    CHALLENGES_COMPLETED = "challenges_completed"
    TESTIMONIALS_WRITTEN = "testimonials_written"
    FIRST_INFORMAL_LOG = "first_informal_log"


@dataclass(frozen=True)
class BadgeCriterion:
    """What counts towards a badge.

    Fact-based kinds (all but streak length and challenges) can be narrowed to one
    ``event_kind`` (event count and minutes only; the preset kinds fix it), one
    ``competency_id``, a set of ``course_ids`` and an inclusive local-date window.
    Without ``event_kind`` only facts that count as learning activity are measured.
    """

    kind: CriterionKind
    event_kind: EventKind | None = None
    competency_id: int | None = None
    course_ids: frozenset[int] = field(default_factory=frozenset)
    starts_on: date | None = None
    ends_on: date | None = None

    def matches(self, fact: LearningFact) -> bool:
        """Whether ``fact`` counts towards this criterion."""
        if self.kind is CriterionKind.HOT_SKILL_COMPLETIONS:
            if fact.kind is not EventKind.COMPLETION or not fact.hot_skill:
                return False
        elif self.kind is CriterionKind.TESTIMONIALS_WRITTEN:
            if fact.kind is not EventKind.TESTIMONIAL:
                return False
        elif self.kind is CriterionKind.FIRST_INFORMAL_LOG:
            if fact.kind is not EventKind.INFORMAL:
                return False
        elif self.event_kind is not None:
            if fact.kind is not self.event_kind:
                return False
        elif not fact.counts_as_activity:
            return False
        if self.competency_id is not None and self.competency_id not in fact.competency_ids:
            return False
        if self.course_ids and fact.course_id not in self.course_ids:
            return False
        if self.starts_on is not None and fact.local_date < self.starts_on:
            return False
        return self.ends_on is None or fact.local_date <= self.ends_on

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "kind": self.kind.value,
            "event_kind": self.event_kind.value if self.event_kind else None,
            "competency_id": self.competency_id,
            "course_ids": sorted(self.course_ids),
            "starts_on": self.starts_on.isoformat() if self.starts_on else None,
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BadgeCriterion:
        """Inverse of :meth:`to_dict`."""
        event_kind = read_optional_str(data, "event_kind")
        return cls(
            kind=CriterionKind(read_str(data, "kind", "")),
            event_kind=EventKind(event_kind) if event_kind else None,
            competency_id=read_optional_int(data, "competency_id"),
            course_ids=frozenset(int(c) for c in read_list(data, "course_ids")),
            starts_on=read_optional_date(data, "starts_on"),
            ends_on=read_optional_date(data, "ends_on"),
        )


@dataclass(frozen=True)
class BadgeTier:
    """A level of a badge (bronze, silver, gold...) reached at ``threshold``."""

    name: str
    threshold: int

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"tier {self.name!r} needs a threshold >= 1")


@dataclass(frozen=True)
class BadgeDefinition:
    """A badge an organisation offers; tiers are ordered by rising threshold."""

    code: str
    name: str
    criterion: BadgeCriterion
    tiers: tuple[BadgeTier, ...] = (BadgeTier("bronze", 1),)

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError(f"badge {self.code!r} needs at least one tier")
        thresholds = [tier.threshold for tier in self.tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError(f"badge {self.code!r} tiers must have rising thresholds")
        if len({tier.name for tier in self.tiers}) != len(self.tiers):
            raise ValueError(f"badge {self.code!r} has duplicate tier names")

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "code": self.code,
            "name": self.name,
            "criterion": self.criterion.to_dict(),
            "tiers": [{"name": t.name, "threshold": t.threshold} for t in self.tiers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BadgeDefinition:
        """Inverse of :meth:`to_dict`."""
        return cls(
            code=read_str(data, "code", ""),
            name=read_str(data, "name", ""),
            criterion=BadgeCriterion.from_dict(read_mapping(data, "criterion")),
            tiers=tuple(
                BadgeTier(read_str(t, "name", ""), read_int(t, "threshold", 1))
                for t in read_list(data, "tiers")
            ),
        )


@dataclass(frozen=True)
class BadgeAward:
    """A badge tier earned, with the fact keys (or ``challenge:<id>``) that earned it."""

    code: str
    tier: str
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {"code": self.code, "tier": self.tier, "evidence": list(self.evidence)}


@dataclass(frozen=True)
class _Step:
    """The measure reached ``value``; ``keys`` are the facts that moved it there."""

    value: int
    keys: tuple[str, ...]


@dataclass(frozen=True)
class CriterionMeasure:
    """``value`` is where the learner stands now; ``best`` the highest it ever was.

    They differ only for streaks: a broken streak starts again from 0, but a length once
    reached still earns its tier.
    """

    value: int
    best: int

    def reached(self, threshold: int) -> bool:
        """Whether a tier at ``threshold`` is earned."""
        return self.best >= threshold

    def toward(self, threshold: int) -> int:
        """The number to show against ``threshold`` ("7 / 12")."""
        return self.best if self.reached(threshold) else self.value


def measure_criterion(criterion: BadgeCriterion, state: LearnerState) -> CriterionMeasure:
    """How far ``state`` is on ``criterion``, counted as :func:`evaluate_badges` counts it
    (refresh the state first for streak badges); shown on the badge wall as "7 / 12"."""
    if criterion.kind is CriterionKind.STREAK_LENGTH:
        streak = state.streak
        return CriterionMeasure(streak.current, max(streak.longest, streak.current))
    if criterion.kind is CriterionKind.CHALLENGES_COMPLETED:
        done = len(state.completed_challenges)
        return CriterionMeasure(done, done)
    value = 0
    seen: set[int] = set()
    for fact in state.facts:
        if not criterion.matches(fact):
            continue
        if criterion.kind is CriterionKind.DISTINCT_COMPETENCIES:
            touched = set(fact.competency_ids)
            if criterion.competency_id is not None:
                touched &= {criterion.competency_id}
            seen |= touched
            value = len(seen)
        elif criterion.kind is CriterionKind.TOTAL_MINUTES:
            value += fact.minutes
        else:
            value += 1
    return CriterionMeasure(value, value)


def _fact_steps(criterion: BadgeCriterion, facts: Sequence[LearningFact]) -> list[_Step]:
    steps: list[_Step] = []
    value = 0
    seen_competencies: set[int] = set()
    for fact in facts:
        if not criterion.matches(fact):
            continue
        if criterion.kind is CriterionKind.DISTINCT_COMPETENCIES:
            touched = fact.competency_ids - seen_competencies
            if criterion.competency_id is not None:
                touched &= {criterion.competency_id}
            if not touched:
                continue
            seen_competencies |= touched
            value = len(seen_competencies)
        elif criterion.kind is CriterionKind.TOTAL_MINUTES:
            if fact.minutes == 0:
                continue
            value += fact.minutes
        else:
            value += 1
        steps.append(_Step(value, (fact.key,)))
    return steps


def _streak_steps(state: LearnerState, policy: StreakPolicy, today: date) -> list[_Step]:
    reached = streak_reached_on(state.sessions_by_day(), policy, state.pauses, today=today)
    span = timedelta(days=0 if policy.mode is StreakMode.DAILY else 6)
    steps = []
    for length, first_day in sorted(reached.items()):
        keys = tuple(
            fact.key
            for fact in state.facts
            if fact.counts_as_activity and first_day <= fact.local_date <= first_day + span
        )
        steps.append(_Step(length, keys))
    return steps


def _evidence(steps: Sequence[_Step], threshold: int, cumulative: bool) -> tuple[str, ...] | None:
    """Evidence for reaching ``threshold``, or None if it was not reached."""
    keys: list[str] = []
    for step in steps:
        keys.extend(step.keys)
        if step.value >= threshold:
            return tuple(keys) if cumulative else step.keys
    return None


def evaluate_badges(
    state: LearnerState,
    definitions: Sequence[BadgeDefinition],
    *,
    policy: StreakPolicy,
    today: date,
) -> list[BadgeAward]:
    """The badge tiers ``state`` has earned but not yet been awarded.

    ``policy`` and ``today`` are needed for streak-length badges (streaks depend on the
    learner's local day). Results follow definition order, then tier order.
    """
    awards: list[BadgeAward] = []
    for definition in definitions:
        pending = [t for t in definition.tiers if not state.has_badge(definition.code, t.name)]
        if not pending:
            continue
        criterion = definition.criterion
        if criterion.kind is CriterionKind.STREAK_LENGTH:
            steps = _streak_steps(state, policy, today)
        elif criterion.kind is CriterionKind.CHALLENGES_COMPLETED:
            ids = sorted(state.completed_challenges)
            steps = [_Step(i + 1, (f"challenge:{cid}",)) for i, cid in enumerate(ids)]
        else:
            steps = _fact_steps(criterion, state.facts)
        cumulative = criterion.kind is not CriterionKind.STREAK_LENGTH
        for tier in pending:
            evidence = _evidence(steps, tier.threshold, cumulative)
            if evidence is not None:
                awards.append(BadgeAward(definition.code, tier.name, evidence))
    return awards
