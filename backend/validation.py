"""Field types shared by the request schemas of several features."""

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _timezones():
        raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Europe/Amsterdam")
    return value


TimezoneName = Annotated[str, AfterValidator(_check_timezone)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Page = Annotated[int, Field(ge=1, le=10_000)]
PageSize = Annotated[int, Field(ge=1, le=200)]

MAX_ROW_ID = 2**31 - 1  # ids are PostgreSQL INTEGERs: beyond this no row exists
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]

# When learning may have happened, for everything an integration sends (xAPI statements, the
# events API, the LMS webhook): a stated bound, so that no date reaches the game's local-day
# arithmetic near the calendar's ends (year 1 or 9999 overflow there). Later than now is
# allowed within it (xAPI: an LRS should not refuse a statement for a sender's clock).
EARLIEST_LEARNING = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_LEARNING = datetime(2100, 1, 1, tzinfo=UTC)


def learning_time_problem(value: datetime) -> str | None:
    """Why the aware ``value`` cannot be when learning happened, or None."""
    if not EARLIEST_LEARNING <= value < LATEST_LEARNING:
        return (
            f"must lie between {EARLIEST_LEARNING:%Y-%m-%d} and {LATEST_LEARNING:%Y-%m-%d} "
            f"(UTC), got {value.isoformat()}"
        )
    return None


def _check_learning_time(value: datetime) -> datetime:
    problem = learning_time_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


LearningTime = Annotated[AwareDatetime, AfterValidator(_check_learning_time)]


# Days a query names (a report's from and to): far enough from the calendar's ends that a
# local midnight and the day after can always be computed.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def day_problem(value: date | None) -> str | None:
    """Why ``value`` cannot be a day to query, or None."""
    if value is not None and not EARLIEST_DAY <= value <= LATEST_DAY:
        return f"must be a day from {EARLIEST_DAY} to {LATEST_DAY}, got {value}"
    return None
