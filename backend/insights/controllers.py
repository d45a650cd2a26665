"""The insights API: ``GET /api/v1/insights/<key>?team=&period=`` (or ``from``/``to``).

One route per insight, so the OpenAPI document lists every key. L&D admins ask about the
organisation (no ``team``) or any team, managers about the teams they manage; a group below
the privacy floor is a 403 without any figure (``privacy.group_for``).
"""

from datetime import date
from typing import Annotated

from litestar import Router, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from pydantic import BaseModel

from backend.auth.guards import requires_manager
from backend.db.replica import provide_read_scope, provide_read_session
from backend.insights import board
from backend.insights.periods import PeriodError, parse_period
from backend.insights.privacy import Group
from backend.insights.series import Cell, Series, Unit
from backend.tenancy import OrgScope


class ColumnOut(BaseModel):
    key: str
    label: str
    unit: Unit


class GroupOut(BaseModel):
    team_id: int | None
    label: str
    min_group_size: int


class SeriesOut(BaseModel):
    """One insight as a table: ``rows`` follow ``columns``; ``null`` is a cell below the
    privacy floor, ``suppressed_rows`` the breakdown rows left out for the same reason."""

    key: str
    title: str
    chart: str
    columns: list[ColumnOut]
    rows: list[list[Cell]]
    suppressed_rows: int
    note: str
    group: GroupOut
    start: date
    end: date


def series_out(series: Series, group: Group, start: date, end: date) -> SeriesOut:
    return SeriesOut(
        key=series.key,
        title=series.title,
        chart=series.chart,
        columns=[ColumnOut(key=c.key, label=c.label, unit=c.unit) for c in series.columns],
        rows=[list(row) for row in series.rows],
        suppressed_rows=series.suppressed_rows,
        note=series.note,
        group=GroupOut(team_id=group.team_id, label=group.label, min_group_size=group.floor),
        start=start,
        end=end,
    )


def _route(insight: board.Insight) -> HTTPRouteHandler:
    @get(
        f"/{insight.key}",
        name=f"api:insights:{insight.key}",
        operation_id=f"insight_{insight.key}",
        summary=f"{insight.title} (key {insight.key!r}; managers for their teams, L&D any group)",
        opt={"aggregate": True},
    )
    async def handler(
        org: OrgScope,
        team: Annotated[
            int | None, Parameter(description="a team's id; without it the organisation (L&D)")
        ] = None,
        period: Annotated[
            str | None, Parameter(description="4w, 12w (default), 26w or 52w")
        ] = None,
        start: Annotated[str | None, Parameter(query="from", description="YYYY-MM-DD")] = None,
        end: Annotated[str | None, Parameter(query="to", description="YYYY-MM-DD")] = None,
    ) -> SeriesOut:
        try:
            choice = parse_period(await board.today_of(org), period, start, end)
        except PeriodError as exc:
            raise ValidationException(str(exc)) from None
        group, (series,) = await board.load(org, [insight.key], team_id=team, period=choice.period)
        return series_out(series, group, choice.period.start, choice.period.end)

    return handler


insights_router = Router(
    path="/api/v1/insights",
    route_handlers=[_route(insight) for insight in board.INSIGHTS],
    tags=["insights"],
    guards=[requires_manager],
    # read from the replica when there is one (backend/db/replica.py)
    dependencies={
        "org": Provide(provide_read_scope, sync_to_thread=False),
        "read_session": Provide(provide_read_session),
    },
)
