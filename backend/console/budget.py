"""Console page: learning budgets for managers (their teams) and L&D (everyone).

One page, usable on a phone: the requests waiting for my decision (approve, or decline with
a note, inline), the ones decided lately, what my teams have left; L&D also sees the
organisation's headline (used, and the year-end forecast at the pace so far), every team's
use against its budget, the budget settings and a person's own budget. Every figure about a
group comes through the privacy floor (``group_for``); the forms call the same services as
the JSON API (``backend.budgets.services``).
"""

from datetime import timedelta
from typing import Any

from babel.dates import format_date
from litestar import Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel import col, func

from backend.budgets import services
from backend.budgets.schemas import BudgetFiguresOut, BudgetRequestOut, BudgetSettingsIn
from backend.console.shell import (
    ConsoleController,
    ManagerConsoleController,
    console_page,
    flash,
    floor_page,
    form_errors,
    principal_of,
    redirect,
    use_locale,
)
from backend.db.models import User
from backend.insights.privacy import GroupTooSmall, group_for
from backend.organisations.schemas import OrganisationUpdate
from backend.organisations.services import update_organisation
from backend.organisations.settings import organisation_settings
from backend.teams.services import teams_i_lead
from backend.tenancy import OrgScope
from backend.web.catalogue_pages import euros
from gamification import local_day
from pwa.i18n import N_, gettext

PAGE_TITLE = N_("Budget")
STAGES = {
    "waiting_for_manager": N_("Waiting for the manager"),
    "waiting_for_ld": N_("Waiting for L&D"),
    "approved": N_("Approved"),
    "completed": N_("Completed"),
    "declined": N_("Declined"),
}
MONTHS = (
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
)
SETTINGS_FIELDS = ("yearly_budget", "budget_year_start_month", "ld_threshold")
RECENT = 12
PEOPLE_FOUND = 10


def _team_param(request: Request[Any, Any, Any]) -> int | None:
    raw = request.query_params.get("team") or ""
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _request_view(r: BudgetRequestOut, locale: str, tz: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "learner": r.learner_name,
        "course": r.course_title,
        "course_id": r.course_id,
        "cost": euros(r.cost_cents, locale),
        "stage": r.stage,
        "stage_label": gettext(STAGES[r.stage]),
        "requested": format_date(local_day(r.requested_at, tz), "d MMM yyyy", locale=locale),
        "decided": format_date(local_day(r.decided_at, tz), "d MMM yyyy", locale=locale)
        if r.decided_at
        else "",
        "manager": r.manager_name,
        "decided_by": r.decided_by_name,
        "note": r.decision_note,
        "can_decide": r.can_decide,
        "left": euros(r.learner_left_cents, locale) if r.learner_left_cents is not None else "",
        "fits": r.learner_left_cents is None or r.cost_cents <= r.learner_left_cents,
    }


def _figures_view(f: BudgetFiguresOut, locale: str) -> dict[str, Any]:
    return {
        "label": f.label,
        "learners": f.learners,
        "yearly": euros(f.yearly_cents, locale),
        "committed": euros(f.committed_cents, locale),
        "spent": euros(f.spent_cents, locale),
        "pending": euros(f.pending_cents, locale),
        "left": euros(f.left_cents, locale),
        "used_percent": f.used_percent,
        "forecast_percent": f.forecast_percent,
        "year_end": format_date(f.year_end - timedelta(days=1), "d MMM yyyy", locale=locale),
        "year_start": format_date(f.year_start, "d MMM yyyy", locale=locale),
    }


def _euros_field(raw: Any) -> int | None:
    """Whole euros typed in a form (``1500``, ``1.500``, ``€ 1500``) as cents."""
    text = str(raw or "").replace("€", "").replace(".", "").replace(" ", "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 7:
        raise ValueError(text)
    return int(text) * 100


async def budget_page(
    request: Request[Any, Any, Any],
    org: OrgScope,
    *,
    decision_errors: dict[int, str] | None = None,
    decision_notes: dict[int, str] | None = None,
    settings_values: dict[str, Any] | None = None,
    settings_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    locale = use_locale(request)
    title = gettext(PAGE_TITLE)
    principal = principal_of(request)
    team_id = _team_param(request)
    tz = principal.timezone
    try:
        if team_id is not None:
            teams = [t for t in await teams_i_lead(org) if t[0] == team_id]
            if not teams:
                raise NotFoundException(f"team {team_id} not found")
            group = await group_for(org, team_id=team_id)
            team_rows = [
                {
                    "id": team_id,
                    "name": teams[0][1],
                    "hidden": False,
                    "figures": _figures_view(await services.figures(org, group), locale),
                }
            ]
        else:
            team_rows = [
                {
                    "id": row.team_id,
                    "name": row.name,
                    "hidden": row.hidden,
                    "figures": _figures_view(row.figures, locale) if row.figures else None,
                }
                for row in await services.teams_remaining(org)
            ]
    except GroupTooSmall as error:
        return floor_page(request, error, section="budget", title=title)
    waiting = await services.requests_to_decide(org, "waiting", team_id)
    history = [
        r
        for r in await services.requests_to_decide(org, "all", team_id, limit=RECENT * 3)
        if not r.can_decide and r.status != "pending"
    ][:RECENT]
    context: dict[str, Any] = {
        "waiting": [_request_view(r, locale, tz) for r in waiting],
        "history": [_request_view(r, locale, tz) for r in history],
        "teams": team_rows,
        "team_id": team_id,
        "team_choices": await teams_i_lead(org),
        "decision_errors": decision_errors or {},
        "decision_notes": decision_notes or {},
        "is_ld": principal.is_ld_admin,
    }
    if principal.is_ld_admin:
        organisation = await org.organisation()
        settings = organisation_settings(organisation)
        try:
            headline = _figures_view(await services.team_figures(org, None), locale)
        except GroupTooSmall as error:
            headline = None
            context["headline_floor"] = error.floor
        threshold = settings.budget_ld_approval_above_cents or 0
        context |= {
            "headline": headline,
            "settings_values": settings_values
            or {
                "yearly_budget": settings.yearly_budget_cents // 100,
                "budget_year_start_month": settings.budget_year_start_month,
                "ld_threshold": threshold // 100 if threshold else "",
            },
            "settings_errors": settings_errors or {},
            "months": [(i + 1, gettext(m)) for i, m in enumerate(MONTHS)],
            "default_budget": euros(settings.yearly_budget_cents, locale),
            "person_q": (request.query_params.get("person") or "").strip()[:100],
        }
        context["people"] = await _people(org, context["person_q"], locale, settings)
    return console_page(
        request,
        "console/budget/page.html",
        context,
        section="budget",
        title=title,
        status_code=status_code,
    )


async def _people(org: OrgScope, q: str, locale: str, settings: Any) -> list[dict[str, Any]]:
    if not q:
        return []
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = await org.all(
        org.select(User)
        .where(
            col(User.is_active).is_(True),
            func.lower(col(User.display_name)).like(pattern.lower())
            | func.lower(col(User.email)).like(pattern.lower()),
        )
        .order_by(col(User.display_name))
        .limit(PEOPLE_FOUND)
    )
    return [
        {
            "id": u.id,
            "name": u.display_name,
            "email": u.email,
            "own": "" if u.yearly_budget_cents is None else u.yearly_budget_cents // 100,
            "effective": euros(services.yearly_cents_of(u, settings), locale),
        }
        for u in found
    ]


class BudgetConsoleController(ManagerConsoleController):
    path = "/console/budget"

    @get("/", name="console:budget", opt={"aggregate": True})
    async def page(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        return await budget_page(request, org)

    @post("/requests/{request_id:int}", name="console:budget-decide")
    async def decide(
        self, request: Request[Any, Any, Any], org: OrgScope, request_id: int
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        approve = form.get("decision") == "approve"
        note = str(form.get("note") or "")[:500]
        back = redirect("/console/budget", team=_team_param(request) or "")
        if not approve and not note.strip():
            return await budget_page(
                request,
                org,
                decision_errors={
                    request_id: gettext(N_("Say why you decline: the learner reads it."))
                },
                decision_notes={request_id: note},
                status_code=400,
            )
        try:
            result = await services.decide(org, request_id, approve=approve, note=note)
        except services.OverBudget as error:
            flash(
                request,
                gettext(N_("Not approved: %(left)s is left of this person's budget this year."))
                % {"left": euros(error.left_cents, use_locale(request))},
                "error",
            )
            return back
        except NotFoundException:
            flash(request, gettext(N_("That request is not yours to decide.")), "error")
            return back
        except ClientException:
            flash(request, gettext(N_("That request was decided already.")), "error")
            return back
        messages = {
            "approved": N_("Approved: %(learner)s can start %(course)s."),
            "waiting_for_ld": N_("Approved: %(course)s now waits for L&D."),
            "declined": N_("Declined: %(learner)s gets your note."),
        }
        flash(
            request,
            gettext(messages[result.stage])
            % {"learner": result.learner_name, "course": result.course_title},
        )
        return back


class BudgetSettingsConsoleController(ConsoleController):
    """L&D's part of the budget page: the settings and a person's own budget."""

    path = "/console/budget"

    @post("/settings", name="console:budget-settings")
    async def save_settings(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        values = {name: str(form.get(name) or "").strip() for name in SETTINGS_FIELDS}
        errors: dict[str, str] = {}
        document: dict[str, Any] = {}
        checked: BudgetSettingsIn | None = None
        for name, key in (
            ("yearly_budget", "yearly_budget_cents"),
            ("ld_threshold", "budget_ld_approval_above_cents"),
        ):
            try:
                document[key] = _euros_field(values[name])
            except ValueError:
                errors[name] = gettext(N_("Enter a whole number."))
        if document.get("yearly_budget_cents") is None and "yearly_budget" not in errors:
            errors["yearly_budget"] = gettext(N_("This field is required."))
        document["budget_ld_approval_above_cents"] = (
            document.get("budget_ld_approval_above_cents") or 0
        )
        month = values["budget_year_start_month"]
        document["budget_year_start_month"] = int(month) if month.isdigit() else month
        if not errors:
            try:
                checked = BudgetSettingsIn.model_validate(document)
            except ValidationError as error:
                found = form_errors(error)
                errors = {
                    "yearly_budget": found.get("yearly_budget_cents", ""),
                    "budget_year_start_month": found.get("budget_year_start_month", ""),
                    "ld_threshold": found.get("budget_ld_approval_above_cents", ""),
                }
                errors = {k: v for k, v in errors.items() if v}
        if errors or checked is None:
            return await budget_page(
                request, org, settings_values=values, settings_errors=errors, status_code=400
            )
        await update_organisation(
            org, OrganisationUpdate(settings=checked.model_dump(exclude_none=True))
        )
        flash(request, gettext(N_("Budget settings saved.")))
        return redirect("/console/budget")

    @post("/people/{user_id:int}", name="console:budget-person")
    async def save_person(
        self, request: Request[Any, Any, Any], org: OrgScope, user_id: int
    ) -> Redirect:
        locale = use_locale(request)
        form = await request.form()
        q = str(form.get("person") or "")[:100]
        try:
            cents = _euros_field(form.get("yearly_budget"))
        except ValueError:
            flash(request, gettext(N_("Enter a whole number.")), "error")
            return redirect("/console/budget", person=q)
        try:
            saved = await services.set_yearly_budget(org, user_id, cents)
        except NotFoundException:
            flash(request, gettext(N_("That person is not in your organisation.")), "error")
            return redirect("/console/budget", person=q)
        flash(
            request,
            gettext(N_("%(name)s's yearly budget is now %(amount)s."))
            % {"name": saved.display_name, "amount": euros(saved.effective_yearly_cents, locale)},
        )
        return redirect("/console/budget", person=q)


CONTROLLERS = [BudgetConsoleController, BudgetSettingsConsoleController]
