"""Console: the courses of the catalogue (list, create, edit, archive, restore)."""

from typing import Any

from babel.dates import format_date
from litestar import Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.response import Redirect, Template
from pydantic import ValidationError

from backend.accounts.services import job_families
from backend.catalogue import services
from backend.catalogue.schemas import (
    MAX_LINKS,
    MAX_MINUTES,
    CourseCreate,
    CoursePublic,
    CourseUpdate,
)
from backend.console.catalogue_common import (
    COURSE_FIELDS,
    COURSES,
    HOT_FILTERS,
    STATUS_FILTERS,
    course_body,
    course_errors,
    course_values,
    courses_listing,
    form_text,
    format_options,
    read_form,
    safe_back,
    service_error,
    text_param,
)
from backend.console.shell import (
    ConsoleController,
    console_page,
    flash,
    redirect,
    use_locale,
)
from backend.tenancy import OrgScope
from backend.web.catalogue_pages import FORMAT_LABELS, duration_label, euros
from pwa.i18n import N_, gettext


class CourseConsoleController(ConsoleController):
    path = COURSES

    @get("/", name="console:courses")
    async def courses(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        listing = courses_listing(request)
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
                "job_families": await job_families(org),
                "format_options": format_options(),
                "max_minutes": MAX_MINUTES,
                "max_links": MAX_LINKS,
                "back": text_param(request, "back") or COURSES,
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
        saved = await self._save(request, org, course=None)
        if isinstance(saved, Template):
            return saved
        flash(request, gettext(N_("Course “%(title)s” added.")) % {"title": saved.title})
        return redirect(COURSES, q=saved.title)

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
            values=course_values(course, locale),
            chosen=[c.id for c in course.competencies],
        )

    @post("/{course_id:int}", name="console:course-update")
    async def update_course(
        self, request: Request[Any, Any, Any], org: OrgScope, course_id: int
    ) -> Template | Redirect:
        use_locale(request)
        course = await services.get_course(org, course_id)
        saved = await self._save(request, org, course=course)
        if isinstance(saved, Template):
            return saved
        flash(request, gettext(N_("Course “%(title)s” saved.")) % {"title": saved.title})
        form = await read_form(request)
        return Redirect(safe_back(form_text(form, "back")), status_code=303)

    async def _save(
        self, request: Request[Any, Any, Any], org: OrgScope, course: CoursePublic | None
    ) -> Template | CoursePublic:
        """Create (``course`` None) or update a course from the posted form: the saved course,
        or the form again with its errors (400, or the service's status)."""
        form = await read_form(request)
        body, errors = course_body(form)
        status_code = 400
        try:
            complete = CourseCreate.model_validate(body)
        except ValidationError as exc:
            errors = course_errors(exc) | errors
        if not errors:
            try:
                if course is None:
                    return await services.create_course(org, complete)
                changes = CourseUpdate.model_validate(complete.model_dump())
                return await services.update_course(org, course.id, changes)
            except (ClientException, NotFoundException) as exc:
                errors, status_code = service_error(exc), exc.status_code
        return await self._form_page(
            request,
            org,
            course=course,
            values={name: form_text(form, name) for name in COURSE_FIELDS},
            chosen=body["competency_ids"],
            errors=errors,
            status_code=status_code,
        )

    @post("/{course_id:int}/archive", name="console:course-archive")
    async def archive_course(
        self, request: Request[Any, Any, Any], org: OrgScope, course_id: int
    ) -> Redirect:
        use_locale(request)
        form = await read_form(request)
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
        return Redirect(safe_back(form_text(form, "back")), status_code=303)

    @post("/{course_id:int}/restore", name="console:course-restore")
    async def restore_course(
        self, request: Request[Any, Any, Any], org: OrgScope, course_id: int
    ) -> Redirect:
        use_locale(request)
        form = await read_form(request)
        course = await services.restore_course(org, course_id)
        flash(
            request,
            gettext(N_("“%(title)s” is back in the catalogue.")) % {"title": course.title},
        )
        return Redirect(safe_back(form_text(form, "back")), status_code=303)


CONTROLLERS = [CourseConsoleController]
