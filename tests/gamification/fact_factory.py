"""Builds learning facts for tests: a fact on a local day, at a local time, in Amsterdam."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from gamification.events import EventKind, LearningFact, local_day

TZ = "Europe/Amsterdam"
_keys = itertools.count(1)


def at_local(day: date, hour: int = 12, minute: int = 0, tz_name: str = TZ) -> datetime:
    """An aware instant at a local wall-clock time."""
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(tz_name))


def make_fact(
    day: date,
    kind: EventKind = EventKind.INFORMAL,
    *,
    key: str | None = None,
    hour: int = 12,
    minute: int = 0,
    minutes: int = 15,
    course_id: int | None = None,
    course_duration_minutes: int | None = None,
    competency_ids: frozenset[int] = frozenset(),
    hot_skill: bool = False,
    text_fingerprint: str | None = None,
) -> LearningFact:
    """A fact at ``hour:minute`` local time on ``day`` with its local date filled in."""
    occurred_at = at_local(day, hour, minute)
    return LearningFact(
        key=key or f"fact-{next(_keys)}",
        kind=kind,
        occurred_at=occurred_at,
        local_date=local_day(occurred_at, TZ),
        minutes=minutes,
        course_id=course_id,
        course_duration_minutes=course_duration_minutes,
        competency_ids=competency_ids,
        hot_skill=hot_skill,
        text_fingerprint=text_fingerprint,
    )
