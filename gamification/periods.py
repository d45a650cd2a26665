"""Calendar periods as a learner lives them: local days, ISO weeks, date ranges.

A learner's day is their local calendar day in their own timezone (an event at 23:30 on
a DST-change Sunday in Amsterdam belongs to that Sunday). Weeks are ISO weeks, Monday first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gamification.jsondoc import JsonDict, read_date

ONE_DAY = timedelta(days=1)


def require_aware(moment: datetime, name: str) -> None:
    """Raise ValueError unless ``moment`` is timezone-aware."""
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


def local_day(moment: datetime, tz_name: str) -> date:
    """The learner's local calendar day for an aware instant in timezone ``tz_name``."""
    require_aware(moment, "moment")
    return moment.astimezone(ZoneInfo(tz_name)).date()


def local_day_start(day: date, tz_name: str) -> datetime:
    """The instant (in UTC) a local day begins, its first valid local time even across DST.

    UTC on purpose: Python subtracts two datetimes sharing one tzinfo by wall clock, which
    would make a 23-hour DST day look 24 hours long.
    """
    zone = ZoneInfo(tz_name)
    # via UTC, a midnight that falls in a DST gap moves to a real instant
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def week_start(day: date) -> date:
    """The Monday of the ISO week containing ``day``."""
    return day - timedelta(days=day.weekday())


def next_week_start(day: date) -> date:
    """The first Monday after ``day`` (a Monday gives the one a week later)."""
    return week_start(day) + timedelta(days=7)


def iso_week_label(day: date) -> str:
    """A stable label for the ISO week of ``day``, e.g. ``2024-W13``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def days_between(first: date, last: date) -> Iterator[date]:
    """Every day from ``first`` to ``last``, both included."""
    day = first
    while day <= last:
        yield day
        day += ONE_DAY


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of local days, e.g. a planned pause from the learner."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"range ends ({self.end}) before it starts ({self.start})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    def to_dict(self) -> JsonDict:
        """JSON-compatible form."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DateRange:
        """Inverse of :meth:`to_dict`."""
        return cls(start=read_date(data, "start"), end=read_date(data, "end"))
