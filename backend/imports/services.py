"""CSV imports: check every row, then write them all (or nothing), with a job row to follow.

``submit`` reads and checks the whole file with the same schemas the JSON API uses for one
course or person (``CourseCreate``, ``UserCreate``), plus what rows cannot do together
(the same course twice) or next to the stored data, and records an ``ImportJob``: rejected
with every problem (row and column), or running. ``run`` then writes every row in one
transaction (all rows or none) through the bulk write paths (``backend.catalogue.bulk``,
``backend.accounts.bulk``), updating the job's progress from a second connection as it goes,
and records one audit entry with the counts. Re-importing a file changes nothing: rows are
compared with what is stored and only the differences are written.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import services as audit
from backend.auth.principal import Principal
from backend.db.models import ImportJob
from backend.db.types import utcnow
from backend.imports import courses, people
from backend.imports.counts import Counts, Progress, no_progress
from backend.imports.reader import CsvError, Problem, read_csv
from backend.lrs import unclaimed
from backend.tenancy import OrgScope
from pwa.i18n import N_, gettext

log = logging.getLogger(__name__)

MAX_ERRORS = 1000  # kept and shown per import; the count says how many there were in all
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # marked with N_
    columns: tuple[str, ...]
    required: tuple[str, ...]
    aliases: dict[str, str]
    template: str
    parse_row: Callable[[int, dict[str, str]], tuple[Any, list[Problem]]]
    check: Callable[[OrgScope, list[Any]], Awaitable[list[Problem]]]
    write: Callable[[OrgScope, list[Any], Progress], Awaitable[Counts]]


KINDS: dict[str, Kind] = {
    "courses": Kind(
        "courses",
        N_("Courses"),
        courses.COLUMNS,
        courses.REQUIRED,
        courses.ALIASES,
        courses.TEMPLATE,
        courses.parse_row,
        courses.check,
        courses.write,
    ),
    "people": Kind(
        "people",
        N_("People"),
        people.COLUMNS,
        people.REQUIRED,
        people.ALIASES,
        people.TEMPLATE,
        people.parse_row,
        people.check,
        people.write,
    ),
}


@dataclass
class Checked:
    """A file read and checked: the rows ready to write, or what is wrong."""

    kind: Kind
    rows: list[Any]
    problems: list[Problem]
    total_rows: int

    @property
    def ok(self) -> bool:
        return not self.problems


class ImportProblem(BaseModel):
    row: int = Field(description="Spreadsheet row: 1 is the header, 0 the file as a whole.")
    column: str = Field(description="The column's name in the header; empty for the whole row.")
    message: str


class ImportJobPublic(BaseModel):
    id: int
    kind: str = Field(description="courses or people")
    filename: str
    status: str = Field(
        description="rejected (nothing imported; see errors), running, done, or failed"
    )
    total_rows: int
    processed_rows: int
    created: int
    updated: int
    unchanged: int
    error_count: int = Field(description="Every problem found; errors lists the first 1,000.")
    errors: list[ImportProblem]
    created_at: datetime
    finished_at: datetime | None


def problem_text(problem: Problem | dict[str, Any], *, translate: bool = True) -> str:
    """A problem's message in the current language (or English), its values filled in."""
    if isinstance(problem, Problem):
        message, values = problem.message, problem.values
    else:
        message, values = problem["message"], problem.get("values") or {}
    text = gettext(message) if translate else message
    return text % values if values else text


def job_public(job: ImportJob) -> ImportJobPublic:
    """The API's view of a job (messages in English, like every API error)."""
    assert job.id is not None
    return ImportJobPublic(
        id=job.id,
        kind=job.kind,
        filename=job.filename,
        status=job.status,
        total_rows=job.total_rows,
        processed_rows=job.processed_rows,
        created=job.created,
        updated=job.updated,
        unchanged=job.unchanged,
        error_count=job.error_count,
        errors=[
            ImportProblem(
                row=e["row"], column=e["column"], message=problem_text(e, translate=False)
            )
            for e in job.errors
        ],
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


async def validate(scope: OrgScope, kind: Kind, data: bytes) -> Checked:
    """Read ``data`` and check every row; nothing is written."""
    if len(data) > MAX_FILE_BYTES:
        too_big = N_("The file is larger than %(max)d MB; split it into smaller files.")
        problem = Problem(0, "", too_big, {"max": MAX_FILE_BYTES // (1024 * 1024)})
        return Checked(kind, [], [problem], 0)
    try:
        table = read_csv(data, known=kind.columns, required=kind.required, aliases=kind.aliases)
    except CsvError as exc:
        return Checked(kind, [], [Problem(0, "", exc.message, dict(exc.values))], 0)
    problems = list(table.problems)
    rows = []
    for number, cells in table.rows:
        row, found = kind.parse_row(number, cells)
        problems += found
        if row is not None:
            rows.append(row)
    if not table.rows and not problems:
        problems.append(Problem(0, "", N_("The file has a header line but no rows.")))
    problems += await kind.check(scope, rows)
    problems.sort(
        key=lambda p: (p.row, kind.columns.index(p.column) if p.column in kind.columns else -1)
    )
    return Checked(kind, rows, problems, len(table.rows) + len(table.problems))


def _stored_problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [
        {"row": p.row, "column": p.column, "message": p.message, "values": p.values}
        for p in problems[:MAX_ERRORS]
    ]


async def submit(
    scope: OrgScope, kind: Kind, filename: str, data: bytes
) -> tuple[ImportJob, Checked]:
    """Check the file and record the import: rejected (with every problem) or running.

    A running job is written by ``run`` (the caller starts it, e.g. after the response).
    """
    checked = await validate(scope, kind, data)
    job = scope.add(
        ImportJob(
            organisation_id=scope.organisation_id,
            kind=kind.name,
            filename=filename.replace("\x00", "")[:200],
            status="running" if checked.ok else "rejected",
            total_rows=checked.total_rows,
            errors=_stored_problems(checked.problems),
            error_count=len(checked.problems),
            created_by_id=scope.principal.user_id,
            finished_at=None if checked.ok else utcnow(),
        )
    )
    await scope.session.commit()
    return job, checked


def summary(kind: Kind, filename: str, counts: Counts) -> str:
    """The audit log's sentence (English, like every audit summary)."""
    what = f"{kind.name} from “{filename}”" if filename else kind.name
    text = (
        f"Imported {what}: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged"
    )
    extra = [f"{n} new {name}" for name, n in counts.extra.items() if n]
    return text + (f" ({', '.join(extra)})" if extra else "")


async def run(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    job_id: int,
    checked: Checked,
    progress: Progress = no_progress,
) -> ImportJob:
    """Write a submitted import: every row in one transaction, progress on the job row."""

    async def report(done: int) -> None:
        async with sessionmaker() as session:
            await session.exec(
                update(ImportJob)
                .where(col(ImportJob.id) == job_id)
                .where(col(ImportJob.organisation_id) == principal.organisation_id)
                .values(processed_rows=done)
            )
            await session.commit()
        await progress(done)

    async with sessionmaker() as session:
        scope = OrgScope(session, principal)
        try:
            counts = await checked.kind.write(scope, checked.rows, report)
            job = await scope.get(ImportJob, job_id, what="import")
            job.status = "done"
            job.processed_rows = len(checked.rows)
            job.created, job.updated, job.unchanged = (
                counts.created,
                counts.updated,
                counts.unchanged,
            )
            job.finished_at = utcnow()
            session.add(job)
            audit.record(
                scope,
                f"import.{checked.kind.name}",
                target_type="import",
                target_id=job_id,
                summary=summary(checked.kind, job.filename, counts),
                details={
                    "file": job.filename,
                    "rows": len(checked.rows),
                    "created": counts.created,
                    "updated": counts.updated,
                    "unchanged": counts.unchanged,
                    **{f"new_{name}": n for name, n in counts.extra.items()},
                },
            )
            await session.commit()
            # what an LMS sent about the people before they were added counts now
            await unclaimed.claim(session, principal.organisation_id, counts.people)
            return job
        except Exception as exc:
            await session.rollback()
            log.exception("import %s stopped", job_id)
            failure = {
                "row": 0,
                "column": "",
                "message": N_("The import stopped and nothing was imported: %(error)s"),
                "values": {"error": str(getattr(exc, "orig", exc))[:300]},
            }
    async with sessionmaker() as session:
        scope = OrgScope(session, principal)
        job = await scope.get(ImportJob, job_id, what="import")
        job.status, job.errors, job.error_count = "failed", [failure], 1
        job.finished_at = utcnow()
        session.add(job)
        await session.commit()
        return job


async def get_job(scope: OrgScope, job_id: int) -> ImportJob:
    return await scope.get(ImportJob, job_id, what="import")


async def recent_jobs(scope: OrgScope, limit: int = 10) -> list[ImportJob]:
    return await scope.all(
        scope.select(ImportJob)
        .order_by(col(ImportJob.created_at).desc(), col(ImportJob.id).desc())
        .limit(limit)
    )
