"""The audit log over the JSON API: a page of entries, or every matching one as CSV."""

from datetime import date, datetime
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import Parameter
from pydantic import BaseModel

from backend.audit import services
from backend.auth.guards import requires_ld_admin
from backend.db.models import AuditEntry
from backend.db.types import utcnow
from backend.deps import provide_scope
from backend.tenancy import OrgScope
from backend.validation import day_problem
from gamification import local_day


class AuditEntryPublic(BaseModel):
    id: int
    created_at: datetime
    actor_id: int | None
    """The person who acted (None once they are removed; ``actor_name`` stays)."""
    actor_name: str
    action: str
    target_type: str
    target_id: str
    summary: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    total: int
    """How many entries match (``items`` is one page of them, newest first)."""


def public(entry: AuditEntry) -> AuditEntryPublic:
    assert entry.id is not None
    return AuditEntryPublic(
        id=entry.id,
        created_at=entry.created_at,
        actor_id=entry.actor_id,
        actor_name=entry.actor_name,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        summary=entry.summary,
        details=entry.details,
    )


Search = Annotated[
    str, Parameter(max_length=100, description="Words in the summary, who or action")
]
Action = Annotated[
    str,
    Parameter(max_length=60, description='An action ("course.archive") or a kind ("course")'),
]
First = Annotated[
    date | None, Parameter(query="from", description="First day (the caller's timezone)")
]
Last = Annotated[
    date | None, Parameter(query="to", description="Last day, included (the caller's timezone)")
]


def _query(org: OrgScope, q: str, action: str, first: date | None, last: date | None) -> Any:
    for name, day in (("from", first), ("to", last)):
        if (problem := day_problem(day)) is not None:
            raise ValidationException(
                f"{name}: {problem}", extra=[{"key": name, "message": problem}]
            )
    if first and last and last < first:
        raise ValidationException(
            "to: the last day comes before the first",
            extra=[{"key": "to", "message": "before from"}],
        )
    return services.AuditQuery.for_days(
        q=q.replace("\x00", "").strip(),
        action=action.replace("\x00", "").strip(),
        first=first,
        last=last,
        tz=org.principal.timezone,
    )


class AuditController(Controller):
    path = "/api/v1"
    tags = ["audit"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/audit", summary="The audit log: who changed what and when, newest first (L&D admin)")
    async def entries(
        self,
        org: OrgScope,
        q: Search = "",
        action: Action = "",
        first: First = None,
        last: Last = None,
        page: Annotated[int, Parameter(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> AuditPage:
        rows, total = await services.list_entries(
            org,
            _query(org, q, action, first, last),
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        return AuditPage(items=[public(row) for row in rows], total=total)

    @get(
        "/audit.csv",
        summary="The audit log as CSV (UTF-8 with BOM, same filters) (L&D admin)",
        media_type=services.CSV_MEDIA_TYPE,
    )
    async def export(
        self,
        org: OrgScope,
        q: Search = "",
        action: Action = "",
        first: First = None,
        last: Last = None,
    ) -> Response[bytes]:
        body = await services.csv_download(org, _query(org, q, action, first, last))
        name = services.csv_filename(local_day(utcnow(), org.principal.timezone))
        return Response(
            body,
            media_type=services.CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
