"""Console pages: import courses or people from a CSV file.

Upload (``/console/import``): every row is checked first; with any problem the page comes
back (400) listing each one by row and column, and nothing is imported. A good file starts
the import after the response and leads to its page, which shows the progress (polled by
``console-import.js``; without JS a refresh link) and then the summary.
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Response, Template

from backend.console.shell import (
    ConsoleController,
    console_page,
    principal_of,
    use_locale,
)
from backend.db.models import ImportJob
from backend.deps import app_context
from backend.imports import services
from backend.imports.services import KINDS, MAX_FILE_BYTES, ImportJobPublic
from backend.tenancy import OrgScope
from pwa.i18n import N_, current_locale, gettext

# what each column takes, shown beside the upload form (the template file has examples)
COLUMN_HELP: dict[str, list[tuple[str, str, bool]]] = {
    "courses": [
        ("external_id", N_("Your LMS's id of the course; how a new import finds it again."), True),
        ("title", N_("1 to 200 characters."), True),
        (
            "format",
            N_("elearning, classroom, webinar, video, book, podcast, coaching or workshop."),
            False,
        ),
        ("duration_minutes", N_("Whole minutes."), False),
        ("description", N_("Free text; line breaks are fine inside quotes."), False),
        ("provider", N_("Who gives the course."), False),
        ("cost", N_("In euros: 12,50 or 12.50."), False),
        ("url", N_("Where the course is taken (https://…)."), False),
        ("xapi_activity_id", N_("The activity id your LMS sends with xAPI statements."), False),
        (
            "competencies",
            N_("Names separated by | or ;. New names are added to your competencies."),
            False,
        ),
        ("hot_skill", N_("yes or no."), False),
    ],
    "people": [
        ("email", N_("How a new import finds the person again."), True),
        ("name", N_("1 to 120 characters."), True),
        ("roles", N_("employee, manager and/or ld_admin, separated by | or ;."), False),
        ("teams", N_("Team names separated by | or ;. New teams are created."), False),
        ("manager", N_("yes: manager of these teams."), False),
        ("locale", N_("nl or en."), False),
        ("timezone", N_("For example Europe/Amsterdam."), False),
        ("start_date", N_("YYYY-MM-DD."), False),
        ("external_id", N_("The id your LMS knows the person by."), False),
    ],
}
STATUS_LABELS = {
    "rejected": N_("Not imported"),
    "running": N_("Importing"),
    "done": N_("Imported"),
    "failed": N_("Stopped"),
}


def _when(moment: datetime, request: Request[Any, Any, Any]) -> str:
    """When an import ran, in the admin's own time zone and language: 7 dec 2026, 14:26."""
    principal = principal_of(request)
    return format_datetime(
        moment, "d MMM y, HH:mm", tzinfo=ZoneInfo(principal.timezone), locale=current_locale()
    )


def _kind_options() -> list[tuple[str, str]]:
    return [(name, gettext(kind.label)) for name, kind in KINDS.items()]


async def _upload_page(
    request: Request[Any, Any, Any],
    org: OrgScope,
    *,
    kind: str = "courses",
    job: ImportJob | None = None,
    form_error: str = "",
    status_code: int = 200,
) -> Template:
    return console_page(
        request,
        "console/imports/upload.html",
        {
            "kind": kind,
            "kinds": _kind_options(),
            "column_help": COLUMN_HELP,
            "job": job,
            "errors": [
                {**e, "text": services.problem_text(e)} for e in (job.errors if job else [])
            ],
            "form_error": form_error,
            "recent": [
                {"job": job, "when": _when(job.created_at, request)}
                for job in await services.recent_jobs(org)
            ],
            "status_labels": STATUS_LABELS,
            "max_mb": MAX_FILE_BYTES // (1024 * 1024),
        },
        section="import",
        title=gettext(N_("Import")),
        status_code=status_code,
    )


class ConsoleImportController(ConsoleController):
    path = "/console/import"

    @get("/", name="console:import")
    async def upload_form(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        use_locale(request)
        kind = request.query_params.get("kind", "courses")
        return await _upload_page(request, org, kind=kind if kind in KINDS else "courses")

    @post("/", request_max_body_size=MAX_FILE_BYTES + 64 * 1024)
    async def upload(self, request: Request[Any, Any, Any], org: OrgScope) -> Template | Redirect:
        use_locale(request)
        form = await request.form()
        kind = str(form.get("kind") or "")
        upload = form.get("file")
        if kind not in KINDS:
            return await _upload_page(
                request, org, form_error=gettext(N_("Choose what to import.")), status_code=400
            )
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await _upload_page(
                request,
                org,
                kind=kind,
                form_error=gettext(N_("Choose a CSV file to upload.")),
                status_code=400,
            )
        data = await upload.read()
        job, checked = await services.submit(org, KINDS[kind], upload.filename, data)
        if job.status == "rejected":
            return await _upload_page(request, org, kind=kind, job=job, status_code=400)
        assert job.id is not None
        return Redirect(
            f"/console/import/{job.id}",
            status_code=303,
            background=BackgroundTask(
                services.run,
                app_context(request.app.state).sessionmaker,
                principal_of(request),
                job.id,
                checked,
            ),
        )

    @get("/{job_id:int}", name="console:import-job")
    async def job_page(
        self, request: Request[Any, Any, Any], org: OrgScope, job_id: int
    ) -> Template:
        use_locale(request)
        job = await services.get_job(org, job_id)
        if job.status == "rejected":
            return await _upload_page(request, org, kind=job.kind, job=job)
        kind = KINDS[job.kind]
        return console_page(
            request,
            "console/imports/job.html",
            {
                "job": job,
                "kind_label": gettext(kind.label),
                "status_labels": STATUS_LABELS,
                "errors": [{**e, "text": services.problem_text(e)} for e in job.errors],
                "target": "/console/courses" if job.kind == "courses" else "/console/people",
            },
            section="import",
            title=gettext(N_("Import")),
        )

    @get("/{job_id:int}/status", name="console:import-status")
    async def job_status(self, org: OrgScope, job_id: int) -> ImportJobPublic:
        """What the job page polls while the import runs."""
        return services.job_public(await services.get_job(org, job_id))

    @get("/template/courses.csv", name="console:import-template-courses")
    async def courses_template(self) -> Response[bytes]:
        return _template("courses")

    @get("/template/people.csv", name="console:import-template-people")
    async def people_template(self) -> Response[bytes]:
        return _template("people")


def _template(kind: str) -> Response[bytes]:
    # with a byte-order mark, so Excel opens the UTF-8 file with its accents intact
    return Response(
        content=b"\xef\xbb\xbf" + KINDS[kind].template.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="learnloop-{kind}.csv"'},
    )


# the JSON API of imports rides along, so the app serves it from the console's collection
CONTROLLERS = [ConsoleImportController]
