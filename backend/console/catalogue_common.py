"""What the catalogue's console pages share: their addresses, filters, tabs and form reading.

Courses (``catalogue.py``), competencies and hot-skill seasons (``competencies.py``) are
validated with the JSON API's schemas (``backend.catalogue.schemas``) and handed to the same
service functions as the API, so each change writes its audit entry.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException, NotFoundException
from pydantic import ValidationError

from backend.catalogue import services
from backend.catalogue.schemas import (
    MAX_COST_CENTS,
    CoursePublic,
)
from backend.console.shell import (
    Listing,
    form_errors,
)
from backend.db.models import CourseFormat
from backend.web.catalogue_pages import FORMAT_LABELS
from pwa.i18n import N_, gettext

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
    "job_family",
)
STATUS_FILTERS = (("", N_("Active")), ("archived", N_("Archived")), ("all", N_("All")))
HOT_FILTERS = (("", N_("Hot or not")), ("yes", N_("Hot today")), ("no", N_("Not hot")))
SEASON_LABELS = {"running": N_("Running"), "upcoming": N_("Upcoming"), "ended": N_("Ended")}
SEASON_PILLS = {"running": "pill-green", "upcoming": "pill-amber", "ended": ""}


def catalogue_tabs(active: str) -> list[tuple[str, str, bool]]:
    return [
        (COMPETENCIES, gettext(N_("Competencies")), active == "competencies"),
        (SEASONS, gettext(N_("Hot skills")), active == "seasons"),
    ]


def translated(errors: dict[str, str]) -> dict[str, str]:
    """Messages a schema raises itself are marked with N_ there: show them translated."""
    return {name: gettext(message) for name, message in errors.items()}


def form_ids(form: FormMultiDict, name: str) -> list[int]:
    return [int(v) for v in form.getall(name, []) if str(v).isdigit() and len(str(v)) < 10]


def form_text(form: FormMultiDict, name: str) -> str:
    return str(form.get(name) or "").replace("\x00", "")


async def read_form(request: Request[Any, Any, Any]) -> FormMultiDict:
    return await request.form()


# --- courses --------------------------------------------------------------------------------


def parse_cents(value: str) -> int | None:
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


def course_body(form: FormMultiDict) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body a course form stands for, and errors only the form can have (cost)."""
    body: dict[str, Any] = {
        "title": form_text(form, "title"),
        "description": form_text(form, "description"),
        "provider": form_text(form, "provider"),
        "hot_skill": form_text(form, "hot_skill") in ("1", "on", "true"),
        "competency_ids": form_ids(form, "competency_ids"),
    }
    for name in ("format", "duration_minutes"):  # absent when empty: "This field is required."
        if form_text(form, name).strip():
            body[name] = form_text(form, name).strip()
    for name in ("url", "external_id", "xapi_activity_id", "job_family"):
        body[name] = form_text(form, name).strip() or None
    errors: dict[str, str] = {}
    cents = parse_cents(form_text(form, "cost"))
    if cents is None:
        errors["cost"] = gettext(N_("Enter an amount in euros, like 49.95."))
    elif cents > MAX_COST_CENTS:
        errors["cost"] = gettext(N_("This number is too large."))
    else:
        body["cost_cents"] = cents
    return body, errors


def course_errors(error: ValidationError) -> dict[str, str]:
    errors = translated(form_errors(error))
    if "cost_cents" in errors:
        errors["cost"] = errors.pop("cost_cents")
    return errors


def course_values(course: CoursePublic, locale: str) -> dict[str, Any]:
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
        "job_family": course.job_family or "",
    }


def format_options() -> list[tuple[str, str]]:
    return [("", gettext(N_("Choose a format")))] + [
        (f.value, gettext(FORMAT_LABELS[f.value])) for f in CourseFormat
    ]


def courses_listing(request: Request[Any, Any, Any]) -> Listing:
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


def text_param(request: Request[Any, Any, Any], name: str) -> str:
    return safe_back(request.query_params.get(name) or "", default="")


def safe_back(value: str, default: str = COURSES) -> str:
    """A listing URL to return to: only the console's own course list (no open redirect)."""
    value = value.replace("\x00", "")[:500]
    if value.startswith(COURSES + "?") or value == COURSES:
        return value
    if value.startswith("?"):
        return COURSES + value
    return default


def service_error(exc: ClientException | NotFoundException) -> dict[str, str]:
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
