"""Console: the competency framework (create, rename, merge, delete when unused) and
hot-skill seasons (competencies and courses that are hot between two dates)."""

from datetime import date
from typing import Any

from babel.dates import format_date
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException, NotFoundException
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.accounts import job_families
from backend.catalogue import services
from backend.catalogue.schemas import (
    CompetencyCreate,
    CompetencyMerge,
    CompetencyUpdate,
    CompetencyUsage,
    SeasonCreate,
    SeasonPublic,
    SeasonUpdate,
)
from backend.console.catalogue_common import (
    COMPETENCIES,
    SEASON_LABELS,
    SEASON_PILLS,
    SEASONS,
    catalogue_tabs,
    form_ids,
    form_text,
    read_form,
    translated,
)
from backend.console.shell import (
    ConsoleController,
    Listing,
    console_page,
    flash,
    form_errors,
    redirect,
    use_locale,
)
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext, ngettext


class CompetencyConsoleController(ConsoleController):
    path = COMPETENCIES

    async def _list_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        use_locale(request)
        listing = Listing.from_request(request, sorts=("name",), default_sort="name", per_page=500)
        usage = await services.competency_usage(org, listing.q)
        listing.total = len(usage)
        return console_page(
            request,
            "console/catalogue/competencies.html",
            {
                "listing": listing,
                "usage": usage,
                "values": values or {},
                "errors": errors or {},
                "tabs": catalogue_tabs("competencies"),
            },
            section="competencies",
            title=gettext(N_("Competencies")),
            status_code=status_code,
        )

    @get("/", name="console:competencies")
    async def competencies(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        return await self._list_page(request, org)

    @post("/", name="console:competency-create")
    async def create_competency(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await read_form(request)
        values = {"name": form_text(form, "name"), "description": form_text(form, "description")}
        try:
            data = CompetencyCreate.model_validate(values)
            created = await services.create_competency(org, data)
        except ValidationError as exc:
            return await self._list_page(
                request, org, values=values, errors=translated(form_errors(exc)), status_code=400
            )
        except ClientException as exc:
            return await self._list_page(
                request,
                org,
                values=values,
                errors={"name": gettext(N_("A competency with this name already exists."))},
                status_code=exc.status_code,
            )
        flash(request, gettext(N_("Competency “%(name)s” added.")) % {"name": created.name})
        return redirect(COMPETENCIES)

    async def _edit_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        competency_id: int,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        merge_errors: dict[str, str] | None = None,
        delete_error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        use_locale(request)
        usage = await services.usage_of(org, competency_id)
        others = [c for c in await services.list_competencies(org) if c.id != competency_id]
        return console_page(
            request,
            "console/catalogue/competency_form.html",
            {
                "c": usage,
                "values": values or {"name": usage.name, "description": usage.description},
                "errors": errors or {},
                "merge_errors": merge_errors or {},
                "delete_error": delete_error,
                "merge_options": [("", gettext(N_("Choose a competency")))]
                + [(str(c.id), c.name) for c in others],
                "uses": _usage_lines(usage)
                + _expected_by(await job_families.families_expecting(org, competency_id)),
            },
            section="competencies",
            title=usage.name,
            status_code=status_code,
        )

    @get("/{competency_id:int}", name="console:competency-edit")
    async def edit_competency(
        self, request: Request[Any, Any, Any], org: OrgScope, competency_id: int
    ) -> Template:
        return await self._edit_page(request, org, competency_id)

    @post("/{competency_id:int}", name="console:competency-update")
    async def update_competency(
        self, request: Request[Any, Any, Any], org: OrgScope, competency_id: int
    ) -> Template | Redirect:
        use_locale(request)
        await services.usage_of(org, competency_id)  # 404 before anything else
        form = await read_form(request)
        values = {"name": form_text(form, "name"), "description": form_text(form, "description")}
        try:
            data = CompetencyUpdate.model_validate(values)
            if data.name is None:
                raise ValidationError.from_exception_data(
                    "CompetencyUpdate", [{"type": "missing", "loc": ("name",), "input": values}]
                )
            saved = await services.update_competency(org, competency_id, data)
        except ValidationError as exc:
            return await self._edit_page(
                request,
                org,
                competency_id,
                values=values,
                errors=translated(form_errors(exc)),
                status_code=400,
            )
        except ClientException as exc:
            return await self._edit_page(
                request,
                org,
                competency_id,
                values=values,
                errors={"name": gettext(N_("A competency with this name already exists."))},
                status_code=exc.status_code,
            )
        flash(request, gettext(N_("Competency “%(name)s” saved.")) % {"name": saved.name})
        return redirect(COMPETENCIES)

    @post("/{competency_id:int}/merge", name="console:competency-merge")
    async def merge_competency(
        self, request: Request[Any, Any, Any], org: OrgScope, competency_id: int
    ) -> Template | Redirect:
        use_locale(request)
        source = await services.usage_of(org, competency_id)
        form = await read_form(request)
        try:
            data = CompetencyMerge.model_validate({"into_id": form_text(form, "into_id") or None})
            into = await services.merge_competencies(org, competency_id, data.into_id)
        except ValidationError:
            return await self._edit_page(
                request,
                org,
                competency_id,
                merge_errors={"into_id": gettext(N_("Choose the competency to merge into."))},
                status_code=400,
            )
        except (ClientException, NotFoundException):
            return await self._edit_page(
                request,
                org,
                competency_id,
                merge_errors={"into_id": gettext(N_("Choose another competency of this list."))},
                status_code=400,
            )
        flash(
            request,
            gettext(N_("“%(source)s” is merged into “%(into)s”."))
            % {"source": source.name, "into": into.name},
        )
        return redirect(f"{COMPETENCIES}/{into.id}")

    @post("/{competency_id:int}/delete", name="console:competency-delete")
    async def delete_competency(
        self, request: Request[Any, Any, Any], org: OrgScope, competency_id: int
    ) -> Template | Redirect:
        use_locale(request)
        usage = await services.usage_of(org, competency_id)
        try:
            await services.delete_competency(org, competency_id)
        except services.CompetencyInUse as exc:
            return await self._edit_page(
                request,
                org,
                competency_id,
                delete_error=gettext(
                    N_("“%(name)s” is still in use (%(uses)s). Merge it into another instead.")
                )
                % {"name": usage.name, "uses": ", ".join(_usage_lines(exc.usage))},
                status_code=409,
            )
        flash(request, gettext(N_("Competency “%(name)s” deleted.")) % {"name": usage.name})
        return redirect(COMPETENCIES)


def _usage_lines(usage: CompetencyUsage) -> list[str]:
    counts = (
        (usage.courses, ngettext("%(num)d course", "%(num)d courses", usage.courses)),
        (
            usage.learning_events,
            ngettext(
                "%(num)d learning activity", "%(num)d learning activities", usage.learning_events
            ),
        ),
        (usage.badges, ngettext("%(num)d badge", "%(num)d badges", usage.badges)),
        (usage.challenges, ngettext("%(num)d challenge", "%(num)d challenges", usage.challenges)),
        (
            usage.seasons,
            ngettext("%(num)d hot-skill season", "%(num)d hot-skill seasons", usage.seasons),
        ),
        (usage.goals, ngettext("%(num)d learner's goal", "%(num)d learners' goals", usage.goals)),
    )
    return [text % {"num": n} for n, text in counts if n]


def _expected_by(families: list[str]) -> list[str]:
    """The job families that expect the competency, counted like its other uses."""
    if not families:
        return []
    text = ngettext(
        "%(num)d job family that expects it", "%(num)d job families that expect it", len(families)
    )
    return [text % {"num": len(families)}]


# --- hot-skill seasons ----------------------------------------------------------------------


def _season_values(season: SeasonPublic | None) -> dict[str, Any]:
    if season is None:
        return {"name": "", "starts_on": "", "ends_on": ""}
    return {
        "name": season.name,
        "starts_on": season.starts_on.isoformat(),
        "ends_on": season.ends_on.isoformat(),
    }


class SeasonConsoleController(ConsoleController):
    path = SEASONS

    @get("/", name="console:hot-skills")
    async def seasons(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        seasons = await services.list_seasons(org)
        hot_courses = await services.list_courses(org, hot_skill=True, limit=200)
        return console_page(
            request,
            "console/catalogue/seasons.html",
            {
                "seasons": [
                    {
                        "s": s,
                        "dates": _date_range(s.starts_on, s.ends_on, locale),
                        "status": gettext(SEASON_LABELS[s.status]),
                        "pill": SEASON_PILLS[s.status],
                    }
                    for s in seasons
                ],
                "always_hot": [c for c in hot_courses if c.hot_skill],
                "hot_today": len(hot_courses),
                "tabs": catalogue_tabs("seasons"),
            },
            section="competencies",
            title=gettext(N_("Hot skills")),
        )

    async def _form_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        season: SeasonPublic | None,
        values: dict[str, Any],
        competency_ids: list[int],
        course_ids: list[int],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        use_locale(request)
        return console_page(
            request,
            "console/catalogue/season_form.html",
            {
                "season": season,
                "values": values,
                "errors": errors or {},
                "chosen_competencies": set(competency_ids),
                "chosen_courses": set(course_ids),
                "competencies": await services.list_competencies(org),
                "courses": await services.course_refs(org),
                "tabs": catalogue_tabs("seasons"),
            },
            section="competencies",
            title=season.name if season else gettext(N_("New hot-skill season")),
            status_code=status_code,
        )

    @get("/new", name="console:hot-skill-new")
    async def new_season(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        return await self._form_page(
            request, org, season=None, values=_season_values(None), competency_ids=[], course_ids=[]
        )

    def _body(self, form: FormMultiDict) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": form_text(form, "name"),
            "competency_ids": form_ids(form, "competency_ids"),
            "course_ids": form_ids(form, "course_ids"),
        }
        for name in ("starts_on", "ends_on"):
            if form_text(form, name).strip():
                body[name] = form_text(form, name).strip()
        return body

    @post("/new", name="console:hot-skill-create")
    async def create_season(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        saved = await self._save(request, org, season=None)
        if isinstance(saved, Template):
            return saved
        flash(request, gettext(N_("Hot-skill season “%(name)s” added.")) % {"name": saved.name})
        return redirect(SEASONS)

    @get("/{season_id:int}", name="console:hot-skill-edit")
    async def edit_season(
        self, request: Request[Any, Any, Any], org: OrgScope, season_id: int
    ) -> Template:
        season = await services.get_season(org, season_id)
        return await self._form_page(
            request,
            org,
            season=season,
            values=_season_values(season),
            competency_ids=[c.id for c in season.competencies],
            course_ids=[c.id for c in season.courses],
        )

    @post("/{season_id:int}", name="console:hot-skill-update")
    async def update_season(
        self, request: Request[Any, Any, Any], org: OrgScope, season_id: int
    ) -> Template | Redirect:
        use_locale(request)
        season = await services.get_season(org, season_id)
        saved = await self._save(request, org, season=season)
        if isinstance(saved, Template):
            return saved
        flash(request, gettext(N_("Hot-skill season “%(name)s” saved.")) % {"name": saved.name})
        return redirect(SEASONS)

    async def _save(
        self, request: Request[Any, Any, Any], org: OrgScope, season: SeasonPublic | None
    ) -> Template | SeasonPublic:
        """Create (``season`` None) or update a season from the posted form: the saved season,
        or the form again with its errors (400)."""
        form = await read_form(request)
        body = self._body(form)
        try:
            complete = SeasonCreate.model_validate(body)
            if season is None:
                return await services.create_season(org, complete)
            changes = SeasonUpdate.model_validate(complete.model_dump())
            return await services.update_season(org, season.id, changes)
        except ValidationError as exc:
            errors = translated(form_errors(exc))
        except (ClientException, NotFoundException):
            errors = {"__all__": gettext(N_("Some of the chosen items no longer exist."))}
        return await self._form_page(
            request,
            org,
            season=season,
            values={k: form_text(form, k) for k in ("name", "starts_on", "ends_on")},
            competency_ids=body["competency_ids"],
            course_ids=body["course_ids"],
            errors=errors,
            status_code=400,
        )

    @post("/{season_id:int}/end", name="console:hot-skill-end")
    async def end_season(
        self, request: Request[Any, Any, Any], org: OrgScope, season_id: int
    ) -> Redirect:
        use_locale(request)
        try:
            season = await services.end_season(org, season_id)
        except NotFoundException:
            raise
        except ClientException:
            flash(
                request,
                gettext(N_("Only a season that started before today can be ended; delete it.")),
                kind="error",
            )
            return redirect(SEASONS)
        flash(
            request,
            gettext(N_("“%(name)s” has ended: learning from today on earns no hot-skill bonus."))
            % {"name": season.name},
        )
        return redirect(SEASONS)

    @post("/{season_id:int}/delete", name="console:hot-skill-delete")
    async def delete_season(
        self, request: Request[Any, Any, Any], org: OrgScope, season_id: int
    ) -> Redirect:
        use_locale(request)
        season = await services.get_season(org, season_id)
        await services.delete_season(org, season_id)
        flash(request, gettext(N_("Hot-skill season “%(name)s” deleted.")) % {"name": season.name})
        return redirect(SEASONS)


def _date_range(first: date, last: date, locale: str) -> str:
    start = format_date(first, format="medium", locale=locale)
    return f"{start} – {format_date(last, format='medium', locale=locale)}"


CONTROLLERS = [CompetencyConsoleController, SeasonConsoleController]
