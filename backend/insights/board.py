"""The insights the console shows, in the order of the page, and the one way to load them.

Each insight is a query of ``backend.insights.queries`` (``(scope, group, period) -> Series``)
under a stable key: the key names its chart on the page, its CSV
(``/console/insights/<key>.csv``) and its API route (``/api/v1/insights/<key>``). Every
figure is about a ``Group`` made by ``privacy.group_for``, which checks the caller may see the
group and that it is at least the privacy floor; nothing here counts people another way.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from backend.budgets import services as budgets
from backend.budgets.schemas import BudgetFiguresOut
from backend.insights import queries
from backend.insights.privacy import Group, group_for
from backend.insights.recommendations import recommendation_starts
from backend.insights.series import Cell, ChartKind, Column, Period, Series
from backend.teams.services import teams_i_lead
from backend.tenancy import OrgScope
from gamification import local_day
from pwa.i18n import N_

Query = Callable[[OrgScope, Group, Period], Awaitable[Series]]


MAX_BUDGET_TEAMS = 30  # more teams than bars a chart can show: the budget page lists them


async def budget_utilisation(scope: OrgScope, group: Group, period: Period) -> Series:
    """The learning budget of this budget year (``period`` is not used: a budget is a
    year's): the group's own row, and for the organisation each team (a team below the floor
    without figures) while there are at most ``MAX_BUDGET_TEAMS``. The figures are
    ``budgets.services``'s, as the budget pages show them."""
    rows: list[tuple[Cell, ...]] = [
        (group.label, *_budget_cells(await budgets.figures(scope, group)))
    ]
    hidden = 0
    note = N_(
        "Committed and spent together; the forecast is where the year ends at the pace so far."
    )
    if group.team_id is None:
        if len(await teams_i_lead(scope)) <= MAX_BUDGET_TEAMS:
            for team in await budgets.teams_remaining(scope):
                shown = team.figures is not None and not team.hidden
                hidden += not shown
                cells = _budget_cells(team.figures) if team.figures and shown else (None,) * 5
                rows.append((team.name, *cells))
        else:
            note = N_("The budget page shows each team's budget.")
    return Series(
        key="budget",
        title=N_("Budget per team"),
        columns=(
            Column("group", N_("Team"), "text"),
            Column("used", N_("Used"), "percent"),
            Column("forecast", N_("Forecast"), "percent"),
            Column("yearly_cents", N_("Budget"), "euros"),
            Column("committed_cents", N_("Committed"), "euros"),
            Column("spent_cents", N_("Spent"), "euros"),
        ),
        rows=rows,
        chart="bars",
        suppressed_rows=hidden,
        note=note,
    )


def _budget_cells(figures: BudgetFiguresOut) -> tuple[Cell, ...]:
    return (
        round(figures.used_percent / 100, 4),
        round(figures.forecast_percent / 100, 4),
        figures.yearly_cents,
        figures.committed_cents,
        figures.spent_cents,
    )


@dataclass(frozen=True)
class Insight:
    key: str  # in the URLs (the series' own key, unless that URL is taken)
    title: str  # the API's summary (English, like the API's other texts)
    query: Query
    wide: bool = False  # the chart spans the page's two columns
    draw: tuple[str, ...] = ()  # the columns the chart draws (default: the first figure's unit)
    kind: ChartKind | None = None  # a chart kind other than the series' own
    empty: str = ""  # a message id for a period without figures (default: no learning yet)
    translated: tuple[str, ...] = ()  # text columns whose cells are message ids


INSIGHTS: tuple[Insight, ...] = (
    Insight("weekly_active", "Active learners per week", queries.weekly_active_learners),
    Insight("streaks", "Current streaks", queries.streak_distribution),
    Insight("minutes_over_time", "Minutes of learning per week", queries.minutes_over_time),
    Insight(
        "completions_over_time",
        "Completions and learning moments per week",
        queries.completions_over_time,
    ),
    Insight(
        "competencies",
        "Learning by competency",
        queries.learning_by_competency,
        wide=True,
        draw=("minutes_formal", "minutes_informal"),
        kind="stacked_bars",
    ),
    Insight(
        "horizontal_vertical",
        "Learning outside and inside one's own job family",
        queries.horizontal_vertical,
        translated=("kind",),
    ),
    Insight(
        "budget",
        "Learning budget used per team this budget year",
        budget_utilisation,
        draw=("used", "forecast"),
    ),
    Insight(
        "challenges",
        "Challenge participation",
        queries.challenge_participation,
        wide=True,
        draw=("participants", "completed"),
        empty=N_("No challenge ran in this period."),
    ),
    Insight(
        "nudge_effectiveness",  # /api/v1/insights/nudges is the nudge API's own table
        "Nudge effectiveness",
        queries.nudge_effectiveness,
        wide=True,
        draw=("sent", "opened", "learned"),
        kind="bars",
        empty=N_("No nudges were sent in this period."),
    ),
    Insight(
        "recommendations",
        "Recommended courses started, per reason",
        recommendation_starts,
        draw=("recommended", "started"),
        empty=N_("No course was recommended in this period yet."),
        translated=("reason",),
    ),
)
BY_KEY = {insight.key: insight for insight in INSIGHTS}


async def today_of(scope: OrgScope) -> date:
    """The organisation's local day (periods end today)."""
    organisation = await scope.organisation()
    return local_day(datetime.now(UTC), organisation.default_timezone)


async def load(
    scope: OrgScope, keys: list[str], *, team_id: int | None, period: Period
) -> tuple[Group, list[Series]]:
    """The group asked about (floor checked first: ``GroupTooSmall``) and its series."""
    group = await group_for(scope, team_id=team_id)
    return group, [await BY_KEY[key].query(scope, group, period) for key in keys]
