"""The period an insights page or export is about, read from its URL.

``period=4w|12w|26w|52w`` (the last N weeks up to today, whole ISO weeks) or ``from`` and
``to`` (dates, inclusive; with ``period=custom`` or no period); the leadership summary takes ``month=YYYY-MM``. A value that can't
be read is a ``PeriodError``: the API answers 400 with its English text, a page shows it
translated beside the filter.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from backend.insights.series import Period
from gamification.periods import week_start
from pwa.i18n import N_, gettext

PRESETS: tuple[str, ...] = ("4w", "12w", "26w", "52w")
DEFAULT_PRESET = "12w"
LONGEST_DAYS = 2 * 366  # a custom period spans at most two years
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A period the URL asks for that can't be used; ``message`` is a message id."""

    def __init__(self, message: str, **values: object) -> None:
        self.message = message
        self.values = values
        super().__init__(message % values if values else message)

    def translated(self) -> str:
        text = gettext(self.message)
        return text % self.values if self.values else text


@dataclass(frozen=True)
class PeriodChoice:
    """What the filter shows: a preset (``12w``) or a custom range, and the period itself."""

    preset: str  # "" for a custom range
    period: Period

    def query(self) -> dict[str, str]:
        """The URL parameters that ask for this period again (for links and the CSV)."""
        if self.preset:
            return {"period": self.preset}
        return {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()}


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PeriodError(
            N_("“%(value)s” is not a date for %(name)s: use YYYY-MM-DD."),
            value=value[:20],
            name=name,
        ) from None


def parse_period(
    today: date, period: str | None = None, start: str | None = None, end: str | None = None
) -> PeriodChoice:
    """The period asked for (default: the last 12 weeks). A preset wins over dates sent with
    it (a form sends both); ``period=custom`` or no period at all uses ``from``/``to``."""
    start, end = (start or "").strip(), (end or "").strip()
    preset = (period or "").strip().lower()
    if preset == "custom" or (not preset and (start or end)):
        if not start:
            raise PeriodError(N_("Give the first day of the period (from) too."))
        first = _date(start, "from")
        last = min(_date(end, "to"), today) if end else today
        if first > today:
            raise PeriodError(N_("The period cannot start in the future."))
        if first > last:
            raise PeriodError(N_("The period must start before it ends."))
        if (last - first).days >= LONGEST_DAYS:
            raise PeriodError(N_("A period spans at most two years."))
        return PeriodChoice("", Period(first, last))
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise PeriodError(N_("Choose a period of 4w, 12w, 26w or 52w, or give from and to dates."))
    weeks = int(preset[:-1])
    return PeriodChoice(preset, Period(week_start(today) - timedelta(weeks=weeks - 1), today))


def parse_month(today: date, month: str | None) -> date:
    """The first day of ``month`` (``YYYY-MM``); default: the last month that has ended."""
    if not month:
        return (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    found = MONTH.match(month.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise PeriodError(N_("Give the month as YYYY-MM, for example 2026-03."))
    first = date(int(found.group(1)), int(found.group(2)), 1)
    if first > today:
        raise PeriodError(N_("That month has not started yet."))
    return first


def month_period(first: date, today: date) -> Period:
    """The days of the month starting on ``first`` (up to today for the running month)."""
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, min(following - timedelta(days=1), today))


def previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)
