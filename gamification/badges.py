"""Badges as data: a :class:`BadgeDefinition` measures one :class:`BadgeCriterion` and
awards a tier each time the measure reaches the tier's threshold.

Each tier is awarded at most once per learner (the state keeps the awarded ``(code, tier)``
pairs). The measure of a fact-based criterion is a :class:`BadgeTally` the engine keeps per
criterion (a count, minutes, or the competencies touched), so evaluating badges never walks
the learner's history. The evidence of an award is the key of the fact that reached the
tier (the backend keeps every event, so the rest of the story can be read from there); for
challenges-completed badges it is ``challenge:<id>`` of the challenges counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gamification.events import EventKind, LearningFact
from gamification.jsondoc import (
    JsonDict,
    content_digest,
    read_int,
    read_list,
    read_mapping,
    read_optional_date,
    read_optional_int,
    read_optional_str,
    read_str,
)
from gamification.tallies import known_tally

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

    @cached_property
    def tally_key(self) -> str:
        """The key of this criterion's tally: its content (badges with the same criterion
        share one tally; a changed criterion starts a new one)."""
        return "b:" + content_digest(self.to_dict())

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


FACT_KINDS = frozenset(CriterionKind) - {
    CriterionKind.STREAK_LENGTH,
    CriterionKind.CHALLENGES_COMPLETED,
}
"""Criterion kinds measured from facts (the others come from the streak and challenges)."""


@dataclass(frozen=True)
class BadgeTally:
    """A fact-based criterion's total: facts counted or minutes summed (``value``), or the
    competencies touched (distinct-competency criteria). A sum: arrival order is moot."""

    value: int = 0
    competencies: frozenset[int] = field(default_factory=frozenset)

    def plus(self, criterion: BadgeCriterion, fact: LearningFact) -> BadgeTally:
        """This tally with ``fact`` added (call only when ``criterion.matches(fact)``)."""
        if criterion.kind is CriterionKind.DISTINCT_COMPETENCIES:
            touched = fact.competency_ids
            if criterion.competency_id is not None:
                touched = touched & {criterion.competency_id}
            if touched <= self.competencies:
                return self
            merged = self.competencies | touched
            return BadgeTally(len(merged), merged)
        if criterion.kind is CriterionKind.TOTAL_MINUTES:
            return BadgeTally(self.value + fact.minutes) if fact.minutes else self
        return BadgeTally(self.value + 1)

    def to_json(self) -> Any:
        """Compact form: the number, or the sorted competency ids."""
        return sorted(self.competencies) if self.competencies else self.value

    @classmethod
    def from_json(cls, data: Any) -> BadgeTally:
        """Inverse of :meth:`to_json`."""
        if isinstance(data, list):
            competencies = frozenset(int(c) for c in data)
            return cls(len(competencies), competencies)
        if isinstance(data, int) and not isinstance(data, bool):
            return cls(data)
        raise ValueError(f"a badge tally is a number or a list of competency ids, got {data!r}")


def tally_badge(criterion: BadgeCriterion, facts: Iterable[LearningFact]) -> BadgeTally:
    """The tally of a fact-based criterion over a whole history."""
    tally = BadgeTally()
    for fact in facts:
        if criterion.matches(fact):
            tally = tally.plus(criterion, fact)
    return tally


def measure_criterion(criterion: BadgeCriterion, state: LearnerState) -> CriterionMeasure:
    """How far ``state`` is on ``criterion``, counted as :func:`evaluate_badges` counts it
    (refresh the state first for streak badges); shown on the badge wall as "7 / 12".

    Raises KeyError for a fact-based criterion the learner (who has facts) has no tally of
    yet: ``gamification.engine.backfill`` it first.
    """
    return CriterionMeasure(*_measure(criterion, state))


NO_BADGE_TALLY = BadgeTally()
"""The tally of a criterion nothing has counted towards yet (immutable: shared)."""


def _measure(criterion: BadgeCriterion, state: LearnerState) -> tuple[int, int]:
    """:func:`measure_criterion`'s value and best (a tuple: evaluated per badge per fact)."""
    if criterion.kind is CriterionKind.STREAK_LENGTH:
        streak = state.streak
        return streak.current, max(streak.longest, streak.current)
    if criterion.kind is CriterionKind.CHALLENGES_COMPLETED:
        done = len(state.completed_challenges)
        return done, done
    tally = known_tally(state.badge_tallies, criterion.tally_key, state.fact_count, NO_BADGE_TALLY)
    return tally.value, tally.value


def evaluate_badges(
    state: LearnerState,
    definitions: Sequence[BadgeDefinition],
    *,
    evidence: tuple[str, ...] = (),
) -> list[BadgeAward]:
    """The badge tiers ``state`` has earned but not yet been awarded, with ``evidence``
    (the key of the fact being applied); refresh the streak first for streak badges.
    Results follow definition order, then tier order."""
    awards: list[BadgeAward] = []
    awarded = state.awarded_badges
    for definition in definitions:
        code = definition.code
        best: int | None = None
        for tier in definition.tiers:
            if (code, tier.name) in awarded:
                continue
            if best is None:
                best = _measure(definition.criterion, state)[1]
            if best < tier.threshold:
                break  # tiers rise: the rest are out of reach too
            proof = evidence
            if definition.criterion.kind is CriterionKind.CHALLENGES_COMPLETED:
                ids = sorted(state.completed_challenges)[: tier.threshold]
                proof = tuple(f"challenge:{cid}" for cid in ids)
            awards.append(BadgeAward(code, tier.name, proof))
    return awards
