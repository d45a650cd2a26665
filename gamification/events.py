"""The normalised learning event the engine sees: :class:`LearningFact`.

The backend turns xAPI statements, webhooks, PWA logs and imports into facts. The caller
fixes the learner's local day with :func:`local_day` at ingestion, so a fact that arrives
late still counts for the day it happened.

Goals reached and challenges completed are not facts: the engine derives them from facts
and pays their XP itself (see ``gamification.xp.XpReason``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from gamification.jsondoc import (
    JsonDict,
    read_aware_datetime,
    read_bool,
    read_date,
    read_int,
    read_list,
    read_optional_int,
    read_optional_str,
    read_str,
)
from gamification.periods import local_day, require_aware

__all__ = ["EventKind", "LearningFact", "fingerprint_text", "local_day"]


class EventKind(StrEnum):
    """What kind of learning happened (same values as ``learning_event.kind``)."""

    COMPLETION = "completion"
    PROGRESS = "progress"
    EXPERIENCE = "experience"
    INFORMAL = "informal"
    TESTIMONIAL = "testimonial"


@dataclass(frozen=True)
class LearningFact:
    """One piece of learning, as the engine needs it.

    ``key`` is the idempotency key; ``local_date`` is the learner's local calendar day of
    ``occurred_at`` (see :func:`local_day`); ``text_fingerprint`` identifies the text of an
    informal log so identical logs within the cooldown earn XP once
    (see :func:`fingerprint_text`).
    """

    key: str
    kind: EventKind
    occurred_at: datetime
    local_date: date
    minutes: int = 0
    course_id: int | None = None
    course_duration_minutes: int | None = None
    competency_ids: frozenset[int] = field(default_factory=frozenset)
    hot_skill: bool = False
    text_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a fact needs a non-empty idempotency key")
        require_aware(self.occurred_at, "occurred_at")
        if self.minutes < 0:
            raise ValueError(f"minutes must be >= 0, got {self.minutes}")
        if self.course_duration_minutes is not None and self.course_duration_minutes < 0:
            raise ValueError("course_duration_minutes must be >= 0")

    @property
    def counts_as_activity(self) -> bool:
        """Whether this fact makes its local day an active (streak) day.

        Testimonials are reflection about learning, not learning; a progress ping with no
        minutes is an LMS "launched" and proves nothing.
        """
        if self.kind is EventKind.TESTIMONIAL:
            return False
        return self.kind is not EventKind.PROGRESS or self.minutes > 0

    @property
    def chronological_key(self) -> tuple[datetime, str]:
        """Total order used wherever "first" matters (evidence, history)."""
        return (self.occurred_at, self.key)

    def to_dict(self) -> JsonDict:
        """JSON-compatible form (dates and datetimes as ISO strings)."""
        return {
            "key": self.key,
            "kind": self.kind.value,
            "occurred_at": self.occurred_at.isoformat(),
            "local_date": self.local_date.isoformat(),
            "minutes": self.minutes,
            "course_id": self.course_id,
            "course_duration_minutes": self.course_duration_minutes,
            "competency_ids": sorted(self.competency_ids),
            "hot_skill": self.hot_skill,
            "text_fingerprint": self.text_fingerprint,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearningFact:
        """Inverse of :meth:`to_dict`."""
        competencies = read_list(data, "competency_ids")
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in competencies):
            raise ValueError(f"competency_ids must be integers, got {competencies!r}")
        return cls(
            key=read_str(data, "key", ""),
            kind=EventKind(read_str(data, "kind", "")),
            occurred_at=read_aware_datetime(data, "occurred_at"),
            local_date=read_date(data, "local_date"),
            minutes=read_int(data, "minutes", 0),
            course_id=read_optional_int(data, "course_id"),
            course_duration_minutes=read_optional_int(data, "course_duration_minutes"),
            competency_ids=frozenset(competencies),
            hot_skill=read_bool(data, "hot_skill", False),
            text_fingerprint=read_optional_str(data, "text_fingerprint"),
        )


def fingerprint_text(text: str) -> str:
    """A short stable fingerprint of an informal log's text.

    Case and whitespace are normalised so "Read  the docs" and "read the docs" match.
    """
    normalised = " ".join(text.casefold().split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]
