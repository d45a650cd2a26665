"""Console pages: insights (charts with their tables and CSVs), the leadership summary and the
privacy floor setting.

L&D admins see the organisation or any team, managers the teams they manage. Every page and
CSV about a group goes through ``privacy.group_for`` (``board.load``): a group below the floor
gets the floor page (403), never a figure. Filters live in the URL (``team``, ``period`` or
``from``/``to``, ``month``) so a view can be bookmarked and shared.
"""

from dataclasses import replace
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter
from litestar.response import Redirect, Template

from backend.console.challenges import period_text
from backend.console.nudges import KINDS, kind_name
from backend.console.shell import (
    ConsoleController,
    ManagerConsoleController,
    console_page,
    flash,
    floor_page,
    principal_of,
    redirect,
    use_locale,
)
from backend.db.replica import provide_read_scope, provide_read_session
from backend.insights import board, leadership
from backend.insights.charts import Chart, chart_of
from backend.insights.export import csv_filename, csv_text
from backend.insights.periods import PRESETS, PeriodChoice, PeriodError, parse_month, parse_period
from backend.insights.privacy import LOWEST_FLOOR, GroupTooSmall, floor_of
from backend.insights.series import Series
from backend.organisations.schemas import OrganisationUpdate
from backend.organisations.services import update_organisation
from backend.settings import get_settings
from backend.teams.services import teams_i_lead
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

PRESET_LABELS = {
    "4w": N_("Last 4 weeks"),
    "12w": N_("Last 12 weeks"),
    "26w": N_("Last 26 weeks"),
    "52w": N_("Last 52 weeks"),
}
HIGHEST_FLOOR = 100

From = Annotated[str | None, Parameter(query="from", description="first day, YYYY-MM-DD")]
To = Annotated[str | None, Parameter(query="to", description="last day, YYYY-MM-DD")]
# text, not int: the filter form sends team= (empty) for the whole organisation
Team = Annotated[
    str | None, Parameter(description="a team's id; empty or left out: the whole organisation")
]
PeriodParam = Annotated[str | None, Parameter(description="4w, 12w (default), 26w or 52w")]


def _query(team: int | None, choice: PeriodChoice | None) -> str:
    parts = {} if team is None else {"team": str(team)}
    if choice is not None:
        parts.update(choice.query())
    return "&".join(f"{k}={v}" for k, v in parts.items())


async def _team_choice(
    org: OrgScope, asked: str | None
) -> tuple[list[tuple[int, str]], int | None]:
    """The teams the caller may choose, and the team to show: a manager who names none sees
    the first team they manage (the organisation as a whole is L&D's)."""
    asked = (asked or "").strip()
    if asked and not (asked.isdigit() and len(asked) < 10):
        raise ValidationException(f"team must be a team's id, not {asked[:20]!r}")
    team = int(asked) if asked else None
    teams = await teams_i_lead(org)
    if team is None and not org.principal.is_ld_admin and teams:
        team = teams[0][0]
    return teams, team


class InsightsController(ManagerConsoleController):
    path = "/console/insights"
    # the pages and the leadership summary read the replica when there is one (backend/db/replica)
    dependencies = {
        "org": Provide(provide_read_scope, sync_to_thread=False),
        "read_session": Provide(provide_read_session),
    }

    def _filters(
        self,
        org: OrgScope,
        teams: list[tuple[int, str]],
        team: int | None,
        choice: PeriodChoice | None,
        values: dict[str, str],
        error: str,
    ) -> dict[str, Any]:
        options: list[tuple[str, str]] = []
        if org.principal.is_ld_admin:
            options.append(("", gettext(N_("Whole organisation"))))
        options += [(str(team_id), name) for team_id, name in teams]
        presets = [(p, gettext(PRESET_LABELS[p])) for p in PRESETS]
        presets.append(("custom", gettext(N_("Choose dates…"))))
        chosen = values.get("period") or ""
        if choice is not None:
            chosen = choice.preset or "custom"
        elif values.get("from") or values.get("to"):
            chosen = "custom"
        return {
            "team_options": options,
            "team_value": "" if team is None else str(team),
            "presets": presets,
            "preset_value": chosen or "12w",
            "from_value": values.get("from") or (choice.period.start.isoformat() if choice else ""),
            "to_value": values.get("to") or (choice.period.end.isoformat() if choice else ""),
            "error": error,
        }

    @staticmethod
    def _chart(insight: board.Insight, series: Series, floor: int, locale: str) -> Chart:
        if insight.key == "nudge_effectiveness":  # a kind by the name the nudge pages use
            rows = [
                (kind_name(str(row[0])) if row[0] in KINDS else row[0], *row[1:])
                for row in series.rows
            ]
            series = replace(series, rows=rows)
        if insight.translated:
            columns = [i for i, c in enumerate(series.columns) if c.key in insight.translated]
            series = replace(
                series,
                rows=[
                    tuple(
                        gettext(v) if i in columns and isinstance(v, str) and v else v
                        for i, v in enumerate(row)
                    )
                    for row in series.rows
                ],
            )
        return chart_of(
            series,
            floor=floor,
            locale=locale,
            key=insight.key,
            broad=insight.wide,
            draw=insight.draw or None,
            kind=insight.kind,
            empty_text=gettext(insight.empty) if insight.empty else "",
        )

    @get("/", name="console:insights", opt={"aggregate": True})
    async def insights(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        team: Team = None,
        period: PeriodParam = None,
        start: From = None,
        end: To = None,
    ) -> Template:
        locale = use_locale(request)
        teams, team_id = await _team_choice(org, team)
        title = gettext(N_("Insights"))
        values = {"period": period or "", "from": start or "", "to": end or ""}
        if team_id is None and not org.principal.is_ld_admin:
            return console_page(
                request,
                "console/insights/page.html",
                {"no_team": True, **self._filters(org, teams, None, None, values, "")},
                section="insights",
                title=title,
            )
        try:
            choice = parse_period(await board.today_of(org), period, start, end)
        except PeriodError as exc:
            return console_page(
                request,
                "console/insights/page.html",
                {
                    "charts": [],
                    **self._filters(org, teams, team_id, None, values, exc.translated()),
                },
                section="insights",
                title=title,
                status_code=400,
            )
        keys = [insight.key for insight in board.INSIGHTS]
        try:
            group, series = await board.load(org, keys, team_id=team_id, period=choice.period)
        except GroupTooSmall as exc:
            return floor_page(request, exc, section="insights", title=title)
        query = _query(team_id, choice)
        charts = [
            (self._chart(board.BY_KEY[key], s, group.floor, locale),
             f"/console/insights/{key}.csv?{query}", board.BY_KEY[key].wide)
            for key, s in zip(keys, series, strict=True)
        ]  # fmt: skip
        return console_page(
            request,
            "console/insights/page.html",
            {
                "charts": charts,
                "group": group,
                "period_text": period_text(choice.period.start, choice.period.end, locale),
                "summary_href": "/console/insights/summary"
                + ("" if team_id is None else f"?team={team_id}"),
                "may_set_floor": principal_of(request).is_ld_admin,
                **self._filters(org, teams, team_id, choice, values, ""),
            },
            section="insights",
            title=title,
        )

    @get([f"/{insight.key}.csv" for insight in board.INSIGHTS], opt={"aggregate": True})
    async def insight_csv(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        team: Team = None,
        period: PeriodParam = None,
        start: From = None,
        end: To = None,
    ) -> Response[bytes] | Template:
        key = request.url.path.rsplit("/", 1)[-1].removesuffix(".csv")
        if key not in board.BY_KEY:  # pragma: no cover - the routes are the keys
            raise NotFoundException(f"no insight {key!r}")
        try:
            choice = parse_period(await board.today_of(org), period, start, end)
        except PeriodError as exc:
            raise ValidationException(str(exc)) from None
        _, team_id = await _team_choice(org, team)  # as the page: a manager's first team
        try:
            group, (series,) = await board.load(org, [key], team_id=team_id, period=choice.period)
        except GroupTooSmall as exc:  # the notice instead of a file (someone left the team)
            use_locale(request)
            return floor_page(request, exc, section="insights", title=gettext(N_("Insights")))
        name = csv_filename(key, group.label, choice.period.start, choice.period.end)
        return Response(
            csv_text(series).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get("/summary", name="console:insights:summary", opt={"aggregate": True})
    async def summary(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        team: Team = None,
        month: Annotated[str | None, Parameter(description="YYYY-MM")] = None,
    ) -> Template:
        locale = use_locale(request)
        teams, team_id = await _team_choice(org, team)
        title = gettext(N_("Leadership summary"))
        today = await board.today_of(org)
        options: list[tuple[str, str]] = []
        if org.principal.is_ld_admin:
            options.append(("", gettext(N_("Whole organisation"))))
        options += [(str(team_id), name) for team_id, name in teams]
        context: dict[str, Any] = {
            "team_options": options,
            "team_value": "" if team_id is None else str(team_id),
            "month_value": month or "",
            "month_max": today.strftime("%Y-%m"),
            "insights_href": "/console/insights" + ("" if team_id is None else f"?team={team_id}"),
        }
        if team_id is None and not org.principal.is_ld_admin:
            return console_page(
                request, "console/insights/summary.html", {**context, "no_team": True},
                section="insights", title=title,
            )  # fmt: skip
        try:
            first = parse_month(today, month)
        except PeriodError as exc:
            return console_page(
                request,
                "console/insights/summary.html",
                {**context, "error": exc.translated()},
                section="insights",
                title=title,
                status_code=400,
            )
        try:
            report = await leadership.summary(org, team_id=team_id, month=first, today=today)
        except GroupTooSmall as exc:
            return floor_page(request, exc, section="insights", title=title)
        context["month_value"] = first.strftime("%Y-%m")
        return console_page(
            request,
            "console/insights/summary.html",
            {**context, "report": leadership.present(report, locale)},
            section="insights",
            title=title,
        )


class InsightsPrivacyController(ConsoleController):
    """L&D raises the privacy floor (never below 3): no figure about fewer people than that."""

    path = "/console/insights/privacy"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        value: str,
        error: str = "",
        status_code: int = 200,
    ) -> Template:
        organisation = await org.organisation()
        return console_page(
            request,
            "console/insights/privacy.html",
            {
                "floor": floor_of(organisation),
                "default_floor": max(get_settings().min_group_size, LOWEST_FLOOR),
                "value": value,
                "error": error,
                "lowest": LOWEST_FLOOR,
                "highest": HIGHEST_FLOOR,
            },
            section="insights",
            title=gettext(N_("Privacy of insights")),
            status_code=status_code,
        )

    @get("/", name="console:insights:privacy")
    async def privacy(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        organisation = await org.organisation()
        return await self._page(request, org, str(floor_of(organisation)))

    @post("/", name="console:insights:privacy:save")
    async def save_privacy(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        value = str(form.get("min_group_size", "")).strip()
        if not value.isdigit() or not LOWEST_FLOOR <= int(value) <= HIGHEST_FLOOR:
            error = gettext(N_("Enter a whole number from %(low)d to %(high)d.")) % {
                "low": LOWEST_FLOOR,
                "high": HIGHEST_FLOOR,
            }
            return await self._page(request, org, value[:6], error, status_code=400)
        await update_organisation(org, OrganisationUpdate(settings={"min_group_size": int(value)}))
        flash(
            request,
            gettext(
                N_("From now on, figures are shown only for groups of at least %(num)d people.")
            )
            % {"num": int(value)},
        )
        return redirect("/console/insights/privacy")


CONTROLLERS = [InsightsPrivacyController, InsightsController]
