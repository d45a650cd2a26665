"""Console pages: organisation-wide challenges (kick-off weeks, hot-skill seasons...).

Running, upcoming and past challenges with aggregate participation; create, edit (the start,
target and reward only before the start), delete before the start, end early. The forms
validate with the API's ``ChallengeCreate`` / ``ChallengeUpdate`` and call the same services.
Team challenges sponsored by managers are not managed here.
"""

from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from litestar import Request, get, post
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel import col

from backend.challenges import services
from backend.challenges.schemas import (
    ChallengeCreate,
    ChallengeParticipationOut,
    ChallengeUpdate,
)
from backend.console.shell import (
    ConsoleController,
    console_page,
    flash,
    form_errors,
    redirect,
    use_locale,
)
from backend.db.models import BadgeDefinition, Challenge, Competency
from backend.learning.rules import org_rules
from backend.tenancy import OrgScope
from gamification.periods import next_week_start
from pwa.i18n import N_, gettext, ngettext

EVENT_KINDS: tuple[tuple[str, str], ...] = (
    ("completion", N_("Completed courses")),
    ("informal", N_("Learning moments")),
    ("experience", N_("On-the-job experiences")),
    ("progress", N_("Progress in a course")),
    ("testimonial", N_("Testimonials")),
)

FIELDS = (
    "title",
    "description",
    "starts_on",
    "ends_on",
    "event_kind",
    "target_count",
    "competency_id",
    "hot_skill_only",
    "xp_reward",
    "badge_code",
)


def target_sentence(event_kind: str, count: int) -> str:
    """ "Complete 3 courses" for the list and the form's summary."""
    return _target_pattern(event_kind, count) % {"num": count}


def _target_pattern(event_kind: str, count: int) -> str:
    if event_kind == "completion":
        return ngettext("Complete %(num)d course", "Complete %(num)d courses", count)
    if event_kind == "informal":
        return ngettext("Log %(num)d learning moment", "Log %(num)d learning moments", count)
    if event_kind == "experience":
        return ngettext(
            "Record %(num)d on-the-job experience", "Record %(num)d on-the-job experiences", count
        )
    if event_kind == "progress":
        return ngettext(
            "Make progress in a course %(num)d time",
            "Make progress in a course %(num)d times",
            count,
        )
    return ngettext("Write %(num)d testimonial", "Write %(num)d testimonials", count)


def period_text(starts_on: date, ends_on: date, locale: str) -> str:
    """ "3 – 9 Mar 2026" style, in the page's language."""
    end = format_date(ends_on, "d MMM yyyy", locale=locale)
    if starts_on.year == ends_on.year:
        return f"{format_date(starts_on, 'd MMM', locale=locale)} – {end}"
    return f"{format_date(starts_on, 'd MMM yyyy', locale=locale)} – {end}"


def _period_of_values(values: dict[str, Any], locale: str) -> str:
    try:
        starts = date.fromisoformat(str(values.get("starts_on", "")))
        ends = date.fromisoformat(str(values.get("ends_on", "")))
    except ValueError:
        return ""
    return period_text(starts, ends, locale) if starts <= ends else ""


def preset_values(preset: str, today: date) -> dict[str, Any]:
    """A new challenge's form, filled in for a kick-off week or a hot-skill season."""
    monday = next_week_start(today)
    if preset == "kickoff":
        return {
            "title": gettext(N_("Kick-off week")),
            "description": gettext(
                N_("One week to get the habit going: log three things you learned.")
            ),
            "starts_on": monday.isoformat(),
            "ends_on": (monday + timedelta(days=6)).isoformat(),
            "event_kind": "informal",
            "target_count": "3",
        }
    if preset == "hot_skill":
        return {
            "title": gettext(N_("Hot-skill season")),
            "description": gettext(
                N_("Four weeks to build the skills we need most: finish two hot-skill courses.")
            ),
            "starts_on": monday.isoformat(),
            "ends_on": (monday + timedelta(days=27)).isoformat(),
            "event_kind": "completion",
            "target_count": "2",
            "hot_skill_only": "1",
        }
    return {
        "starts_on": monday.isoformat(),
        "ends_on": (monday + timedelta(days=13)).isoformat(),
        "event_kind": "completion",
        "target_count": "3",
    }


def _service_errors(exc: ValidationException | ClientException) -> dict[str, str]:
    """The service's (English) rule violations as translated messages per field."""
    problems = exc.extra if isinstance(exc, ValidationException) and exc.extra else []
    if not problems:
        return {"__all__": str(exc.detail)}
    errors: dict[str, str] = {}
    for problem in problems if isinstance(problems, list) else [problems]:
        key = str(problem.get("key", "")) if isinstance(problem, dict) else ""
        message = str(problem.get("message", "")) if isinstance(problem, dict) else ""
        if key == "starts_on" and "past" in message:
            errors[key] = gettext(N_("A challenge cannot start in the past."))
        elif key == "starts_on":
            errors[key] = gettext(N_("A challenge starts at most a year ahead."))
        elif key == "ends_on" and "after" in message:
            errors[key] = gettext(N_("The end must be after the start."))
        elif key == "ends_on" and "at most" in message:
            errors[key] = gettext(N_("A challenge lasts at most 90 days."))
        elif key == "ends_on":
            errors[key] = gettext(N_("The end cannot be in the past."))
        elif key in ("competency_id", "badge_code"):
            errors[key] = gettext(N_("Choose one of the options."))
        else:
            errors[key or "__all__"] = message or str(exc.detail)
    return errors


def _schema_errors(error: ValidationError) -> dict[str, str]:
    errors = form_errors(error)
    if "target" in errors:
        errors.setdefault("target_count", errors.pop("target"))
    return errors


def _document(values: dict[str, str]) -> dict[str, Any]:
    """The API document of the form (strings left for the schema to check)."""
    return {
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "starts_on": values.get("starts_on") or None,
        "ends_on": values.get("ends_on") or None,
        "target": {
            "event_kind": values.get("event_kind", ""),
            "target_count": values.get("target_count") or None,
        },
        "competency_id": values.get("competency_id") or None,
        "hot_skill_only": values.get("hot_skill_only") in ("1", "on", "true"),
        "xp_reward": values.get("xp_reward") or None,
        "badge_code": values.get("badge_code") or None,
    }


def _values_of(row: Challenge) -> dict[str, Any]:
    definition = row.definition or {}
    return {
        "title": row.title,
        "description": row.description,
        "starts_on": row.starts_on.isoformat(),
        "ends_on": row.ends_on.isoformat(),
        "event_kind": definition.get("event_kind", "completion"),
        "target_count": str(definition.get("target_count", 1)),
        "competency_id": definition.get("competency_id") or "",
        "hot_skill_only": "1" if definition.get("hot_skill_only") else "",
        "xp_reward": "" if definition.get("xp_reward") is None else str(definition["xp_reward"]),
        "badge_code": definition.get("badge_code") or "",
    }


class ConsoleChallengesController(ConsoleController):
    path = "/console/challenges"

    async def _form(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        row: Challenge | None,
        values: dict[str, Any],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        locale = use_locale(request)
        organisation = await org.organisation()
        today = services._org_today(organisation)
        competencies = await org.all(org.select(Competency).order_by(col(Competency.name)))
        badges = await org.all(
            org.select(BadgeDefinition)
            .where(col(BadgeDefinition.is_active).is_(True))
            .order_by(col(BadgeDefinition.name))
        )
        started = row is not None and row.starts_on <= today
        participation = (
            await services.organisation_challenge(org, row.id)
            if row is not None and row.id is not None
            else None
        )
        return console_page(
            request,
            "console/challenges/form.html",
            {
                "row": row,
                "values": values,
                "errors": errors,
                "started": started,
                "status": services.period_of(row, today) if row is not None else "upcoming",
                "participation": participation,
                "event_kinds": [(k, gettext(label)) for k, label in EVENT_KINDS],
                "competencies": [(c.id, c.name) for c in competencies],
                "badges": [(b.code, b.name) for b in badges],
                "default_reward": org_rules(organisation).xp.challenge_completed_xp,
                "today": today,
                "period": _period_of_values(values, locale),
                "reward": int(values["xp_reward"])
                if str(values.get("xp_reward", "")).isdigit()
                else org_rules(organisation).xp.challenge_completed_xp,
                "summary": target_sentence(
                    str(values.get("event_kind") or "completion"),
                    int(values["target_count"])
                    if str(values.get("target_count", "")).isdigit()
                    else 1,
                ),
            },
            section="challenges",
            title=row.title if row is not None else gettext(N_("New challenge")),
            status_code=status_code,
        )

    @get("/", name="console:challenges")
    async def list_challenges(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        everything = await services.organisation_challenges(org)
        groups: dict[str, list[ChallengeParticipationOut]] = {
            "running": [],
            "upcoming": [],
            "past": [],
        }
        for item in everything:
            groups[
                {"active": "running", "upcoming": "upcoming", "finished": "past"}[item.status]
            ].append(item)
        groups["past"].sort(key=lambda c: (c.ends_on, c.id), reverse=True)
        return console_page(
            request,
            "console/challenges/list.html",
            {
                "groups": groups,
                "total": len(everything),
                "targets": {
                    c.id: target_sentence(c.event_kind, c.target_count) for c in everything
                },
                "dates": {c.id: period_text(c.starts_on, c.ends_on, locale) for c in everything},
            },
            section="challenges",
            title=gettext(N_("Challenges")),
        )

    @get("/new", name="console:challenges:new")
    async def new_challenge(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        today = services._org_today(await org.organisation())
        preset = request.query_params.get("preset") or ""
        return await self._form(
            request, org, row=None, values=preset_values(preset, today), errors={}
        )

    @post("/new", name="console:challenges:create")
    async def create_challenge(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FIELDS}
        try:
            data = ChallengeCreate.model_validate(_document(values))
            created = await services.create_challenge(org, data)
        except ValidationError as exc:
            errors = _schema_errors(exc)
        except (ValidationException, ClientException) as exc:
            errors = _service_errors(exc)
        else:
            flash(request, gettext(N_("Challenge “%(title)s” created.")) % {"title": created.title})
            return redirect("/console/challenges")
        return await self._form(
            request, org, row=None, values=values, errors=errors, status_code=400
        )

    async def _own(self, org: OrgScope, challenge_id: int) -> Challenge:
        row = await org.get(Challenge, challenge_id, what="challenge")
        if row.kind != "individual":
            raise NotFoundException(f"challenge {challenge_id} is not an organisation challenge")
        return row

    @get("/{challenge_id:int}", name="console:challenges:edit")
    async def edit_challenge(
        self, request: Request[Any, Any, Any], org: OrgScope, challenge_id: int
    ) -> Template:
        use_locale(request)
        row = await self._own(org, challenge_id)
        return await self._form(request, org, row=row, values=_values_of(row), errors={})

    @post("/{challenge_id:int}", name="console:challenges:update")
    async def update_challenge(
        self, request: Request[Any, Any, Any], org: OrgScope, challenge_id: int
    ) -> Template | Redirect:
        use_locale(request)
        row = await self._own(org, challenge_id)
        today = services._org_today(await org.organisation())
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name in FIELDS}
        document = _document(values)
        document.pop("badge_code")  # set when the challenge is created
        if row.starts_on <= today:
            # started: only the words and the end may change (the rest is shown, not sent)
            document = {k: document[k] for k in ("title", "description", "ends_on")}
            values = {
                **_values_of(row),
                **{k: values[k] for k in ("title", "description", "ends_on")},
            }
        try:
            data = ChallengeUpdate.model_validate(document)
            await services.update_challenge(org, challenge_id, data)
        except ValidationError as exc:
            errors = _schema_errors(exc)
        except (ValidationException, ClientException) as exc:
            errors = _service_errors(exc)
        else:
            flash(request, gettext(N_("Challenge saved.")))
            return redirect("/console/challenges")
        await org.session.rollback()
        row = await self._own(org, challenge_id)
        return await self._form(
            request, org, row=row, values=values, errors=errors, status_code=400
        )

    @post("/{challenge_id:int}/delete", name="console:challenges:delete")
    async def delete_challenge(
        self, request: Request[Any, Any, Any], org: OrgScope, challenge_id: int
    ) -> Redirect:
        use_locale(request)
        row = await self._own(org, challenge_id)
        try:
            await services.delete_challenge(org, challenge_id)
        except ClientException:
            flash(
                request,
                gettext(
                    N_("A challenge that has started cannot be deleted; you can end it early.")
                ),
                "error",
            )
            return redirect(f"/console/challenges/{challenge_id}")
        flash(request, gettext(N_("Challenge “%(title)s” deleted.")) % {"title": row.title})
        return redirect("/console/challenges")

    @post("/{challenge_id:int}/end", name="console:challenges:end")
    async def end_challenge(
        self, request: Request[Any, Any, Any], org: OrgScope, challenge_id: int
    ) -> Redirect:
        use_locale(request)
        row = await self._own(org, challenge_id)
        try:
            await services.end_challenge(org, challenge_id)
        except ClientException:
            flash(request, gettext(N_("Only a running challenge can end early.")), "error")
            return redirect(f"/console/challenges/{challenge_id}")
        flash(request, gettext(N_("“%(title)s” ends today.")) % {"title": row.title})
        return redirect("/console/challenges")


CONTROLLERS = [ConsoleChallengesController]
