"""Course rows: the columns of a courses CSV and how a row becomes a ``CourseCreate``.

A row is matched by ``external_id`` (required: without it a second import could not find the
course again), updated when it differs and created otherwise. Competencies are names
separated by ``|`` or ``;``; a name the organisation does not have yet is created (matched
without regard to case), so an LMS export imports in one go.

An empty cell leaves that field as it is on an existing course (and takes the default on a
new one); a column the file does not have is never touched.
"""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select

from backend.catalogue.bulk import (
    CourseWrite,
    find_or_create_competencies,
    links_of,
    write_courses,
)
from backend.catalogue.schemas import CompetencyCreate, CourseCreate
from backend.db.models import Course
from backend.imports.cells import CellError, parse_bool, parse_euros, schema_problems, split_names
from backend.imports.counts import BATCH, Counts, Progress
from backend.imports.reader import Problem
from backend.tenancy import OrgScope
from pwa.i18n import N_

COLUMNS = (
    "external_id",
    "title",
    "description",
    "provider",
    "format",
    "duration_minutes",
    "cost",
    "url",
    "xapi_activity_id",
    "competencies",
    "hot_skill",
    "job_family",
)
REQUIRED = ("external_id", "title")
# other names the same column goes by in exports
ALIASES = {
    "id": "external_id",
    "duration": "duration_minutes",
    "minutes": "duration_minutes",
    "cost_eur": "cost",
    "price": "cost",
    "competency": "competencies",
    "activity_id": "xapi_activity_id",
}
# schema field -> CSV column, where they differ
COLUMN_OF = {"cost_cents": "cost", "competency_ids": "competencies"}
FIELD_OF = {v: k for k, v in COLUMN_OF.items()}

TEMPLATE = (
    "external_id,title,description,provider,format,duration_minutes,cost,url,"
    "xapi_activity_id,competencies,hot_skill\r\n"
    'LMS-101,Feedback geven,"Feedback die landt: concreet, op tijd en vriendelijk.",'
    "Academie,elearning,45,0,https://lms.example.com/courses/101,"
    "https://lms.example.com/xapi/activities/101,Communicatie|Leiderschap,no\r\n"
    "LMS-102,Excel voor analisten,Draaitabellen en grafieken.,Data Academy,classroom,240,"
    '"149,50",https://lms.example.com/courses/102,,Data,yes\r\n'
)


@dataclass(frozen=True)
class CourseRow:
    row: int
    external_id: str
    data: CourseCreate
    given: frozenset[str]  # the schema fields this row gives (non-empty cells)
    competencies: list[str] | None  # names; None: leave a course's competencies as they are


def parse_row(row: int, cells: dict[str, str]) -> tuple[CourseRow | None, list[Problem]]:
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for column, cell in cells.items():
        if not cell:
            continue
        field = FIELD_OF.get(column, column)
        try:
            if column == "cost":
                values[field] = parse_euros(cell)
            elif column == "hot_skill":
                values[field] = parse_bool(cell)
            elif column == "format":
                values[field] = cell.lower()
            elif column == "competencies":
                continue
            else:
                values[field] = cell
        except CellError as exc:
            problems.append(Problem(row, column, str(exc)))
    names = split_names(cells.get("competencies", ""))
    for name in names:
        try:
            CompetencyCreate(name=name)
        except ValidationError:
            problems.append(
                Problem(
                    row,
                    "competencies",
                    N_("“%(name)s” is not a valid competency name (1 to 120 characters)."),
                    {"name": name[:40]},
                )
            )
            break
    # placeholders: the schema checks how many there may be; ids are found when importing
    values["competency_ids"] = list(range(1, len(names) + 1))
    if not cells.get("external_id"):
        problems.append(
            Problem(
                row,
                "external_id",
                N_("Every row needs an external_id: it is how a new import finds the course."),
            )
        )
    try:
        data = CourseCreate.model_validate(values)
    except ValidationError as exc:
        seen = {p.column for p in problems}
        problems += [p for p in schema_problems(row, exc, COLUMN_OF) if p.column not in seen]
        return None, problems
    if problems:
        return None, problems
    given = frozenset(values) - {"competency_ids"}
    return (
        CourseRow(
            row=row,
            external_id=cells["external_id"],
            data=data,
            given=given,
            competencies=names if "competencies" in cells and names else None,
        ),
        [],
    )


# --- against the database ------------------------------------------------------------------


def stored(row: CourseRow) -> dict[str, Any]:
    """The row's given fields as the course table stores them."""
    values = row.data.model_dump(include=set(row.given))
    if "url" in values:
        values["url"] = str(row.data.url) if row.data.url else None
    if "format" in values:
        values["format"] = row.data.format.value
    values["external_id"] = row.external_id
    return values


async def _existing(scope: OrgScope, external_ids: list[str]) -> dict[str, Course]:
    found: dict[str, Course] = {}
    for start in range(0, len(external_ids), 20_000):
        part = external_ids[start : start + 20_000]
        for course in await scope.all(
            scope.select(Course).where(col(Course.external_id).in_(part))
        ):
            found[course.external_id or ""] = course
    return found


async def check(scope: OrgScope, rows: list[CourseRow]) -> list[Problem]:
    """What the rows cannot do together or next to the catalogue: the same external_id or
    xAPI activity twice, or an activity another course already has."""
    problems: list[Problem] = []
    first_row: dict[str, int] = {}
    first_activity: dict[str, int] = {}
    for row in rows:
        key = row.external_id
        if key in first_row:
            problems.append(
                Problem(
                    row.row,
                    "external_id",
                    N_("“%(value)s” is also on row %(other)d; each course once."),
                    {"value": key[:60], "other": first_row[key]},
                )
            )
        first_row.setdefault(key, row.row)
        activity = row.data.xapi_activity_id
        if activity:
            if activity in first_activity:
                problems.append(
                    Problem(
                        row.row,
                        "xapi_activity_id",
                        N_("“%(value)s” is also on row %(other)d; each course once."),
                        {"value": activity[:60], "other": first_activity[activity]},
                    )
                )
            first_activity.setdefault(activity, row.row)
    if first_activity:
        taken = (
            await scope.session.exec(
                select(Course.xapi_activity_id, Course.external_id, Course.title).where(
                    scope.owns(Course), col(Course.xapi_activity_id).in_(list(first_activity))
                )
            )
        ).all()
        by_activity = {row.data.xapi_activity_id: row for row in rows}
        for activity, external_id, title in taken:
            claimed = by_activity.get(activity)
            if claimed is not None and claimed.external_id != external_id:
                problems.append(
                    Problem(
                        claimed.row,
                        "xapi_activity_id",
                        N_("The course “%(title)s” already has this xAPI activity id."),
                        {"title": title[:80]},
                    )
                )
    return problems


async def write(scope: OrgScope, rows: list[CourseRow], progress: Progress) -> Counts:
    """Create or update every row's course, in the caller's transaction."""
    counts = Counts()
    names = [name for row in rows for name in row.competencies or []]
    competency_ids, new_competencies = await find_or_create_competencies(scope, names)
    counts.extra["competencies"] = len(new_competencies)
    # read once, before anything is written (the file names each course once)
    existing = await _existing(scope, [row.external_id for row in rows])
    links = await links_of(scope, [c.id for c in existing.values() if c.id is not None])
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        writes: list[CourseWrite] = []
        for row in batch:
            values = stored(row)
            wanted = (
                [competency_ids[name.lower()] for name in row.competencies]
                if row.competencies is not None
                else None
            )
            course = existing.get(row.external_id)
            if course is None:
                writes.append(CourseWrite(None, values, wanted))
                counts.created += 1
                continue
            changed = {k: v for k, v in values.items() if getattr(course, k) != v}
            relink = wanted is not None and set(wanted) != links.get(course.id or 0, set())
            if changed or relink:
                writes.append(CourseWrite(course.id, changed, wanted if relink else None))
                counts.updated += 1
            else:
                counts.unchanged += 1
        await write_courses(scope, writes)
        await progress(start + len(batch))
    return counts
