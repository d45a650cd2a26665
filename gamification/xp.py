"""XP for a learning fact, as append-only ledger entries.

Every amount the engine pays is an :class:`XpAward`; the learner's total is the sum of the
awards ever emitted and is never edited. Bonuses (hot skill, season) are separate entries so
the ledger explains itself.

Order independence: each rule below gives the same daily totals whatever order facts arrive
in. The informal daily cap clips a running sum (clipping is order-free); the cooldown for an
identical informal text pays once per fixed ``informal_cooldown_minutes`` slot of the clock
(slots are aligned to the Unix epoch, so "the same slot" does not depend on which log came
first), and informal XP is flat so any log in a slot pays the same. One exception: a course
completed twice pays once, on the day of (and, across a season boundary, at the rate of)
whichever completion arrived first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Final

from gamification.events import EventKind, LearningFact
from gamification.jsondoc import JsonDict, read_date, read_int, read_str
from gamification.rules import XpRules


class XpReason(StrEnum):
    """Why XP was paid (the ledger's ``reason``; all values fit its 40 characters)."""

    COMPLETION = "completion"
    PROGRESS = "progress"
    EXPERIENCE = "experience"
    INFORMAL = "informal"
    TESTIMONIAL = "testimonial"
    HOT_SKILL_BONUS = "hot_skill_bonus"
    SEASON_BONUS = "season_bonus"
    GOAL_REACHED = "goal_reached"
    CHALLENGE_COMPLETED = "challenge_completed"


@dataclass(frozen=True)
class XpAward:
    """One XP ledger entry: ``amount`` for ``reason``, caused by fact ``event_key``.

    ``ref`` names what a goal or challenge award was for (e.g. ``weekly:2024-W13``).
    """

    amount: int
    reason: XpReason
    local_date: date
    event_key: str
    ref: str = ""

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {
            "amount": self.amount,
            "reason": self.reason.value,
            "local_date": self.local_date.isoformat(),
            "event_key": self.event_key,
            "ref": self.ref,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> XpAward:
        """Inverse of :meth:`to_dict`."""
        return cls(
            amount=read_int(data, "amount", 0),
            reason=XpReason(read_str(data, "reason", "")),
            local_date=read_date(data, "local_date"),
            event_key=read_str(data, "event_key", ""),
            ref=read_str(data, "ref", ""),
        )


@dataclass(frozen=True)
class XpContext:
    """What the learner has already been paid that caps or blocks the next award.

    ``informal_xp_today`` is informal XP already paid on the fact's local day;
    ``paid_informal_slots`` holds :func:`informal_cooldown_slot` values already paid;
    ``completed_course_ids`` are courses whose completion XP was paid.
    """

    informal_xp_today: int = 0
    paid_informal_slots: frozenset[str] = field(default_factory=frozenset)
    completed_course_ids: frozenset[int] = field(default_factory=frozenset)


def round_xp(amount: float) -> int:
    """Round half up (Python's round() is banker's rounding, surprising for points)."""
    return math.floor(amount + 0.5)


def informal_cooldown_slot(fact: LearningFact, rules: XpRules) -> str | None:
    """The cooldown slot an informal log with a text fingerprint pays in, else None."""
    if fact.kind is not EventKind.INFORMAL or fact.text_fingerprint is None:
        return None
    slot = int(fact.occurred_at.timestamp()) // (rules.informal_cooldown_minutes * 60)
    return f"{fact.local_date.isoformat()}|{fact.text_fingerprint}|{slot}"


def _base_xp(fact: LearningFact, rules: XpRules) -> int:
    if fact.kind is EventKind.COMPLETION:
        minutes = fact.course_duration_minutes or fact.minutes
        scaled = rules.completion_xp_per_minute * min(minutes, rules.completion_minutes_cap)
        return rules.completion_base + round_xp(scaled)
    if fact.kind is EventKind.PROGRESS:
        minutes = min(fact.minutes, rules.progress_minutes_cap)
        return round_xp(rules.progress_xp_per_minute * minutes)
    if fact.kind is EventKind.EXPERIENCE:
        return rules.experience_xp
    if fact.kind is EventKind.INFORMAL:
        return rules.informal_xp
    return rules.testimonial_xp


_KIND_REASONS: Final = {kind: XpReason(kind.value) for kind in EventKind}
_HOT_SKILL_KINDS: Final = frozenset(
    {EventKind.COMPLETION, EventKind.PROGRESS, EventKind.EXPERIENCE}
)


def xp_for_fact(fact: LearningFact, rules: XpRules, context: XpContext) -> list[XpAward]:
    """The ledger entries a fact earns, after multipliers, caps and cooldowns.

    Returns the base entry (reason = the fact's kind), then a hot-skill bonus
    (completion/progress/experience flagged ``hot_skill``), then a season bonus. Informal
    XP is clipped to what is left of ``informal_daily_cap`` for that local day. Entries of
    0 XP are left out, so the result may be empty.
    """
    if fact.kind is EventKind.COMPLETION and fact.course_id in context.completed_course_ids:
        return []
    slot = informal_cooldown_slot(fact, rules)
    if slot is not None and slot in context.paid_informal_slots:
        return []
    base = _base_xp(fact, rules)
    hot = 0
    if fact.hot_skill and fact.kind in _HOT_SKILL_KINDS:
        hot = round_xp(base * (rules.hot_skill_multiplier - 1))
    season = round_xp((base + hot) * (rules.season_multiplier(fact.local_date) - 1))
    if fact.kind is EventKind.INFORMAL:
        room = max(0, rules.informal_daily_cap - context.informal_xp_today)
        base = min(base, room)
        room -= base
        hot = min(hot, room)
        room -= hot
        season = min(season, room)
    return [
        XpAward(amount, reason, fact.local_date, fact.key)
        for reason, amount in (
            (_KIND_REASONS[fact.kind], base),
            (XpReason.HOT_SKILL_BONUS, hot),
            (XpReason.SEASON_BONUS, season),
        )
        if amount > 0
    ]
