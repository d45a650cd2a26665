"""The learner's "Progress" page: level, XP per week, badge wall, goals and active days.

Everything is drawn on the server (inline SVG with attributes and CSS classes only), so the
page works without JavaScript and within the Content-Security-Policy (no inline styles).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel import Locale
from babel.numbers import format_decimal
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.response import Redirect, Template
from markupsafe import Markup, escape
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.badges.services import badge_wall
from backend.db.types import utcnow
from backend.deps import app_context
from backend.progress.services import goals_view, read_xp_chart
from backend.tenancy import OrgScope
from backend.web.pages import choose_locale, day_text, render, signed_in
from gamification import local_day, refresh
from gamification.periods import week_start
from pwa.i18n import gettext, ngettext, set_locale

XP_WEEKS = 12
HEATMAP_WEEKS = 13

# the XP bar chart (SVG user units; the chart scales to the card's width)
BAR_SLOT = 28
BAR_WIDTH = 18
BAR_AREA = 96  # height of the tallest bar
CHART_TOP = 18  # room for the value above the tallest bar
CHART_HEIGHT = CHART_TOP + BAR_AREA + 22  # + the week labels

# the activity heatmap
CELL = 14
CELL_GAP = 3
HEAT_LEFT = 26  # room for the day names
HEAT_TOP = 16  # room for the month names


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    xp: int
    xp_text: str
    label: str  # short, under the bar (only every third week)
    long_label: str  # for the table and the tooltip
    current: bool


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    day: date
    minutes: int
    step: int  # 0 (nothing) to 4
    title: str
    today: bool


@dataclass(frozen=True)
class AxisLabel:
    x: int
    y: int
    text: str


def intensity(minutes: int) -> int:
    """Four steps of activity: 1-14, 15-29, 30-59 and 60+ minutes (0: no learning)."""
    if minutes <= 0:
        return 0
    if minutes < 15:
        return 1
    if minutes < 30:
        return 2
    if minutes < 60:
        return 3
    return 4


def _xp_bars(weeks: list[tuple[date, int]], locale: str, this_monday: date) -> list[Bar]:
    babel_locale = Locale.parse(locale)  # once: Babel parses a locale name on every call
    top = max((xp for _, xp in weeks), default=0)
    bars: list[Bar] = []
    for index, (monday, xp) in enumerate(weeks):
        height = round(BAR_AREA * xp / top) if top else 0
        if xp and height < 3:
            height = 3  # a week with XP is never invisible
        week_number = monday.isocalendar()[1]
        bars.append(
            Bar(
                x=index * BAR_SLOT + (BAR_SLOT - BAR_WIDTH) // 2,
                y=CHART_TOP + BAR_AREA - height,
                height=height,
                xp=xp,
                xp_text=format_decimal(xp, locale=babel_locale),
                label=day_text(monday, "d MMM", locale)
                if (len(weeks) - 1 - index) % 3 == 0
                else "",
                long_label=gettext("Week %(n)s, from %(date)s")
                % {"n": week_number, "date": day_text(monday, "d MMMM", locale)},
                current=monday == this_monday,
            )
        )
    return bars


def _cells_svg(cells: list[HeatCell]) -> Markup:
    """The heatmap's cells as SVG, written here rather than by the template: Jinja escaped
    each of ~90 cells' seven values one by one, a sixth of rendering the page."""
    return Markup(
        "".join(
            f'<rect class="heat heat-{c.step}{" heat-today" if c.today else ""}" '
            f'data-date="{c.day.isoformat()}" x="{c.x}" y="{c.y}" width="{CELL}" '
            f'height="{CELL}" rx="3"><title>{escape(c.title)}</title></rect>'
            for c in cells
        )
    )


def _heatmap(
    minutes_by_day: dict[date, int], today: date, locale: str
) -> tuple[list[HeatCell], list[AxisLabel], list[AxisLabel], int, int]:
    """Cells (one column per week, Monday on top), month and day labels, active days, minutes."""
    babel_locale = Locale.parse(locale)  # once: a page formats ~100 dates
    # format_date(day, "EEEE d MMMM") per cell, by its parts: Babel applies a pattern per call
    weekday_names = babel_locale.days["format"]["wide"]
    month_names = babel_locale.months["format"]["wide"]
    first_monday = week_start(today) - timedelta(weeks=HEATMAP_WEEKS - 1)
    cells: list[HeatCell] = []
    months: list[AxisLabel] = []
    minute_texts: dict[int, str] = {}  # most days read "0 minutes": translated once a page
    active = total = 0
    for week in range(HEATMAP_WEEKS):
        monday = first_monday + timedelta(weeks=week)
        x = HEAT_LEFT + week * (CELL + CELL_GAP)
        new_month = week == 0 or monday.month != (monday - timedelta(weeks=1)).month
        if new_month and week < HEATMAP_WEEKS - 1:  # no room for a label on the last column
            months.append(AxisLabel(x, HEAT_TOP - 5, day_text(monday, "MMM", locale)))
        for weekday in range(7):
            day = monday + timedelta(days=weekday)
            if day > today:
                continue
            minutes = minutes_by_day.get(day, 0)
            if minutes > 0:
                active += 1
                total += minutes
            when = f"{weekday_names[weekday]} {day.day} {month_names[day.month]}"
            spent = minute_texts.get(minutes)
            if spent is None:
                spent = minute_texts[minutes] = ngettext(
                    "%(num)d minute", "%(num)d minutes", minutes
                ) % {"num": minutes}
            cells.append(
                HeatCell(
                    x=x,
                    y=HEAT_TOP + weekday * (CELL + CELL_GAP),
                    day=day,
                    minutes=minutes,
                    step=intensity(minutes),
                    title=f"{when}: {spent}",
                    today=day == today,
                )
            )
    # Monday, Wednesday and Friday, named the way the locale abbreviates them
    days = [
        AxisLabel(
            0,
            HEAT_TOP + weekday * (CELL + CELL_GAP) + CELL - 3,
            day_text(first_monday + timedelta(days=weekday), "EEE", locale).rstrip("."),
        )
        for weekday in (0, 2, 4)
    ]
    # months are shown only where a label fits: drop one that would run into the next
    spaced: list[AxisLabel] = []
    for label in months:
        if spaced and label.x - spaced[-1].x < 2 * (CELL + CELL_GAP):
            spaced[-1] = label  # the month that really starts there wins
            continue
        spaced.append(label)
    return cells, spaced, days, active, total


class ProgressPageController(Controller):
    include_in_schema = False

    @get("/progress", name="progress")
    async def progress(
        self, request: Request[Any, Any, Any], state: State, db_session: AsyncSession
    ) -> Template | Redirect:
        principal = signed_in(request)
        if principal is None or principal.user_id is None:
            return Redirect("/", status_code=303)
        locale = choose_locale(request, principal)
        set_locale(locale)
        babel_locale = Locale.parse(locale)
        scope = OrgScope(db_session, principal)
        now = utcnow()
        # the XP chart's statement reads the learner's state, timezone and start, and the
        # organisation's rules (kept per process): the goals and the badge wall use them
        read = await read_xp_chart(scope, XP_WEEKS, now)
        chart, rules, timezone = read.chart, read.rules, read.timezone
        today = local_day(now, timezone)
        goals = await goals_view(scope, principal.user_id, timezone, read.since, read.state, now)
        wall = await badge_wall(
            scope,
            principal,
            app_context(state).settings.base_url,
            now,
            locale=locale,
            learner=(rules, read.state, timezone),
        )
        engine_state = refresh(read.state, rules, now, timezone)

        bars = _xp_bars([(w.starts_on, w.xp) for w in chart.weeks], locale, week_start(today))
        xp_in_period = sum(w.xp for w in chart.weeks)
        cells, months, day_labels, active_days, active_minutes = _heatmap(
            engine_state.minutes_by_day(), today, locale
        )
        earned = [b for b in wall if b.earned]
        to_earn = [b for b in wall if b.next_tier is not None]
        level = chart.level
        return render(
            request,
            "progress.html",
            {
                "level": level,
                "level_percent": round(level.fraction * 100),
                "xp_total": format_decimal(level.xp_total, locale=babel_locale),
                "xp_to_next": format_decimal(level.xp_to_next_level, locale=babel_locale),
                "bars": bars,
                "xp_in_period": format_decimal(xp_in_period, locale=babel_locale),
                "chart_width": XP_WEEKS * BAR_SLOT,
                "chart_height": CHART_HEIGHT,
                "chart_base": CHART_TOP + BAR_AREA,
                "bar_width": BAR_WIDTH,
                "earned": earned,
                "to_earn": to_earn,
                "has_badges": bool(wall),
                "weekly": goals.weekly,
                "dated": [
                    {
                        "goal": goal,
                        "due": day_text(goal.due_on, "medium", locale),
                        "percent": round(goal.fraction * 100),
                    }
                    for goal in goals.dated
                ],
                "heat_cells": _cells_svg(cells),
                "months": months,
                "day_labels": day_labels,
                "heat_width": HEAT_LEFT + HEATMAP_WEEKS * (CELL + CELL_GAP) - CELL_GAP,
                "heat_height": HEAT_TOP + 7 * (CELL + CELL_GAP) - CELL_GAP,
                "heat_weeks": HEATMAP_WEEKS,
                "active_days": active_days,
                "active_minutes": active_minutes,
                "num": lambda value: format_decimal(value, locale=babel_locale),
            },
            locale=locale,
        )
