"""The leadership summary: five numbers for a month, each with its trend.

The figures are ``queries.leadership_summary`` (a month and the month before); the six months
up to the chosen one give the sparklines. ``present`` writes them for the printable page:
value, the change from the previous month (arrow, points or count), and what it means.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from babel.dates import format_date
from babel.numbers import format_decimal
from markupsafe import Markup

from backend.insights import queries
from backend.insights.charts import format_cell, sparkline
from backend.insights.periods import month_period, previous_month
from backend.insights.privacy import Group, group_for
from backend.insights.series import Cell, Column, Series
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

MONTHS = 6  # the sparklines' months, the chosen one last


@dataclass(frozen=True)
class Measure:
    key: str  # the column of ``queries.leadership_summary``
    label: str  # message ids
    meaning: str


MEASURES: tuple[Measure, ...] = (
    Measure(
        "active_share",
        N_("Learners active in the month"),
        N_("Share of the group with learning that counts for a streak."),
    ),
    Measure(
        "minutes_per_active",
        N_("Minutes learned per active learner"),
        N_("Formal and informal learning, per person who learned."),
    ),
    Measure(
        "completions",
        N_("Courses completed"),
        N_("Courses finished, in the LMS or the catalogue."),
    ),
    Measure(
        "informal_share",
        N_("Learning on the job"),
        N_("Share of all learning that people logged as learning moments."),
    ),
    Measure(
        "budget_used",
        N_("Learning budget spent or committed"),
        N_("Share of the year's learning budget committed or spent by the month's end."),
    ),
)


@dataclass(frozen=True)
class Report:
    group: Group
    month: date
    months: list[date]  # oldest first, the chosen month last
    columns: dict[str, Column]
    values: dict[str, list[Cell]]  # per measure, one value per month of ``months``
    today: date


async def summary(scope: OrgScope, *, team_id: int | None, month: date, today: date) -> Report:
    """The five figures of ``month`` and the months before it, for the caller's group (the
    floor checked first: ``GroupTooSmall``)."""
    group = await group_for(scope, team_id=team_id)
    months = [month]
    while len(months) < MONTHS:
        months.insert(0, previous_month(months[0]))
    found: dict[date, tuple[Cell, ...]] = {}
    columns: dict[str, Column] = {}
    # each call answers a month and the one before it: three calls for six months
    for end in months[::-2]:
        series: Series = await queries.leadership_summary(scope, group, month_period(end, today))
        columns = {c.key: c for c in series.columns}
        for row in series.rows:
            if isinstance(row[0], date):
                found.setdefault(row[0], row)
    keys = [c.key for c in columns.values()]
    values = {
        m.key: [
            found[when][keys.index(m.key)] if when in found and m.key in keys else None
            for when in months
        ]
        for m in MEASURES
    }
    return Report(group, month, months, columns, values, today)


@dataclass(frozen=True)
class Figure:
    label: str
    context: str
    value: str  # "" when there is no figure (below the floor, or not available)
    delta: str
    arrow: str
    tone: str  # up, down or flat
    trend_text: str
    spark: Markup


@dataclass(frozen=True)
class Page:
    heading: str
    group_text: str
    figures: list[Figure]
    gap_label: str
    foot: str
    empty: bool


def _number(value: Cell) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _delta(change: float, column: Column, locale: str) -> str:
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    size = abs(change)
    if column.unit == "percent":
        points = format_decimal(round(size * 100, 1), "#,##0.#", locale=locale)
        return gettext(N_("%(sign)s%(num)s points")) % {"sign": sign, "num": points}
    return sign + format_cell(size, column, locale)


def _figure(report: Report, measure: Measure, index: int, locale: str) -> Figure:
    column = report.columns.get(measure.key, Column(measure.key, measure.label, "count"))
    series = report.values[measure.key]
    now, before = _number(series[-1]), _number(series[-2])
    value = format_cell(series[-1], column, locale) if now is not None else ""
    previous_name = format_date(report.months[-2], "LLLL", locale=locale)
    delta, arrow, tone = "", "", "flat"
    if now is not None and before is not None:
        change = now - before
        delta = _delta(change, column, locale)
        if abs(change) < 1e-9:
            arrow, trend = "→", gettext(N_("The same as in %(month)s."))
        elif change > 0:
            arrow, tone, trend = "↑", "up", gettext(N_("Up from %(month)s."))
        else:
            arrow, tone, trend = "↓", "down", gettext(N_("Down from %(month)s."))
        trend = trend % {"month": previous_name}
        trend += " " + format_cell(series[-2], column, locale)
    else:
        trend = gettext(N_("No figure for %(month)s to compare with.")) % {"month": previous_name}
    context = gettext(measure.meaning)
    if before is not None:
        context += " " + gettext(N_("%(month)s: %(value)s.")) % {
            "month": previous_name.capitalize(),
            "value": format_cell(series[-2], column, locale),
        }
    spark = sparkline(
        [_number(v) for v in series],
        label=gettext(N_("%(what)s over the last six months")) % {"what": gettext(measure.label)},
        ident=f"spark-{index}",
    )
    return Figure(
        label=gettext(measure.label),
        context=context,
        value=value,
        delta=delta,
        arrow=arrow,
        tone=tone,
        trend_text=trend,
        spark=spark,
    )


def present(report: Report, locale: str) -> Page:
    """The page's texts and figures in the current language."""
    figures = [_figure(report, m, i, locale) for i, m in enumerate(MEASURES)]
    month_name = format_date(report.month, "LLLL yyyy", locale=locale)
    last_day = month_period(report.month, report.today).end
    running = last_day < (report.month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    heading = month_name.capitalize()
    if running:
        heading = gettext(N_("%(month)s so far")) % {"month": heading}
    group = report.group
    people = format_decimal(group.size, locale=locale)
    group_text = gettext(N_("%(group)s · %(num)s people")) % {"group": group.label, "num": people}
    foot = gettext(
        N_(
            "Figures about fewer than %(num)d people are never shown. "
            "Made with learnloop on %(date)s."
        )
    ) % {"num": group.floor, "date": format_date(report.today, "long", locale=locale)}
    empty = all(not _number(report.values[m.key][-1]) for m in MEASURES)
    return Page(
        heading=heading,
        group_text=group_text,
        figures=figures,
        gap_label=gettext(N_("no figure")),
        foot=foot,
        empty=empty,
    )
