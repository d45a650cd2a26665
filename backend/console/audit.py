"""Console: the audit log, who changed what and when, with search, filters, paging and CSV.

Reads through ``backend.audit.services`` like ``GET /api/v1/audit``; the export downloads
exactly what the page's filter shows (every page of it).
"""

import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from litestar import Request, Response, get
from litestar.response import Template

from backend.audit import services
from backend.audit.controllers import AuditEntryPublic, public
from backend.console.shell import ConsoleController, Listing, console_page, principal_of, use_locale
from backend.db.types import utcnow
from backend.tenancy import OrgScope
from gamification import local_day
from pwa.i18n import N_, gettext

PATH = "/console/audit"
# kinds of action (the part before the dot); kinds not listed show as written
KIND_LABELS = {
    "api_key": N_("API keys"),
    "badge": N_("Badges"),
    "challenge": N_("Challenges"),
    "competency": N_("Competencies"),
    "course": N_("Courses"),
    "game": N_("Game design"),
    "hot_skill": N_("Hot skills"),
    "import": N_("Imports"),
    "job_family": N_("Job families"),
    "nudge": N_("Nudges"),
    "organisation": N_("Organisation"),
    "team": N_("Teams"),
    "testimonial": N_("Testimonials"),
    "user": N_("People"),
    "webhook_secret": N_("Webhook secrets"),
}


def _kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return gettext(label) if label else kind.replace("_", " ").capitalize()


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _query(
    request: Request[Any, Any, Any], listing: Listing
) -> tuple[services.AuditQuery, dict[str, str]]:
    """The service query of the page's filter, and a message per filter field that is wrong."""
    errors: dict[str, str] = {}
    first, last = _day(listing.filters["from"]), _day(listing.filters["to"])
    for name, value in (("from", first), ("to", last)):
        if listing.filters[name] and value is None:
            errors[name] = gettext(N_("Enter a date."))
    if first and last and last < first:
        errors["to"] = gettext(N_("The last day comes before the first."))
        last = None
    query = services.AuditQuery.for_days(
        q=listing.q,
        action=listing.filters["action"],
        first=first,
        last=last,
        tz=principal_of(request).timezone,
    )
    return query, errors


def _listing(request: Request[Any, Any, Any]) -> Listing:
    return Listing.from_request(
        request, sorts=("when",), default_sort="when", filters=("action", "from", "to"), per_page=50
    )


class AuditConsoleController(ConsoleController):
    path = PATH

    @get("/", name="console:audit")
    async def log(self, request: Request[Any, Any, Any], org: OrgScope) -> Template:
        locale = use_locale(request)
        listing = _listing(request)
        listing.sort = ""  # one order: newest first
        query, errors = _query(request, listing)
        rows, listing.total = await services.list_entries(
            org, query, limit=listing.per_page, offset=listing.offset
        )
        zone = ZoneInfo(principal_of(request).timezone)
        kinds = await services.action_kinds(org)
        chosen = listing.filters["action"]
        if chosen and chosen not in kinds:
            kinds.append(chosen)  # an action of a bookmarked URL stays selectable
        entries: list[dict[str, Any]] = []
        for row in rows:
            entry: AuditEntryPublic = public(row)
            entries.append(
                {
                    "e": entry,
                    "when": format_datetime(
                        entry.created_at, format="medium", tzinfo=zone, locale=locale
                    ),
                    "iso": entry.created_at.isoformat(),
                    "kind": _kind_label(entry.action.split(".", 1)[0]),
                    "details": [(k, _shown(v)) for k, v in sorted(entry.details.items())],
                }
            )
        filtered = bool(listing.q or any(listing.filters.values()))
        return console_page(
            request,
            "console/audit/index.html",
            {
                "listing": listing,
                "entries": entries,
                "errors": errors,
                "kinds": [("", gettext(N_("All actions")))] + [(k, _kind_label(k)) for k in kinds],
                "filtered": filtered,
                "export_url": PATH + "/export.csv" + listing.url(page=""),
                "timezone": principal_of(request).timezone,
            },
            section="audit",
            title=gettext(N_("Audit log")),
            status_code=400 if errors else 200,
        )

    @get("/export.csv", name="console:audit-export")
    async def export(self, request: Request[Any, Any, Any], org: OrgScope) -> Response[bytes]:
        use_locale(request)
        query, _ = _query(request, _listing(request))
        body = await services.csv_download(org, query)
        name = services.csv_filename(local_day(utcnow(), principal_of(request).timezone))
        return Response(
            body,
            media_type=services.CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return gettext(N_("yes")) if value else gettext(N_("no"))
    if value is None or value == "":
        return "–"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


CONTROLLERS = [AuditConsoleController]
