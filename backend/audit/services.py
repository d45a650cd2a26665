"""The audit log: who changed what and when, for every L&D action.

Every service that changes what L&D configures calls ``record`` before it commits, so the
entry lands in the same transaction as the change (both or neither). Routes, console forms,
the CLI and imports all go through those services, so each action is logged once, wherever
it came from.
"""

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, func, or_

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
    since: datetime | None = None
    until: datetime | None = None


def _filtered(scope: OrgScope, query: AuditQuery) -> Any:
    stmt = scope.select(AuditEntry)
    if query.q:
        like = f"%{query.q.lower()}%"
        stmt = stmt.where(
            or_(
                col(AuditEntry.summary).ilike(like),
                col(AuditEntry.actor_name).ilike(like),
                col(AuditEntry.action).ilike(like),
            )
        )
    if query.action:
        stmt = stmt.where(col(AuditEntry.action).startswith(query.action))
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


CSV_COLUMNS = ("when", "who", "action", "target_type", "target_id", "summary")


async def export_csv(scope: OrgScope, query: AuditQuery) -> str:
    """Every matching entry as CSV (UTF-8, comma separated, oldest last like the page)."""
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
                row.actor_name,
                row.action,
                row.target_type,
                row.target_id,
                _safe_cell(row.summary),
            )
        )
    return buffer.getvalue()


def _safe_cell(value: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
