"""The audit log: who changed what and when, for every L&D action.

Every service that changes what L&D configures calls ``record`` before it commits, so the
entry lands in the same transaction as the change (both or neither). Routes, console forms,
the CLI and imports all go through those services, so each action is logged once, wherever
it came from.
"""

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, func, or_, select

from backend.db.models import AuditEntry
from backend.tenancy import OrgScope

MAX_SUMMARY = 500


def record(
    scope: OrgScope,
    action: str,
    *,
    target_type: str = "",
    target_id: int | str | None = None,
    summary: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Stage an audit entry in the caller's transaction (the caller's commit writes it).

    ``action`` is a stable dotted name ("course.create", "user.deactivate"); ``summary`` is
    a short human sentence with the names involved; ``details`` what changed (JSON).
    """
    principal = scope.principal
    if principal.via == "api_key":
        actor = f"API key {principal.api_key_id}"
    elif principal.via == "cli":
        actor = principal.display_name or "command line"
    else:
        actor = principal.display_name or principal.email
    entry = AuditEntry(
        organisation_id=scope.organisation_id,
        actor_id=principal.user_id,
        actor_name=actor[:200],
        action=action[:60],
        target_type=target_type[:40],
        target_id="" if target_id is None else str(target_id)[:64],
        summary=summary[:MAX_SUMMARY],
        details=dict(details or {}),
    )
    return scope.add(entry)


@dataclass(frozen=True)
class AuditQuery:
    q: str = ""
    action: str = ""
    """An action ("course.archive") or a kind of action ("course"): that kind's actions."""
    since: datetime | None = None
    until: datetime | None = None
    """Entries before this moment (exclusive)."""

    @classmethod
    def for_days(
        cls, *, q: str = "", action: str = "", first: date | None, last: date | None, tz: str
    ) -> "AuditQuery":
        """Entries of the local days ``first`` to ``last`` (both included) in timezone ``tz``."""
        zone = ZoneInfo(tz)
        return cls(
            q=q,
            action=action,
            since=datetime.combine(first, time(), zone) if first else None,
            until=datetime.combine(last + timedelta(days=1), time(), zone) if last else None,
        )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(scope: OrgScope, query: AuditQuery) -> Any:
    stmt = scope.select(AuditEntry)
    if query.q:
        like = f"%{_escape_like(query.q)}%"
        stmt = stmt.where(
            or_(
                col(AuditEntry.summary).ilike(like, escape="\\"),
                col(AuditEntry.actor_name).ilike(like, escape="\\"),
                col(AuditEntry.action).ilike(like, escape="\\"),
            )
        )
    if query.action:
        kind = query.action.rstrip(".")
        stmt = stmt.where(
            or_(col(AuditEntry.action) == kind, col(AuditEntry.action).startswith(kind + "."))
        )
    if query.since is not None:
        stmt = stmt.where(col(AuditEntry.created_at) >= query.since)
    if query.until is not None:
        stmt = stmt.where(col(AuditEntry.created_at) < query.until)
    return stmt


async def list_entries(
    scope: OrgScope, query: AuditQuery, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """A page of entries, newest first, and how many match in all."""
    stmt = _filtered(scope, query)
    total = (await scope.session.exec(stmt.with_only_columns(func.count()).order_by(None))).one()
    rows = await scope.all(
        stmt.order_by(col(AuditEntry.created_at).desc(), col(AuditEntry.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return rows, int(total)


async def action_kinds(scope: OrgScope) -> list[str]:
    """The kinds of action the organisation's log holds ("course", "testimonial", ...)."""
    kind = func.split_part(col(AuditEntry.action), ".", 1)
    rows = await scope.session.exec(
        select(kind).where(scope.owns(AuditEntry)).group_by(kind).order_by(kind)
    )
    return [str(k) for k in rows.all() if k]


CSV_COLUMNS = ("when", "who", "action", "target_type", "target_id", "summary", "details")
CSV_MEDIA_TYPE = "text/csv"  # Litestar adds "; charset=utf-8"
BOM = "\ufeff"  # Excel reads a CSV file without it as the local code page (é becomes Ã©)


async def export_csv(scope: OrgScope, query: AuditQuery) -> str:
    """Every matching entry as CSV (UTF-8, comma separated, newest first like the page).

    Every text cell is made safe against formula injection; the caller adds ``BOM`` for a
    download (see ``csv_download``).
    """
    rows = await scope.all(
        _filtered(scope, query).order_by(
            col(AuditEntry.created_at).desc(), col(AuditEntry.id).desc()
        )
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            (
                row.created_at.isoformat(),
                _safe_cell(row.actor_name),
                _safe_cell(row.action),
                _safe_cell(row.target_type),
                _safe_cell(row.target_id),
                _safe_cell(row.summary),
                _safe_cell(json.dumps(row.details, ensure_ascii=False, sort_keys=True))
                if row.details
                else "",
            )
        )
    return buffer.getvalue()


async def csv_download(scope: OrgScope, query: AuditQuery) -> bytes:
    """The export as the bytes of a file Excel opens right: UTF-8 with a byte order mark."""
    return (BOM + await export_csv(scope, query)).encode("utf-8")


def csv_filename(today: date) -> str:
    return f"audit-log-{today.isoformat()}.csv"


def _safe_cell(value: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
