"""Console: the catalogue. Courses (list, create, edit, archive, restore), competencies
(create, rename, merge, delete when unused) and hot-skill seasons.

Every form is validated with the JSON API's schema (``backend.catalogue.schemas``) and
handed to the same service function as the API, so each change writes its audit entry.
"""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException, NotFoundException
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.catalogue import services
from backend.catalogue.schemas import (
    MAX_COST_CENTS,
    MAX_LINKS,
    MAX_MINUTES,
    CompetencyCreate,
    CompetencyMerge,
    CompetencyUpdate,
    CompetencyUsage,
    CourseCreate,
    CoursePublic,
    CourseUpdate,
    SeasonCreate,
    SeasonPublic,
    SeasonUpdate,
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
from backend.db.models import CourseFormat
from backend.tenancy import OrgScope
from backend.web.catalogue_pages import FORMAT_LABELS, duration_label, euros
from pwa.i18n import N_, gettext, ngettext

COURSES = "/console/courses"
COMPETENCIES = "/console/competencies"
SEASONS = "/console/hot-skills"

COURSE_FIELDS = (
    "title",
    "description",
    "provider",
    "format",
    "duration_minutes",
    "cost",
    "url",
    "external_id",
    "xapi_activity_id",
    "hot_skill",
)
STATUS_FILTERS = (("", N_("Active")), ("archived", N_("Archived")), ("all", N_("All")))
HOT_FILTERS = (("", N_("Hot or not")), ("yes", N_("Hot today")), ("no", N_("Not hot")))
SEASON_LABELS = {"running": N_("Running"), "upcoming": N_("Upcoming"), "ended": N_("Ended")}
SEASON_PILLS = {"running": "pill-green", "upcoming": "pill-amber", "ended": ""}


def _tabs(active: str) -> list[tuple[str, str, bool]]:
    return [
        (COMPETENCIES, gettext(N_("Competencies")), active == "competencies"),
        (SEASONS, gettext(N_("Hot skills")), active == "seasons"),
    ]


def _translated(errors: dict[str, str]) -> dict[str, str]:
    """Messages a schema raises itself are marked with N_ there: show them translated."""
    return {name: gettext(message) for name, message in errors.items()}


def _ids(form: FormMultiDict, name: str) -> list[int]:
    return [int(v) for v in form.getall(name, []) if str(v).isdigit() and len(str(v)) < 10]


def _text(form: FormMultiDict, name: str) -> str:
    return str(form.get(name) or "").replace("\x00", "")


async def _form(request: Request[Any, Any, Any]) -> FormMultiDict:
    return await request.form()


# --- courses --------------------------------------------------------------------------------


def _cents(value: str) -> int | None:
    """ "49,95" or "49.95" euros as cents; None when it is not an amount."""
    cleaned = value.strip().replace("€", "").replace(" ", "")
    if not cleaned:
        return 0
    if "," in cleaned and "." in cleaned:  # 1.234,50 or 1,234.50
        cleaned = cleaned.replace("." if cleaned.rfind(",") > cleaned.rfind(".") else ",", "")
    cleaned = cleaned.replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def _course_body(form: FormMultiDict) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body a course form stands for, and errors only the form can have (cost)."""
    body: dict[str, Any] = {
        "title": _text(form, "title"),
        "description": _text(form, "description"),
        "provider": _text(form, "provider"),
        "hot_skill": _text(form, "hot_skill") in ("1", "on", "true"),
        "competency_ids": _ids(form, "competency_ids"),
    }
    for name in ("format", "duration_minutes"):  # absent when empty: "This field is required."
        if _text(form, name).strip():
            body[name] = _text(form, name).strip()
    for name in ("url", "external_id", "xapi_activity_id"):
        body[name] = _text(form, name).strip() or None
    errors: dict[str, str] = {}
    cents = _cents(_text(form, "cost"))
    if cents is None:
        errors["cost"] = gettext(N_("Enter an amount in euros, like 49.95."))
    elif cents > MAX_COST_CENTS:
        errors["cost"] = gettext(N_("This number is too large."))
    else:
        body["cost_cents"] = cents
    return body, errors


def _course_errors(error: ValidationError) -> dict[str, str]:
    errors = _translated(form_errors(error))
    if "cost_cents" in errors:
        errors["cost"] = errors.pop("cost_cents")
    return errors


def _course_values(course: CoursePublic, locale: str) -> dict[str, Any]:
    return {
        "title": course.title,
        "description": course.description,
        "provider": course.provider,
        "format": course.format,
        "duration_minutes": course.duration_minutes,
        "cost": f"{Decimal(course.cost_cents) / 100:.2f}".replace(
            ".", "," if locale == "nl" else "."
        ),
        "url": course.url or "",
        "external_id": course.external_id or "",
        "xapi_activity_id": course.xapi_activity_id or "",
        "hot_skill": course.hot_skill,
    }


def _format_options() -> list[tuple[str, str]]:
    return [("", gettext(N_("Choose a format")))] + [
        (f.value, gettext(FORMAT_LABELS[f.value])) for f in CourseFormat
    ]


def _courses_listing(request: Request[Any, Any, Any]) -> Listing:
    listing = Listing.from_request(
        request,
        sorts=tuple(services.COURSE_SORTS),
        default_sort="title",
        filters=("competency", "format", "hot", "status"),
    )
    f = listing.filters
    if f["format"] not in FORMAT_LABELS:
        f["format"] = ""
    if f["hot"] not in ("yes", "no"):
        f["hot"] = ""
    if f["status"] not in ("archived", "all"):
        f["status"] = ""
    if not (f["competency"].isdigit() and len(f["competency"]) < 10):
        f["competency"] = ""
    return listing


class CourseConsoleController(ConsoleController):
    path = COURSES

    @get("/", name="console:courses")
    async def courses(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        listing = _courses_listing(request)
        f = listing.filters
        competencies = await services.list_competencies(org)
        if f["competency"] and int(f["competency"]) not in {c.id for c in competencies}:
            f["competency"] = ""
        items, listing.total = await services.search_courses(
            org,
            q=listing.q or None,
            competency_id=int(f["competency"]) if f["competency"] else None,
            hot_skill={"yes": True, "no": False}.get(f["hot"]),
            course_format=f["format"] or None,
            archived={"": False, "archived": True}.get(f["status"]),
            sort=listing.sort,  # type: ignore[arg-type]
            descending=listing.descending,
            limit=listing.per_page,
            offset=listing.offset,
        )
        rows = [
            {
                "course": c,
                "format": gettext(FORMAT_LABELS.get(c.format, c.format)),
                "duration": duration_label(c.duration_minutes) if c.duration_minutes else "—",
                "cost": euros(c.cost_cents, locale) if c.cost_cents else gettext(N_("Free")),
                "created": format_date(c.created_at, format="medium", locale=locale)
                if c.created_at
                else "",
            }
            for c in items
        ]
        narrowed = any(f.values()) or bool(listing.q)
        return console_page(
            request,
            "console/catalogue/courses.html",
            {
                "listing": listing,
                "rows": rows,
                "narrowed": narrowed,
                "competencies": competencies,
                "formats": [(k, gettext(v)) for k, v in FORMAT_LABELS.items()],
                "status_filters": [(k, gettext(v)) for k, v in STATUS_FILTERS],
                "hot_filters": [(k, gettext(v)) for k, v in HOT_FILTERS],
                "back": listing.url(),
            },
            section="courses",
            title=gettext(N_("Courses")),
        )

    async def _form_page(
        self,
        request: Request[Any, Any, Any],
        org: OrgScope,
        *,
        course: CoursePublic | None,
        values: dict[str, Any],
        chosen: list[int],
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        use_locale(request)
        title = course.title if course else gettext(N_("New course"))
        return console_page(
            request,
            "console/catalogue/course_form.html",
            {
                "course": course,
                "values": values,
                "errors": errors or {},
                "chosen": set(chosen),
                "competencies": await services.list_competencies(org),
                "format_options": _format_options(),
                "max_minutes": MAX_MINUTES,
                "max_links": MAX_LINKS,
                "back": _text_param(request, "back") or COURSES,
            },
            section="courses",
            title=title,
            status_code=status_code,
        )

    @get("/new", name="console:course-new")
    async def new_course(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        return await self._form_page(
            request, org, course=None, values={"cost": "0", "format": ""}, chosen=[]
        )

    @post("/new", name="console:course-create")
    async def create_course(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await _form(request)
        body, errors = _course_body(form)
        values = {name: _text(form, name) for name in COURSE_FIELDS}
        try:
            data = CourseCreate.model_validate(body)
        except ValidationError as exc:
            errors = _course_errors(exc) | errors
        if errors:
            return await self._form_page(
                request,
                org,
                course=None,
                values=values,
                chosen=body["competency_ids"],
                errors=errors,
                status_code=400,
            )
        try:
            created = await services.create_course(org, data)
        except (ClientException, NotFoundException) as exc:
            return await self._form_page(
                request,
                org,
                course=None,
                values=values,
                chosen=body["competency_ids"],
                errors=_service_error(exc),
                status_code=exc.status_code,
            )
        flash(request, gettext(N_("Course “%(title)s” added.")) % {"title": created.title})
        return redirect(COURSES, q=created.title)

    @get("/{course_id:int}", name="console:course-edit")
    async def edit_course(
        self, request: Request[Any, Any, Any], org: OrgScope, course_id: int
    ) -> Template:
        locale = use_locale(request)
        course = await services.get_course(org, course_id)
        return await self._form_page(
            request,
            org,
            course=course,
            values=_course_values(course, locale),
            chosen=[c.id for c in course.competencies],
        )

    @post("/{course_id:int}", name="console:course-update")
    async def update_course(
        self, request: Request[Any, Any, Any], org: OrgScope, course_id: int
    ) -> Template | Redirect:
        use_locale(request)
        course = await services.get_course(org, course_id)
        form = await _form(request)
        body, errors = _course_body(form)
        values = {name: _text(form, name) for name in COURSE_FIELDS}
        try:
            data = CourseUpdate.model_validate(CourseCreate.model_validate(body).model_dump())
        except ValidationError as exc:
            errors = _course_errors(exc) | errors
        if errors:
            return await self._form_page(
                request,
                org,
                course=course,
                values=values,
                chosen=body["competency_ids"],
                errors=errors,
                status_code=400,
            )
        try:
            saved = await services.update_course(org, course_id, data)
        except (ClientException, NotFoundException) as exc:
            return await self._form_page(
                request,
                org,
                course=course,
                values=values,
                chosen=body["competency_ids"],
                errors=_service_error(exc),
                status_code=exc.status_code,
            )
        flash(request, gettext(N_("Course “%(title)s” saved.")) % {"title": saved.title})
        return Redirect(_safe_back(_text(form, "back")), status_code=303)

    @post("/{course_id:int}/archive", name="console:course-archive")
    async def archive_course(
        self, request: Request[Any, Any, Any], org: OrgScope, course_id: int
    ) -> Redirect:
        use_locale(request)
        form = await _form(request)
        course = await services.archive_course(org, course_id)
        flash(
            request,
            gettext(
                N_(
                    "“%(title)s” is archived: learners no longer see it in the catalogue. "
                    "Their history, XP and badges stay."
                )
            )
            % {"title": course.title},
        )
        return Redirect(_safe_back(_text(form, "back")), status_code=303)

    @post("/{course_id:int}/restore", name="console:course-restore")
    async def restore_course(
        self, request: Request[Any, Any, Any], org: OrgScope, course_id: int
    ) -> Redirect:
        use_locale(request)
        form = await _form(request)
        course = await services.restore_course(org, course_id)
        flash(
            request,
            gettext(N_("“%(title)s” is back in the catalogue.")) % {"title": course.title},
        )
        return Redirect(_safe_back(_text(form, "back")), status_code=303)


def _text_param(request: Request[Any, Any, Any], name: str) -> str:
    return _safe_back(request.query_params.get(name) or "", default="")


def _safe_back(value: str, default: str = COURSES) -> str:
    """A listing URL to return to: only the console's own course list (no open redirect)."""
    value = value.replace("\x00", "")[:500]
    if value.startswith(COURSES + "?") or value == COURSES:
        return value
    if value.startswith("?"):
        return COURSES + value
    return default


def _service_error(exc: ClientException | NotFoundException) -> dict[str, str]:
    detail = str(exc.detail)
    if "external_id" in detail:
        return {
            "external_id": gettext(
                N_("Another course already has this external id or xAPI activity id.")
            )
        }
    if "competency" in detail:
        return {"competency_ids": gettext(N_("One of these competencies no longer exists."))}
    return {"__all__": detail}


# --- competencies ---------------------------------------------------------------------------


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
                "tabs": _tabs("competencies"),
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
        form = await _form(request)
        values = {"name": _text(form, "name"), "description": _text(form, "description")}
        try:
            data = CompetencyCreate.model_validate(values)
            created = await services.create_competency(org, data)
        except ValidationError as exc:
            return await self._list_page(
                request, org, values=values, errors=_translated(form_errors(exc)), status_code=400
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
                "uses": _usage_lines(usage),
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
        form = await _form(request)
        values = {"name": _text(form, "name"), "description": _text(form, "description")}
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
                errors=_translated(form_errors(exc)),
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
        form = await _form(request)
        try:
            data = CompetencyMerge.model_validate({"into_id": _text(form, "into_id") or None})
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
                "tabs": _tabs("seasons"),
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
                "tabs": _tabs("seasons"),
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
            "name": _text(form, "name"),
            "competency_ids": _ids(form, "competency_ids"),
            "course_ids": _ids(form, "course_ids"),
        }
        for name in ("starts_on", "ends_on"):
            if _text(form, name).strip():
                body[name] = _text(form, name).strip()
        return body

    @post("/new", name="console:hot-skill-create")
    async def create_season(
        self, request: Request[Any, Any, Any], org: OrgScope
    ) -> Template | Redirect:
        use_locale(request)
        form = await _form(request)
        body = self._body(form)
        try:
            data = SeasonCreate.model_validate(body)
            created = await services.create_season(org, data)
        except ValidationError as exc:
            return await self._form_page(
                request,
                org,
                season=None,
                values={k: _text(form, k) for k in ("name", "starts_on", "ends_on")},
                competency_ids=body["competency_ids"],
                course_ids=body["course_ids"],
                errors=_translated(form_errors(exc)),
                status_code=400,
            )
        except NotFoundException:
            return await self._form_page(
                request,
                org,
                season=None,
                values={k: _text(form, k) for k in ("name", "starts_on", "ends_on")},
                competency_ids=[],
                course_ids=[],
                errors={"__all__": gettext(N_("Some of the chosen items no longer exist."))},
                status_code=400,
            )
        flash(request, gettext(N_("Hot-skill season “%(name)s” added.")) % {"name": created.name})
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
        form = await _form(request)
        body = self._body(form)
        try:
            data = SeasonUpdate.model_validate(SeasonCreate.model_validate(body).model_dump())
            saved = await services.update_season(org, season_id, data)
        except ValidationError as exc:
            return await self._form_page(
                request,
                org,
                season=season,
                values={k: _text(form, k) for k in ("name", "starts_on", "ends_on")},
                competency_ids=body["competency_ids"],
                course_ids=body["course_ids"],
                errors=_translated(form_errors(exc)),
                status_code=400,
            )
        except (ClientException, NotFoundException):
            return await self._form_page(
                request,
                org,
                season=season,
                values={k: _text(form, k) for k in ("name", "starts_on", "ends_on")},
                competency_ids=body["competency_ids"],
                course_ids=body["course_ids"],
                errors={"__all__": gettext(N_("Some of the chosen items no longer exist."))},
                status_code=400,
            )
        flash(request, gettext(N_("Hot-skill season “%(name)s” saved.")) % {"name": saved.name})
        return redirect(SEASONS)

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


CONTROLLERS = [CourseConsoleController, CompetencyConsoleController, SeasonConsoleController]
