"""Writing many courses at once: one statement per kind of write, whatever their number.

``write_courses`` inserts new courses and updates existing ones in the caller's transaction
(the caller records the audit entry and commits). A 10,000-row import takes a few
statements instead of tens of thousands of round trips (benchmarks/import_csv.py).
``find_or_create_competencies`` turns names into ids, creating the missing ones.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from backend.db.bulk import column_defaults, insert_rows, update_rows
from backend.db.models import Competency, Course, CourseCompetency
from backend.tenancy import OrgScope

COURSES = Course.__table__  # type: ignore[attr-defined]
LINKS = CourseCompetency.__table__  # type: ignore[attr-defined]
COMPETENCIES = Competency.__table__  # type: ignore[attr-defined]
CHUNK = 2000  # rows per statement: well under PostgreSQL's 32,767 bind parameters


@dataclass(frozen=True)
class CourseWrite:
    """One course to insert (``course_id`` None) or update.

    ``fields`` are stored values by column name (``url`` as text, ``format`` as its value);
    ``competency_ids`` None leaves a course's competencies as they are.
    """

    course_id: int | None
    fields: dict[str, Any]
    competency_ids: list[int] | None = None


def _chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def write_courses(scope: OrgScope, writes: Sequence[CourseWrite]) -> list[int]:
    """Insert and update these courses; returns their ids in the order given.

    Raises ``IntegrityError`` when an external_id or xapi_activity_id is taken.
    """
    conn = await scope.session.connection()
    org = scope.organisation_id
    ids: list[int | None] = [w.course_id for w in writes]
    new = [i for i, w in enumerate(writes) if w.course_id is None]
    defaults = column_defaults(Course) | {"organisation_id": org}
    for part in _chunks(new):
        rows = [defaults | writes[i].fields for i in part]
        result = await conn.execute(
            insert(COURSES).returning(COURSES.c.id, sort_by_parameter_order=True), rows
        )
        for i, new_id in zip(part, result.scalars().all(), strict=True):
            ids[i] = new_id
    # updates, grouped by the set of columns they change (an import's rows share one)
    # updates, grouped by the set of columns they change (an import's rows share one)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in writes:
        if w.course_id is not None and w.fields:
            groups.setdefault(tuple(sorted(w.fields)), []).append(w.fields | {"id": w.course_id})
    for names, values in groups.items():
        for part in _chunks(values):
            await update_rows(conn, COURSES, org, names, part)
    # competencies: the linked set becomes exactly the given one
    relinked = [
        (ids[i], w.competency_ids) for i, w in enumerate(writes) if w.competency_ids is not None
    ]
    if relinked:
        for part in _chunks([cid for cid, _ in relinked if cid is not None]):
            await conn.execute(
                delete(LINKS).where(
                    LINKS.c.organisation_id == org, LINKS.c.course_id.in_(list(part))
                )
            )
        links = [
            {"course_id": course_id, "competency_id": cid, "organisation_id": org}
            for course_id, wanted in relinked
            for cid in dict.fromkeys(wanted or [])
        ]
        for part in _chunks(links):
            await insert_rows(conn, LINKS, part)
    return [i for i in ids if i is not None]


async def find_or_create_competencies(
    scope: OrgScope, names: Sequence[str]
) -> tuple[dict[str, int], list[str]]:
    """Lower-cased name -> id for every name, and the names of the competencies created.

    Matching ignores case ("excel" finds "Excel"); a new competency keeps the name as given.
    """
    wanted = {name.lower(): name for name in names}
    if not wanted:
        return {}, []
    found = await _competency_ids(scope, list(wanted))
    missing = [wanted[key] for key in wanted if key not in found]
    if missing:
        org = scope.organisation_id
        await (await scope.session.connection()).execute(
            pg_insert(COMPETENCIES)
            .values([{"organisation_id": org, "name": n, "description": ""} for n in missing])
            .on_conflict_do_nothing()
        )
        found = await _competency_ids(scope, list(wanted))
    return found, missing


async def _competency_ids(scope: OrgScope, lowered: list[str]) -> dict[str, int]:
    rows = (
        await scope.session.exec(
            select(func.lower(Competency.name), Competency.id)
            .where(scope.owns(Competency), func.lower(Competency.name).in_(lowered))
            .order_by(col(Competency.id))
        )
    ).all()
    found: dict[str, int] = {}
    for name, ident in rows:
        if ident is not None:  # two names differing in case only: the oldest
            found.setdefault(name, ident)
    return found


async def links_of(scope: OrgScope, course_ids: Sequence[int]) -> dict[int, set[int]]:
    """course id -> the ids of its competencies."""
    found: dict[int, set[int]] = {cid: set() for cid in course_ids}
    for part in _chunks(list(course_ids), 20_000):
        rows = (
            await scope.session.exec(
                select(CourseCompetency.course_id, CourseCompetency.competency_id).where(
                    scope.owns(CourseCompetency), col(CourseCompetency.course_id).in_(list(part))
                )
            )
        ).all()
        for course_id, competency_id in rows:
            found[course_id].add(competency_id)
    return found
